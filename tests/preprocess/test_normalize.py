"""Per-sample normalisation: images independent of a detector's noise level, chirps kept."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from preprocess.build import build_cache
from preprocess.cache import read_manifest
from preprocess.cli import main
from preprocess.config import BuildOptions, NormalizeConfig, WhitenConfig
from preprocess.dataset import SpectrogramCache
from preprocess.images import ImageMaker
from preprocess.layout import load_sample, read_split, sample_path
from preprocess.normalize import REFERENCE_SAMPLES, SampleLevel, normalizers
from preprocess.psd.estimate import estimate_psd
from preprocess.recipe import ImageRecipe
from preprocess.whiten import Whitener
from tests.tolerances import assert_float16_close, median_float16_step, standard_error

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
    # Equal but for float16 storage (2 steps: both roundings, relative float32 differences)
    # and the float32 whitening error, absolute: rfft rounding of the raw strain (rms(raw) *
    # rms(filter) ~ 150-500 x the whitened rms) leaves ~1e-4 of a typical pixel, below one
    # float16 step at the images' median magnitude (2**-11..2**-10 of it).
    assert_float16_close(copies, originals, steps=2, floor=median_float16_step(originals),
                         what=f"{method} images of scaled copies")


def test_without_normalisation_the_level_stays_in_the_image(scaled_layout, tmp_path):
    build_cache(scaled_layout, "train", tmp_path / "none", options=QUIET,
                normalize=NormalizeConfig(method="none"))
    originals, copies = _pairs(tmp_path / "none")
    for i in range(4):
        detector, factor = i % 3, SCALE if i % 2 == 0 else 1 / SCALE
        # away from 0, where the whitening's absolute float32 error (~1e-4 of a typical pixel)
        # is a sizeable part of the value
        inside = originals[i, detector] > 1e-2
        ratio = copies[i, detector][inside] / originals[i, detector][inside]
        # each float16 value is within 2**-11 of itself: a ratio within 2**-10 (+ float32)
        assert ratio.median() == pytest.approx(factor, rel=2e-3)
        others = [d for d in range(3) if d != detector]
        # the same bound as test_scaled_detector_gives_the_same_images: float16 storage plus
        # the whitening's float32 error, below one float16 step at the median magnitude
        assert_float16_close(copies[i, others], originals[i, others], steps=2,
                             floor=median_float16_step(originals), what="unscaled detectors")


def _computer(psd, method, whiten=WhitenConfig()):
    recipe = ImageRecipe(whiten=whiten, normalize=NormalizeConfig(method=method))
    return ImageMaker(recipe, psd, torch.device("cpu"))


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


@pytest.mark.parametrize("average", ["median", "mean"])
def test_nominal_noise_keeps_its_images(simulated_data, average):
    """Noise of the whitening PSD: sample-psd measures level 1 (2-s estimates: a few per cent
    off), and row-median images have the row medians of the unnormalised images (40-400 Hz),
    rows the band-pass removes staying near 0."""
    ids, noise = _noise(simulated_data)
    whiten = WhitenConfig(psd_average=average)
    psd = estimate_psd(list(noise), whiten)
    x = torch.from_numpy(noise / whiten.raw_scale).float()
    whitener = Whitener(psd, whiten)
    spectra = torch.fft.rfft(x * whitener.window, dim=-1) * whitener.filter  # (S, 3, F)
    sample_level = SampleLevel(NormalizeConfig(method="sample-psd"), whiten)
    level = sample_level.level(spectra)
    assert level.shape == (len(ids), 3, 1)
    # A level is the median of K periodogram bins over its expectation: sd 1 / (ln 2 sqrt(K)),
    # ~5 % for K ~ 940. Each sample is one of the S in the PSD: with the mean PSD a bin reads
    # S Beta(1, S - 1) times its mean, whose median biases the level to
    # S (1 - 2**(-1 / (S - 1))) / ln 2 (1.028); the median PSD moves by half a rank at most
    # with one sample, so the level stays 1 (to well under one sd).
    sd = 1 / (math.log(2) * math.sqrt(len(sample_level.index)))
    expected = (len(ids) * (1 - 0.5 ** (1 / (len(ids) - 1))) / math.log(2)
                if average == "mean" else 1.0)
    assert level.mean().item() == pytest.approx(expected, abs=5 * sd / math.sqrt(level.numel()))
    assert (level - expected).abs().max().item() < 5 * sd  # the worst of the S x 3 levels

    computer = _computer(psd, "row-median")
    rows = torch.from_numpy(computer(x, "test").astype(np.float32)).median(dim=-1).values
    plain = torch.from_numpy(_computer(psd, "none")(x, "test").astype(np.float32))
    plain = plain.median(dim=-1).values  # (S, 3, F)
    freqs = computer.cqt.frequencies
    in_band, rejected = (freqs > 40) & (freqs < 400), freqs > 800
    # Plain row medians over the reference (rows / plain: Jensen biases its mean up by the
    # scatter squared), within 5 standard errors: a row median scatters 5-20 % between samples,
    # the reference is itself a mean over REFERENCE_SAMPLES white-noise rows.
    ratio = (plain / rows)[..., in_band].flatten(0, 1)  # (S * 3, F_in)
    inflation = math.sqrt(1 + len(ratio) / REFERENCE_SAMPLES)  # the reference's own error
    per_image = ratio.mean(dim=-1)  # the rows of one image share its noise: one value each
    assert per_image.mean().item() == pytest.approx(
        1.0, abs=5 * inflation * float(standard_error(per_image)))
    per_row = torch.from_numpy(standard_error(ratio)).float()  # (F_in,)
    assert ((ratio.mean(dim=0) - 1).abs() < 5 * inflation * per_row).all()
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
