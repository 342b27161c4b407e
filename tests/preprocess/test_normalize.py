"""Per-sample normalisation: images independent of a detector's noise level, chirps kept."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from preprocess.build import BuildOptions, _ShardComputer, build_cache
from preprocess.cache import read_manifest
from preprocess.cli import main
from preprocess.cqt import CQTConfig
from preprocess.dataset import SpectrogramCache
from preprocess.layout import load_sample, read_split, sample_path
from preprocess.normalize import NormalizeConfig, SampleLevel, normalizers
from preprocess.whiten import WhitenConfig, Whitener, estimate_psd

QUIET = BuildOptions(workers=0, progress=False, batch_size=8, shard_size=64, threads=1)
SCALE = math.sqrt(2.0)  # amplitude factor of a PSD (power) scaled by 2


def _noise(root, split="train", n=None):
    frame = read_split(root, split)
    ids = frame["id"][frame["target"] == 0].tolist()[:n]
    return ids, np.stack([load_sample(sample_path(root, split, i), i) for i in ids])


@pytest.fixture(scope="module")
def scaled_layout(simulated_data, tmp_path_factory):
    """Four real noise samples and their copies with one detector's power times 2 (or 1/2)."""
    root = tmp_path_factory.mktemp("scaled") / "data"
    _, noise = _noise(simulated_data, n=4)
    ids, arrays = [], []
    for i, sample in enumerate(noise):
        copy = sample.copy()
        copy[i % 3] *= SCALE if i % 2 == 0 else 1 / SCALE
        for prefix, array in (("a", sample), ("b", copy)):
            ids.append(f"{prefix}{i:09x}")
            arrays.append(array)
    for sample_id, array in zip(ids, arrays, strict=True):
        path = sample_path(root, "train", sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, array)
    pd.DataFrame({"id": ids, "target": 0}).to_csv(root / "training_labels.csv", index=False)
    return root


def _pairs(cache_dir):
    """Images ``(4, 3, F, T)`` of the originals and of their scaled copies."""
    cache = SpectrogramCache(cache_dir, in_memory=True)
    by_id = {sample_id: cache[i][0] for i, sample_id in enumerate(cache.ids)}
    originals = torch.stack([by_id[f"a{i:09x}"] for i in range(4)])
    copies = torch.stack([by_id[f"b{i:09x}"] for i in range(4)])
    return originals, copies


@pytest.mark.parametrize("method", ["row-median", "sample-psd"])
def test_scaled_detector_gives_the_same_images(scaled_layout, tmp_path, method):
    report = build_cache(scaled_layout, "train", tmp_path / method, options=QUIET,
                         normalize=NormalizeConfig(method=method))
    assert report.manifest.n_samples == 8
    originals, copies = _pairs(tmp_path / method)
    assert originals.abs().amax() > 1  # real images, not zeros
    # equal to float16 rounding: one float16 step is at most 2**-10 of the value
    torch.testing.assert_close(copies, originals, rtol=1e-3, atol=1e-4)


def test_without_normalisation_the_level_stays_in_the_image(scaled_layout, tmp_path):
    build_cache(scaled_layout, "train", tmp_path / "none", options=QUIET,
                normalize=NormalizeConfig(method="none"))
    originals, copies = _pairs(tmp_path / "none")
    for i in range(4):
        detector, factor = i % 3, SCALE if i % 2 == 0 else 1 / SCALE
        inside = originals[i, detector] > 1e-2  # away from float16's coarse near-zero steps
        ratio = copies[i, detector][inside] / originals[i, detector][inside]
        assert ratio.median() == pytest.approx(factor, rel=2e-3)
        others = [d for d in range(3) if d != detector]
        torch.testing.assert_close(copies[i, others], originals[i, others], rtol=1e-3, atol=1e-4)


def _computer(psd, method, whiten=WhitenConfig()):
    return _ShardComputer(psd, whiten, CQTConfig(), torch.device("cpu"),
                          NormalizeConfig(method=method))


def test_a_chirp_stays_visible(simulated_data):
    """A loud chirp over the last 0.4 s keeps its ridge, as bright against the noise as
    without normalisation: it fills too few time bins of a row to move the row's median."""
    _, noise = _noise(simulated_data)
    psd = estimate_psd(list(noise), WhitenConfig())
    t = np.arange(4096) / 2048.0
    inside = (t > 1.4) & (t < 1.8)
    phase = 2 * np.pi * (40.0 * (t - 1.4) + 0.5 * 500.0 * (t - 1.4) ** 2)  # 40 -> 240 Hz
    chirp = np.where(inside, np.sin(phase), 0.0) * 3 * noise[0, 0, 1024:3072].std()
    sample = noise[0].copy()
    sample[0] += chirp
    x = torch.from_numpy(sample[None] / 1e-20).float()
    plain = _computer(psd, "none")(x, "test")[0, 0].astype(np.float32)  # (F, T)
    rows = _computer(psd, "row-median")(x, "test")[0, 0].astype(np.float32)
    frames = slice(int(1.45 * 64), int(1.75 * 64))
    for image in (plain, rows):
        ridge = image[:, frames].argmax(axis=0)  # loudest row per frame rises with the chirp
        assert ridge[-1] - ridge[0] >= 12 and np.all(np.diff(ridge) >= -2)
    band = slice(10, 45)  # rows 20-170 Hz, all crossed by the chirp
    contrast = [image[band, frames].max(axis=1) / np.median(image[band], axis=1)
                for image in (plain, rows)]
    np.testing.assert_allclose(contrast[1], contrast[0], rtol=0.05)
    assert np.median(contrast[1]) > 5


