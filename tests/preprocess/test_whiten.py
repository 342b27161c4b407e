"""PSD estimation, whitening and band-pass on simulated coloured noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal

from preprocess.config import WhitenConfig
from preprocess.layout import load_sample, read_labels, read_split, sample_path
from preprocess.psd.estimate import estimate_psd, masked_median, power_outliers
from preprocess.psd.estimate import sample_periodograms as periodograms
from preprocess.psd.read import read_psd
from preprocess.whiten import Whitener, bandpass_response, taper

BAND = (25.0, 480.0)  # Hz, inside the default 20-500 Hz band-pass


def _noise(root, split, labels):
    ids = labels["id"][labels["target"] == 0]
    return np.stack([load_sample(sample_path(root, split, i), i) for i in ids])  # (S, 3, N)


def _band_means(spectrum: np.ndarray, config: WhitenConfig, width: float = 16.0,
                band: tuple[float, float] = BAND) -> np.ndarray:
    """Mean of a ``(F,)`` spectrum in ``width``-Hz bands covering ``band``."""
    freqs = config.frequencies
    edges = np.arange(band[0], band[1], width)
    return np.array([spectrum[(freqs >= lo) & (freqs < lo + width)].mean() for lo in edges])


def test_estimated_psd_matches_simulation(simulated_data):
    config = WhitenConfig()
    noise = _noise(simulated_data, "train", read_split(simulated_data, "train"))
    psd = estimate_psd(noise, config)
    assert psd.shape == (3, len(config.frequencies))
    freqs, true_psd = read_psd(simulated_data)
    np.testing.assert_allclose(freqs, config.frequencies)
    # The estimate is the true PSD seen through the taper's leakage (the same leakage the
    # whitening sees): it matches where the PSD is smooth, away from the steep low-frequency
    # wall and V1's narrow lines near 440 Hz. 24 samples x 32 bins per band: ~4 % scatter.
    smooth = (60.0, 400.0)
    for detector in range(3):
        ratio = (_band_means(psd[detector], config, band=smooth)
                 / _band_means(true_psd[detector], config, band=smooth))
        assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    median = estimate_psd(noise, WhitenConfig(psd_average="median"))
    ratio = _band_means((median / psd).mean(axis=0), config)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio  # bias-corrected median ~ mean
    assert np.all(estimate_psd(noise, WhitenConfig(psd_max_samples=2)) == estimate_psd(
        noise[:2], config))


def test_whitened_noise_is_flat(simulated_data):
    """Test-split noise, whitened with the training PSD: flat to within 20 % over 25-480 Hz."""
    flat = WhitenConfig(bandpass_low=0, bandpass_high=0)  # whitening alone
    psd = estimate_psd(_noise(simulated_data, "train", read_split(simulated_data, "train")), flat)
    test_noise = _noise(simulated_data, "test", read_labels(simulated_data / "test_labels.csv"))
    whitened = Whitener(psd, flat)(torch.from_numpy(test_noise / flat.raw_scale).float())
    # whitened noise has E|rfft|^2 = sum(w^2) per bin, i.e. a periodogram of 2 / fs
    spectrum = periodograms(whitened.double().numpy(), WhitenConfig(taper_alpha=0.0))
    level = (spectrum * np.sum(taper(flat) ** 2) / len(taper(flat))).mean(axis=(0, 1))
    bands = _band_means(level * flat.sample_rate / 2, flat)
    assert np.all(np.abs(bands - 1.0) < 0.2), bands
    raw = _band_means(periodograms(test_noise, flat).mean(axis=(0, 1)), flat)
    assert raw.max() / raw.min() > 10  # the unwhitened spectrum is far from flat
    assert 0.3 < whitened.std() < 3.0  # O(1) for float16 downstream


def test_bandpass_matches_sosfiltfilt():
    config = WhitenConfig(whiten=False)
    response = bandpass_response(config)
    freqs = config.frequencies
    at = {f: response[np.searchsorted(freqs, f)] for f in (5.0, 20.0, 250.0, 500.0, 800.0)}
    assert at[250.0] == pytest.approx(1.0, abs=1e-3)
    assert at[20.0] == pytest.approx(0.5, abs=0.02) and at[500.0] == pytest.approx(0.5, abs=0.02)
    assert at[5.0] < 1e-6 and at[800.0] < 1e-6
    x = np.random.default_rng(0).normal(size=(1, 3, config.n_time))
    ours = Whitener(None, config)(torch.from_numpy(x).float()).double().numpy()
    sos = signal.butter(8, [20.0, 500.0], "bandpass", fs=config.sample_rate, output="sos")
    reference = signal.sosfiltfilt(sos, x * taper(config), axis=-1)
    middle = slice(1024, 3072)
    np.testing.assert_allclose(ours[..., middle], reference[..., middle], atol=1e-3 * np.abs(
        reference).max())


def test_config_checks():
    with pytest.raises(ValueError, match="psd_average"):
        WhitenConfig(psd_average="max")
    with pytest.raises(ValueError, match="empty"):
        WhitenConfig(bandpass_low=300, bandpass_high=200)
    with pytest.raises(ValueError, match="no noise-only"):
        estimate_psd([], WhitenConfig())
    with pytest.raises(ValueError, match="needs a PSD"):
        Whitener(None, WhitenConfig())


def test_one_loud_sample_cannot_move_the_psd(simulated_data, caplog):
    """A noise sample 100x too loud (plausible amplitude, absurd power) is left out of the
    average; ordinary level drifts (x0.5..x2 in power) stay in."""
    config = WhitenConfig()
    noise = _noise(simulated_data, "train", read_split(simulated_data, "train"))
    clean = estimate_psd(noise[1:], config)
    loud = noise.copy()
    loud[0, 1] *= 100.0
    np.testing.assert_array_equal(estimate_psd(loud, config), clean)
    assert any("left out 1 of" in r.getMessage() for r in caplog.records)
    drifting = noise * np.sqrt(np.linspace(0.5, 2.0, len(noise)))[:, None, None]
    assert not power_outliers(periodograms(drifting, config), config).any()
    with pytest.raises(ValueError, match="no usable noise-only samples"), np.errstate(all="ignore"):
        estimate_psd([np.full((3, 4096), 1e300)] * 3, config)  # every power infinite


@pytest.fixture(scope="module")
def glitchy_and_clean(tmp_path_factory):
    """Noise-only training data with glitches as the README's recipe for real noise makes them
    (one per sample, SNR 6-60), and clean noise of the same PSD: what a PSD is estimated
    from, and what it must whiten."""
    from preprocess.simulate import SimulationConfig, simulate

    root = tmp_path_factory.mktemp("glitchy")
    glitchy = simulate(SimulationConfig(n_train=256, n_test=0, seed=34, signal_fraction=0.0,
                                        glitch_rate=1.0), root / "glitchy", workers=1,
                       progress=False)
    clean = simulate(SimulationConfig(n_train=256, n_test=0, seed=32, signal_fraction=0.0),
                     root / "clean", workers=1, progress=False)
    return (_noise(glitchy, "train", read_split(glitchy, "train")),
            _noise(clean, "train", read_split(clean, "train")))


def _plain_mean(noise: np.ndarray, config: WhitenConfig) -> np.ndarray:
    """The PSD as gwspec estimated it before: the mean periodogram, whole-sample outliers out."""
    spectra = periodograms(noise / config.raw_scale, config)
    return spectra[~power_outliers(spectra, config)].mean(axis=0) * config.raw_scale**2


def _worst_band(ratio: np.ndarray, config: WhitenConfig) -> float:
    """Largest deviation from 1 of a ``(3, F)`` ratio's means in 20-Hz bands of 20-500 Hz."""
    return float(max(np.abs(_band_means(r, config, width=20.0, band=(20.0, 500.0)) - 1).max()
                     for r in ratio))


