"""Training images made anew from a mixing pool: a mix's image is build-cqt's image of the same
sum, its SNR is the one drawn, and a run trains from the pool and validates on the cache."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.training.config import MixConfig
from pipeline.training.mixing import Mix, draw_mix, draw_snr, mixed_strain, snr_bounds
from preprocess.build import build_cache
from preprocess.config import BuildOptions
from preprocess.images import ImageMaker
from preprocess.layout import read_psd, sample_path
from preprocess.pool import build_pool, read_pool
from preprocess.simulate import SimulationConfig, simulate
from preprocess.simulate.snr import optimal_snr
from tests.tolerances import assert_float16_close, median_float16_step

QUIET = BuildOptions(workers=0, progress=False, batch_size=16)


@pytest.fixture(scope="module")
def leveled(tmp_path_factory):
    """40 training samples of H1 L1 whose PSD level varies (0.5-2) per sample and detector,
    their cache and their pool."""
    root = tmp_path_factory.mktemp("mixing")
    data = simulate(SimulationConfig(n_train=40, n_test=0, detectors=("H1", "L1"), seed=9,
                                     psd_scale_min=0.5, psd_scale_max=2.0, glitch_rate=0.5),
                    root / "data", workers=1, progress=False)
    cache = build_cache(data, "train", root / "cache", options=QUIET).manifest
    pool = build_pool(data, "train", root / "pool.h5", progress=False)
    return data, cache, read_pool(pool)


def test_the_pool_holds_each_samples_noise_and_signal_apart(leveled) -> None:
    data, _, pool = leveled
    frame = pd.read_csv(data / "injections.csv", dtype={"id": str})
    row = int(pool.signal_of[0])
    sample_id = pool.ids[row]
    strain = np.load(sample_path(data, "train", sample_id)) / pool.raw_scale
    np.testing.assert_allclose(pool.noise[row] + pool.signal[0], strain, rtol=0, atol=1e-4)
    recorded = frame.set_index("id").loc[sample_id]
    assert pool.snr[0] == pytest.approx([recorded["snr_H1"], recorded["snr_L1"]])
    assert pool.scale[row] == pytest.approx([recorded["psd_scale_H1"],
                                             recorded["psd_scale_L1"]])


def test_a_mix_has_the_snr_drawn_against_its_noises_own_level(leveled) -> None:
    """The signal added to another sample's noise, at the drawn network SNR and detector
    sensitivities, has exactly that SNR per detector against that noise's PSD."""
    data, _, pool = leveled
    psd = read_psd(data)[1]  # (2, F) at level 1
    mix = Mix(noise=np.array([3, 7]), signal=np.array([0, 1]), snr=np.array([9.0, 12.0]),
              sensitivity=np.array([[1.0, 0.25], [0.5, 1.0]]))
    strain, snrs = mixed_strain(pool, mix)
    for b in range(2):
        added = (strain[b] - pool.noise[mix.noise[b]]).astype(np.float64) * pool.raw_scale
        level = pool.scale[mix.noise[b]][:, None]
        measured = optimal_snr(added, psd * level, 20.0)
        np.testing.assert_allclose(measured, snrs[b], rtol=2e-3)
        assert np.hypot(*snrs[b]) == pytest.approx(mix.snr[b], rel=1e-9)
        assert snrs[b][1] / snrs[b][0] == pytest.approx(
            (mix.sensitivity[b, 1] * pool.snr[mix.signal[b], 1]
             / np.sqrt(pool.scale[mix.noise[b], 1] / pool.scale[pool.signal_of[mix.signal[b]], 1]))
            / (mix.sensitivity[b, 0] * pool.snr[mix.signal[b], 0]
               / np.sqrt(pool.scale[mix.noise[b], 0]
                         / pool.scale[pool.signal_of[mix.signal[b]], 0])), rel=1e-9)