def test_nominal_noise_keeps_its_images(simulated_data):
    """Noise of the whitening PSD: sample-psd measures level 1 (2-s estimates: a few per cent
    off), and row-median images have the row medians of the unnormalised images (40-400 Hz),
    rows the band-pass removes staying near 0."""
    ids, noise = _noise(simulated_data)
    whiten = WhitenConfig()
    psd = estimate_psd(list(noise), whiten)
    x = torch.from_numpy(noise / whiten.raw_scale).float()
    whitener = Whitener(psd, whiten)
    spectra = torch.fft.rfft(x * whitener.window, dim=-1) * whitener.filter  # (S, 3, F)
    level = SampleLevel(NormalizeConfig(method="sample-psd"), whiten).level(spectra)
    assert level.shape == (len(ids), 3, 1)
    assert level.mean().item() == pytest.approx(1.0, abs=0.05)
    assert (level - 1).abs().max().item() < 0.2

    computer = _computer(psd, "row-median")
    rows = torch.from_numpy(computer(x, "test").astype(np.float32)).median(dim=-1).values
    plain = torch.from_numpy(_computer(psd, "none")(x, "test").astype(np.float32))
    plain = plain.median(dim=-1).values  # (S, 3, F)
    freqs = computer.cqt.frequencies
    in_band, rejected = (freqs > 40) & (freqs < 400), freqs > 800
    ratio = (rows / plain)[..., in_band]
    assert ratio.mean().item() == pytest.approx(1.0, abs=0.03)
    assert (ratio.mean(dim=(0, 1)) - 1).abs().max().item() < 0.06  # per row, over samples
    assert rows[..., rejected].max() < 1e-2 * rows[..., in_band].min()


def test_cache_config_records_the_normalisation(tmp_path, scaled_layout):
    plain = build_cache(scaled_layout, "train", tmp_path / "none", options=QUIET,
                        normalize=NormalizeConfig(method="none"))
    default = build_cache(scaled_layout, "train", tmp_path / "default", options=QUIET)
    assert "normalize" not in plain.manifest.config  # as before the option existed
    assert default.manifest.config["normalize"] == {  # the default: sample-psd
        "method": "sample-psd", "level_band_low": 30.0, "level_band_high": 500.0}
    rows = build_cache(scaled_layout, "train", tmp_path / "rows", options=QUIET,
                       normalize=NormalizeConfig(method="row-median"))
    level = build_cache(scaled_layout, "train", tmp_path / "level", options=QUIET,
                        normalize=NormalizeConfig(method="sample-psd", level_band_low=40.0))
    assert rows.manifest.config["normalize"] == {"method": "row-median"}
    assert level.manifest.config["normalize"] == {
        "method": "sample-psd", "level_band_low": 40.0, "level_band_high": 500.0}
    hashes = {r.manifest.config_hash for r in (plain, rows, level)}
    assert len(hashes) == 3
    with pytest.raises(ValueError, match=r"normalize: cache has None, requested \{'method'"):
        build_cache(scaled_layout, "train", tmp_path / "none", options=QUIET,
                    normalize=NormalizeConfig(method="row-median"))
    with pytest.raises(ValueError, match="pass --normalize none to continue it"):
        build_cache(scaled_layout, "train", tmp_path / "none", options=QUIET)  # the default


def test_cli_normalize_option(scaled_layout, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["build-cqt", "--data", str(scaled_layout), "--split", "train", "--out", str(out),
            "--workers", "0", "--threads", "1", "--no-progress"]
    assert main([*argv, "--normalize", "sample-psd", "--level-band", "30", "400"]) == 0
    assert read_manifest(out).config["normalize"]["level_band_high"] == 400.0
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--normalize", "median"])
    assert caught.value.code == 2 and "invalid choice: 'median'" in capsys.readouterr().err
    assert main([*argv, "--normalize", "sample-psd", "--level-band", "400", "30"]) == 2
    assert "level band 400.0-30.0 Hz is empty" in capsys.readouterr().err


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="normalize must be one of none, row-median"):
        NormalizeConfig(method="psd")
    with pytest.raises(ValueError, match="level band"):
        NormalizeConfig(method="sample-psd", level_band_low=-1.0)
    narrow = WhitenConfig(bandpass_low=20.0, bandpass_high=100.0)
    with pytest.raises(ValueError, match="no frequency of the level band 300.0-500.0 Hz"):
        normalizers(NormalizeConfig("sample-psd", 300.0, 500.0), narrow, np.array([30.0]))