def test_the_default_psd_of_glitchy_noise_is_the_noise_psd(glitchy_and_clean):
    """From glitch-carrying noise the default estimate (glitch power gated out band by band,
    then the median) is within 10% of the noise PSD in every 20-Hz band of 20-500 Hz; the
    plain mean, inflated where glitches put power, is not. The noise PSD is what the same
    estimator gives on clean noise (the taper's leakage of the seismic wall included, as
    whitening sees it)."""
    glitchy, clean = glitchy_and_clean
    config = WhitenConfig()
    truth = estimate_psd(clean, config)
    # each 20-Hz band averages 40 bins of an estimate from 256 samples: ~2 % scatter on each
    # side, so 10 % leaves room for it and for the faint glitches under the gate
    assert _worst_band(estimate_psd(glitchy, config) / truth, config) < 0.10
    assert _worst_band(_plain_mean(glitchy, config) / truth, config) > 0.30


def test_clean_noise_whitened_by_the_default_estimate_is_white(glitchy_and_clean):
    """Clean noise whitened by the default PSD estimate of glitchy training noise gives the
    image row means (25-480 Hz) it gives whitened by its own PSD, within 5%: the network
    learns no tilt as "what noise looks like". Whitened by the plain mean they are 20-25%
    off. (Its own PSD is the reference, not ideal white noise: a steep spectrum seen through a
    tapered 2-s window is itself whitened only to ~10% at 25 Hz and ~3% above 40 Hz.)"""
    from preprocess.images import ImageMaker
    from preprocess.recipe import ImageRecipe

    training, samples = glitchy_and_clean
    config = WhitenConfig()
    x = torch.from_numpy(samples / config.raw_scale).float()

    def row_means(psd: np.ndarray) -> np.ndarray:
        computer = ImageMaker(ImageRecipe(whiten=config), psd, torch.device("cpu"))
        return computer(x, "clean").astype(np.float64).mean(axis=(0, 1, 3))  # (F,)

    frequencies = ImageMaker(ImageRecipe(whiten=WhitenConfig(whiten=False)), None,
                             torch.device("cpu")).cqt.frequencies
    inside = (frequencies > 25) & (frequencies < 480)
    own = row_means(estimate_psd(samples, config))[inside]
    # the same images through two PSD estimates: the rows' sampling scatter is shared, what
    # differs is the estimates' own ~2 % band scatter and what glitches left in them
    default = row_means(estimate_psd(training, config))[inside]
    assert np.abs(default / own - 1).max() < 0.05
    plain = row_means(_plain_mean(training, config))[inside]
    assert np.abs(plain / own - 1).max() > 0.15


@pytest.mark.parametrize("n", [1, 2, 7, 256])
def test_masked_median_is_nanmedian_to_the_bit(n: int) -> None:
    """The search's fast median equals numpy's over the kept values, odd and even counts, and
    is NaN where nothing is kept."""
    rng = np.random.default_rng(n)
    values = rng.exponential(size=(n, 3, 33))
    keep = rng.random(values.shape) > 0.3
    keep[:, 1, 4] = False
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):  # the all-NaN cell
        expected = np.nanmedian(np.where(keep, values, np.nan), axis=0)
    assert np.array_equal(masked_median(values, keep), expected, equal_nan=True)
    assert np.isnan(masked_median(values, keep)[1, 4])