def test_a_mixs_images_are_build_cqts_images_of_the_same_sum(leveled, tmp_path) -> None:
    data, cache, pool = leveled
    rng = np.random.default_rng(1)
    mix = draw_mix(rng, np.arange(len(pool.ids)), np.arange(len(pool.signal)),
                   MixConfig(signal_fraction=0.75, detector_spread=4.0), 0, 6, 2)
    strain, _ = mixed_strain(pool, mix)
    maker = ImageMaker(cache.recipe, cache.psd, torch.device("cpu"))
    mine, _ = maker.make(torch.from_numpy(strain))
    folder = tmp_path / "sums"
    ids = [f"sum{b:03d}" for b in range(len(strain))]
    for sample_id, sample in zip(ids, strain, strict=True):
        path = sample_path(folder, "train", sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, sample.astype(np.float64) * pool.raw_scale)
    pd.DataFrame({"id": ids, "target": (mix.signal >= 0).astype(int)}).to_csv(
        folder / "training_labels.csv", index=False)
    (folder / "simulation.json").write_text(json.dumps({"detectors": ["H1", "L1"]}))
    built = build_cache(folder, "train", tmp_path / "cache", options=QUIET,
                        psd_from=cache.root).manifest
    from preprocess.dataset import SpectrogramCache

    stored = SpectrogramCache(built.root, dtype=torch.float32)
    for position, sample_id in enumerate(stored.ids):
        expected = stored[position][0].numpy()
        got = mine[ids.index(sample_id)].float().numpy()
        # one float16 rounding of float32 results each (the sum rounds to float32 once more)
        assert_float16_close(got, expected, steps=2, floor=median_float16_step(expected),
                             what=sample_id)


def test_snr_distributions() -> None:
    rng = np.random.default_rng(0)
    power = draw_snr(rng, MixConfig(snr="powerlaw", snr_min=4.0, snr_max=20.0,
                                    snr_index=3.0), 0, 20000)
    assert power.min() >= 4.0 and power.max() <= 20.0
    # density ~ snr^-3: the share below 8 is (4^-2 - 8^-2) / (4^-2 - 20^-2) = 0.78
    assert (power < 8).mean() == pytest.approx(0.78125, abs=0.01)
    curriculum = MixConfig(snr="curriculum", snr_min=2.0, snr_max=16.0, curriculum_epochs=2)
    assert snr_bounds(curriculum, 0) == (16.0, 16.0)
    assert snr_bounds(curriculum, 1) == (9.0, 16.0) and snr_bounds(curriculum, 5) == (2.0, 16.0)
    with pytest.raises(ValueError, match="mix snr range"):
        MixConfig(snr_min=8.0, snr_max=4.0).validate()
    with pytest.raises(ValueError, match="mix detector spread must be a finite number"):
        MixConfig(detector_spread=float("nan")).validate()


def test_a_run_trains_from_the_pool_and_validates_on_the_cache(leveled, tmp_path) -> None:
    from pipeline.training.loop import fit
    from tests.pipeline.training.test_loop import tiny_config

    data, cache, pool = leveled
    config = tiny_config(cache.root, tmp_path / "run", pool=str(pool.path), epochs=1,
                         augment=replace(tiny_config(cache.root, tmp_path).augment,
                                         swap_ligo=False),
                         mix=MixConfig(snr="powerlaw", snr_min=6.0, detector_spread=3.0))
    result = fit(config)
    assert (tmp_path / "run" / "best.pt").is_file() and len(result.history) == 1
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert saved["pool"] == str(pool.path) and saved["mix"]["snr"] == "powerlaw"
    other = simulate(SimulationConfig(n_train=8, n_test=0, detectors=("H1", "L1"), seed=10),
                     tmp_path / "other", workers=1, progress=False)
    build_pool(other, "train", tmp_path / "other.h5", progress=False)
    with pytest.raises(ValueError, match="other.h5: a pool of other simulated data"):
        fit(replace(config, pool=str(tmp_path / "other.h5"), out=str(tmp_path / "run2")))
