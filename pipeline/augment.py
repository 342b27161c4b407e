"""Batch augmentations for 3-detector spectrograms (B, 3, F, T), applied on the fly in torch.

Only transforms that keep the physics are offered. Channel order is ``preprocess.layout.DETECTORS``
(H1, L1, V1); frequency is axis 2, time axis 3.

- ``swap_ligo``: exchange the H1 and L1 images. The two LIGO detectors have similar noise and
  nearly (anti-)aligned arms, so a signal seen in one is as plausible in the other; Virgo stays.
- ``time_shift``: roll every image of a sample by the same few time bins. One shift for all three
  detectors keeps the inter-detector arrival delays, which carry the sky location.
- ``time_mask`` / ``freq_mask``: SpecAugment-style bands set to the image's mean, across all
  detectors (a short data gap, a narrow-band line).

Horizontal flips (time reversal turns a chirp into an anti-chirp) and colour jitter (mixes the
detectors' whitened amplitudes) are deliberately absent. Random draws come from an explicit
``torch.Generator`` (on the CPU), so a seed and an epoch fix every augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

H1, L1 = 0, 1  # channel index of each LIGO detector in (B, 3, F, T)


@dataclass
class AugmentConfig:
    """Which augmentations to apply to training batches, and how strongly."""

    swap_ligo: bool = True  # exchange H1 <-> L1 images
    swap_prob: float = 0.5  # probability of the swap per sample
    time_shift: bool = True  # roll along time, the same for all detectors
    max_time_shift: int = 4  # largest shift in time bins (4 of 129 bins ~ 62 ms)
    time_mask: bool = False  # mask one band of time bins per sample
    time_mask_width: int = 8  # largest masked band, time bins
    freq_mask: bool = False  # mask one band of frequency bins per sample
    freq_mask_width: int = 6  # largest masked band, frequency bins


def swap_ligo(x: Tensor, prob: float, generator: torch.Generator) -> Tensor:
    """Exchange channels H1 and L1 of each sample with probability ``prob``; V1 is kept."""
    if x.ndim != 4 or x.shape[1] < 2:
        raise ValueError(f"expected (B, 3, F, T) detector images, got shape {tuple(x.shape)}")
    swap = torch.rand(x.shape[0], generator=generator) < prob  # (B,)
    swap = swap.to(x.device).view(-1, 1, 1, 1)
    swapped = x[:, [L1, H1, *range(2, x.shape[1])]]
    return torch.where(swap, swapped, x)


def time_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Roll each sample along time by an integer in [-max_shift, max_shift] (all channels alike)."""
    if max_shift <= 0:
        return x
    batch, _, _, n_time = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (batch,), generator=generator)
    source = (torch.arange(n_time) - shift.view(-1, 1)) % n_time  # (B, T): output t reads t - s
    index = source.to(x.device).view(batch, 1, 1, n_time).expand_as(x)
    return torch.gather(x, 3, index)


def _band_mask(x: Tensor, axis: int, max_width: int, generator: torch.Generator) -> Tensor:
    """Set one random band (width 0..max_width) along ``axis`` of each sample to its mean."""
    if max_width <= 0:
        return x
    batch, size = x.shape[0], x.shape[axis]
    width = torch.randint(0, min(max_width, size) + 1, (batch,), generator=generator)
    start = (torch.rand(batch, generator=generator) * (size - width + 1)).long()
    position = torch.arange(size).view(1, -1)
    band = (position >= start.view(-1, 1)) & (position < (start + width).view(-1, 1))  # (B, n)
    shape = [batch, 1, 1, 1]
    shape[axis] = size
    band = band.to(x.device).view(shape)
    mean = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    return torch.where(band, mean, x)


def time_mask(x: Tensor, max_width: int, generator: torch.Generator) -> Tensor:
    """Replace one band of up to ``max_width`` time bins per sample by the image mean."""
    return _band_mask(x, 3, max_width, generator)


def freq_mask(x: Tensor, max_width: int, generator: torch.Generator) -> Tensor:
    """Replace one band of up to ``max_width`` frequency bins per sample by the image mean."""
    return _band_mask(x, 2, max_width, generator)


class BatchAugment:
    """Apply the augmentations switched on in ``config`` to a batch (B, 3, F, T).

    ``reseed(seed)`` at the start of each epoch makes the draws reproducible (and resumable).
    """

    def __init__(self, config: AugmentConfig, seed: int = 0):
        self.config = config
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the random stream from ``seed``."""
        self.generator.manual_seed(seed)

    @property
    def active(self) -> bool:
        """Whether any augmentation is switched on."""
        c = self.config
        return c.swap_ligo or c.time_shift or c.time_mask or c.freq_mask

    def __call__(self, x: Tensor) -> Tensor:
        c, g = self.config, self.generator
        if c.swap_ligo:
            x = swap_ligo(x, c.swap_prob, g)
        if c.time_shift:
            x = time_shift(x, c.max_time_shift, g)
        if c.time_mask:
            x = time_mask(x, c.time_mask_width, g)
        if c.freq_mask:
            x = freq_mask(x, c.freq_mask_width, g)
        return x
