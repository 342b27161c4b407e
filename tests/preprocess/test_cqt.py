"""nnAudio's CQTs as configured here: image shape, and agreement with librosa and each other."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch
from scipy.signal import chirp

from preprocess.config import ALGORITHMS, CQTConfig, WhitenConfig
from preprocess.cqt import CQT
from preprocess.layout import N_TIME, SAMPLE_RATE, load_sample, read_split, sample_path
from preprocess.psd.estimate import estimate_psd
from preprocess.whiten import Whitener


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of max-normalised magnitudes ``(F, T)``, 8 frames away from padded edges."""
    a, b = a[:, 8:-8], b[:, 8:-8]
    return float(np.corrcoef((a / a.max()).ravel(), (b / b.max()).ravel())[0, 1])


def _librosa(x: np.ndarray, n_bins: int) -> np.ndarray:
    return np.abs(librosa.cqt(x, sr=SAMPLE_RATE, hop_length=32, fmin=20.0, n_bins=n_bins,
                              bins_per_octave=12, norm=1, window="hann", pad_mode="reflect"))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_default_image_shape(algorithm):
    cqt = CQT(CQTConfig(algorithm=algorithm))
    assert cqt.n_bins == 69
    assert cqt.image_shape(3, N_TIME) == (3, 69, 129)
    images = cqt(torch.randn(2, 3, N_TIME))
    assert images.shape == (2, 3, 69, 129)
    assert torch.isfinite(images).all() and (images >= 0).all()


def test_chirp_agrees_with_librosa():
    t = np.arange(N_TIME) / SAMPLE_RATE
    x = chirp(t, f0=30, t1=2.0, f1=400, method="logarithmic").astype(np.float32)
    ours = CQT(CQTConfig())(torch.from_numpy(x)[None, None])[0, 0].numpy()  # (69, 129)
    # librosa refuses bins whose wavelets reach past Nyquist: compare the lowest 57 (20-507 Hz).
    n_bins = 57
    theirs = _librosa(x, n_bins)
    inner = slice(8, -8)  # frames away from the padded edges
    a, b = ours[:n_bins, inner], theirs[:, inner]
    correlation = np.corrcoef((a / a.max()).ravel(), (b / b.max()).ravel())[0, 1]
    assert correlation >= 0.98
    # the ridge follows the chirp: the loudest bin rises with time
    ridge = a.argmax(axis=0)
    assert ridge[-1] - ridge[0] > 30 and np.all(np.diff(ridge) >= -1)


@pytest.mark.parametrize(
    "options",
    [{}, {"fmin": 25.0, "fmax": 900.0, "bins_per_octave": 16, "hop_length": 16},
     {"filter_scale": 1.5, "window": "hamming", "norm": 2}],
)
def test_octave_kernels_equal_one_long_convolution(options):
    """Per-octave nnAudio instances drop only zero taps: the same bins and the same numbers."""
    one = CQT(CQTConfig(algorithm="1992v2", **options))
    octaves = CQT(CQTConfig(algorithm="1992v2-octaves", **options))
    assert len(octaves.transforms) == math.ceil(one.n_bins / octaves.config.bins_per_octave)
    widths = [t.cqt_kernels_real.shape[-1] for t in octaves.transforms]
    assert widths[0] == one.transforms[0].cqt_kernels_real.shape[-1]
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False))  # shorter each octave
    np.testing.assert_allclose(octaves.frequencies, one.frequencies, rtol=1e-12)
    x = torch.randn(2, 3, N_TIME)
    with torch.no_grad():
        expected, got = one(x), octaves(x)
    assert got.shape == expected.shape == (2, 3, *one.image_shape(3, N_TIME)[1:])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.max()))


def test_log_scaling_and_config_checks():
    x = torch.randn(1, 3, N_TIME)
    magnitude = CQT(CQTConfig())(x)
    logged = CQT(CQTConfig(scaling="log"))(x)
    torch.testing.assert_close(logged, torch.log1p(magnitude))
    with pytest.raises(ValueError, match="scaling"):
        CQTConfig(scaling="db")
    with pytest.raises(ValueError, match="fmin < fmax"):
        CQTConfig(fmin=600, fmax=500)
    with pytest.raises(ValueError, match="center"):
        CQTConfig(algorithm="1992v2-octaves", center=False)
    assert CQT(CQTConfig(algorithm="1992v2", center=False)).image_shape(3, N_TIME)[2] == 65


def test_cqt2010v2_agrees_with_librosa_and_1992v2(simulated_data):
    """Measured: chirp 0.989 against both; whitened simulated samples 0.94-0.98 against 1992v2."""
    t = np.arange(N_TIME) / SAMPLE_RATE
    x = chirp(t, f0=30, t1=2.0, f1=400, method="logarithmic").astype(np.float32)
    fast = CQT(CQTConfig(algorithm="2010v2"))
    slow = CQT(CQTConfig())
    with torch.no_grad():
        image = fast(torch.from_numpy(x)[None, None])[0, 0].numpy()  # (69, 129)
        reference = slow(torch.from_numpy(x)[None, None])[0, 0].numpy()
    assert _correlation(image[:57], _librosa(x, 57)) >= 0.97
    assert _correlation(image, reference) >= 0.97
    # same amplitude scale (nnAudio's librosa normalisation): peaks within 15 %
    assert abs(image.max() / reference.max() - 1) < 0.15

    ids = read_split(simulated_data, "train")["id"].tolist()
    raw = np.stack([load_sample(sample_path(simulated_data, "train", i)) for i in ids])
    whiten = WhitenConfig()
    noise = raw[read_split(simulated_data, "train")["target"].to_numpy() == 0]
    whitener = Whitener(estimate_psd(list(noise), whiten), whiten)
    with torch.no_grad():
        white = whitener(torch.from_numpy((raw[:6] / whiten.raw_scale).astype(np.float32)))
        fast_images, slow_images = fast(white).numpy(), slow(white).numpy()  # (6, 3, 69, 129)
    correlations = [_correlation(f, s) for f, s in
                    zip(fast_images.reshape(-1, 69, 129), slow_images.reshape(-1, 69, 129),
                        strict=True)]
    assert min(correlations) >= 0.90


def test_cqt2010v2_refuses_what_it_cannot_honour():
    with pytest.raises(ValueError, match="divisible"):
        CQTConfig(algorithm="2010v2", hop_length=48)
    with pytest.raises(ValueError, match="hann"):
        CQTConfig(algorithm="2010v2", window="hamming")
    with pytest.raises(ValueError, match="algorithm"):
        CQTConfig(algorithm="2010")
