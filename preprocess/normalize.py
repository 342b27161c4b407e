"""Per-sample normalisation: images that do not depend on each detector's own noise level.

``build-cqt`` whitens every sample with one average PSD of the training noise, so a detector
whose noise is twice as loud (in power) gives an image ``sqrt(2)`` times brighter everywhere,
which a network trained on stationary noise reads as signal. Each method below divides out a
robust per-sample estimate of the noise, so that multiplying one detector's strain by any
factor leaves the images unchanged (to float rounding); a chirp, which fills few time bins of
each frequency row and few frequency bins of the spectrum, barely moves either estimate.

- ``none``: the images as whitened with the training PSD (the level stays in the image).
- ``row-median``: divide each (detector, frequency row) of the ``|CQT|`` image by the median of
  that row over time, then multiply by the row's median for noise of the whitening PSD (the
  ``reference_rows`` of white unit noise through the same taper, band-pass and CQT): noise at
  the training level gives the images it gives without normalisation, rows the band-pass
  removes stay near 0, and the level *and* the slope of each detector's spectrum drop out:

      images (B, 3, F, T) -> images / median_T(images) (B, 3, F, 1) * reference (F, 1)

- ``sample-psd``: before the CQT, divide each detector's whitened series by the square root of
  its level: the median over ``level_band`` of ``|rfft(taper x) / ASD|^2``, divided by its
  expectation for noise of the whitening PSD (``ln 2 * sum(taper^2)``: a periodogram bin is
  exponential, its median ``ln 2`` times its mean). It follows the level, not the slope:

      spectrum (B, 3, F_rfft) -> spectrum / sqrt(level) (B, 3, 1)

Both are computed in torch on the build device; ``log`` scaling is applied after them.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import torch
from torch import Tensor

from preprocess.config import NormalizeConfig, WhitenConfig
from preprocess.cqt import CQT
from preprocess.whiten import Whitener, bandpass_response, taper

MIN_RESPONSE = 0.1  # sample-psd uses only bins where the band-pass keeps >= this of the power
REFERENCE_SAMPLES = 256  # white-noise rows averaged into the row-median reference (<1% off)


class RowMedian(torch.nn.Module):
    """``(B, C, F, T)`` magnitudes -> each row divided by its median over time, times
    ``reference`` ``(F,)``."""

    def __init__(self, reference: np.ndarray):
        super().__init__()
        self.register_buffer("reference", torch.as_tensor(reference, dtype=torch.float32)
                             .view(-1, 1))  # (F, 1)

    def forward(self, images: Tensor) -> Tensor:
        median = images.median(dim=-1, keepdim=True).values  # (B, C, F, 1)
        return images * self.reference / torch.where(median > 0, median, torch.ones_like(median))


class SampleLevel(torch.nn.Module):
    """``(B, C, F_rfft)`` whitened, band-passed spectra -> the same divided by each row's level.

    The band-pass is undone on the bins used (``|X filter / response|^2 = |X / ASD|^2``), so the
    level of noise of the whitening PSD is 1 whatever the band-pass.
    """

    def __init__(self, config: NormalizeConfig, whiten: WhitenConfig):
        super().__init__()
        freqs, response = whiten.frequencies, bandpass_response(whiten)
        band = ((freqs >= config.level_band_low) & (freqs <= config.level_band_high)
                & (response >= MIN_RESPONSE))
        if not band.any():
            raise ValueError(f"no frequency of the level band {config.level_band_low}-"
                             f"{config.level_band_high} Hz passes the band-pass")
        self.register_buffer("index", torch.from_numpy(np.flatnonzero(band)))  # (K,)
        self.register_buffer("gain", torch.from_numpy(1.0 / response[band]).float())  # (K,)
        self.expected = math.log(2.0) * float(np.sum(taper(whiten) ** 2))

    def level(self, spectrum: Tensor) -> Tensor:
        """Noise level ``(B, C, 1)`` of each row, 1 for noise of the whitening PSD."""
        power = (spectrum[..., self.index].abs() * self.gain) ** 2  # (B, C, K)
        return power.median(dim=-1, keepdim=True).values / self.expected

    def forward(self, spectrum: Tensor) -> Tensor:
        level = self.level(spectrum)
        return spectrum / torch.where(level > 0, level, torch.ones_like(level)).sqrt()


@torch.no_grad()
def reference_rows(cqt: CQT, whiten: WhitenConfig) -> np.ndarray:
    """Median over time of each ``|CQT|`` row ``(F,)`` of whitened noise at the nominal level.

    Whitened noise is white with unit variance, so this is white unit noise (a fixed seed and
    a CQT of ``cqt.config`` on the CPU: the same numbers for every rank and device) tapered,
    band-passed and transformed.
    """
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(REFERENCE_SAMPLES, 1, whiten.n_time, generator=generator)
    bandpass = Whitener(None, WhitenConfig(**{**asdict(whiten), "whiten": False}))
    images = CQT(cqt.config).magnitudes(bandpass(noise)[:, :1])  # (S, 1, F, T)
    return images.median(dim=-1).values.mean(dim=0)[0].double().numpy()


def normalizers(
    config: NormalizeConfig, whiten: WhitenConfig, cqt: CQT
) -> tuple[torch.nn.Module | None, torch.nn.Module]:
    """``(spectrum step for the Whitener or None, image step on |CQT| magnitudes)``."""
    if config.method == "sample-psd":
        return SampleLevel(config, whiten), torch.nn.Identity()
    if config.method == "row-median":
        return None, RowMedian(reference_rows(cqt, whiten))
    return None, torch.nn.Identity()
