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
``torch.Generator`` on the batch's own device, so a seed and an epoch fix every augmentation
(per device type) and no draw is copied from the host: on a GPU a host-to-device copy of
ordinary memory waits for the GPU, and the CPU could not queue the next step's work.
Every transform returns its batch in the input's memory format (channels_last stays
channels_last), so the first convolution never converts the layout.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pipeline.training.config import AugmentConfig

H1, L1 = 0, 1  # channel index of each LIGO detector in (B, 3, F, T)


def check_ligo_pair(detectors: tuple[str, ...], what: str) -> None:
    """Refuse an H1 <-> L1 exchange (``what``: the option asking for it) on images whose first
    two channels are not H1 and L1."""
    if tuple(detectors[:2]) != ("H1", "L1"):
        raise ValueError(f"{what} exchanges the H1 and L1 images, but the cache holds "
                         f"{' '.join(detectors)}; turn it off for these detectors")


def swap_ligo(x: Tensor, prob: float, generator: torch.Generator) -> Tensor:
    """Exchange channels H1 and L1 of each sample with probability ``prob``; V1 is kept."""
    if x.ndim != 4 or x.shape[1] < 2:
        raise ValueError(f"expected (B, 3, F, T) detector images, got shape {tuple(x.shape)}")
    swap = (torch.rand(x.shape[0], generator=generator, device=x.device) < prob).view(-1, 1, 1)
    out = x.clone(memory_format=torch.preserve_format)
    out[:, H1] = torch.where(swap, x[:, L1], x[:, H1])  # (B, F, T) each
    out[:, L1] = torch.where(swap, x[:, H1], x[:, L1])
    return out


def time_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Roll each sample along time by an integer in [-max_shift, max_shift] (all channels alike)."""
    if max_shift <= 0:
        return x
    batch, _, _, n_time = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (batch,), generator=generator,
                          device=x.device)
    positions = torch.arange(n_time, device=x.device)
    source = (positions - shift.view(-1, 1)) % n_time  # (B, T): output t reads t - s
    index = source.view(batch, 1, 1, n_time).expand_as(x)
    return torch.gather(x, 3, index, out=torch.empty_like(x))  # empty_like keeps the format


def _band_mask(x: Tensor, axis: int, max_width: int, generator: torch.Generator) -> Tensor:
    """Set one random band (width 0..max_width) along ``axis`` of each sample to its mean."""
    if max_width <= 0:
        return x
    batch, size = x.shape[0], x.shape[axis]
    width = torch.randint(0, min(max_width, size) + 1, (batch,), generator=generator,
                          device=x.device)
    start = (torch.rand(batch, generator=generator, device=x.device)
             * (size - width + 1)).long()
    position = torch.arange(size, device=x.device).view(1, -1)
    band = (position >= start.view(-1, 1)) & (position < (start + width).view(-1, 1))  # (B, n)
    shape = [batch, 1, 1, 1]
    shape[axis] = size
    mean = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    return torch.where(band.view(shape), mean, x, out=torch.empty_like(x))


def time_mask(x: Tensor, max_width: int, generator: torch.Generator) -> Tensor:
    """Replace one band of up to ``max_width`` time bins per sample by the image mean."""
    return _band_mask(x, 3, max_width, generator)


def freq_mask(x: Tensor, max_width: int, generator: torch.Generator) -> Tensor:
    """Replace one band of up to ``max_width`` frequency bins per sample by the image mean."""
    return _band_mask(x, 2, max_width, generator)


class BatchAugment:
    """Apply the augmentations switched on in ``config`` to a batch (B, 3, F, T).

    ``reseed(seed)`` at the start of each epoch makes the draws reproducible (and resumable).
    Each device gets its own generator, made on first use and seeded alike.
    """

    def __init__(self, config: AugmentConfig, seed: int = 0):
        self.config = config
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def reseed(self, seed: int) -> None:
        """Restart the random streams from ``seed``."""
        self.seed = seed
        for generator in self._generators.values():
            generator.manual_seed(seed)

    def generator(self, device: torch.device) -> torch.Generator:
        """The random stream of ``device`` (created on it, so draws never cross devices)."""
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    @property
    def active(self) -> bool:
        """Whether any augmentation is switched on."""
        c = self.config
        return c.swap_ligo or c.time_shift or c.time_mask or c.freq_mask

    def __call__(self, x: Tensor) -> Tensor:
        c = self.config
        if not self.active:
            return x
        g = self.generator(x.device)
        if c.swap_ligo:
            x = swap_ligo(x, c.swap_prob, g)
        if c.time_shift:
            x = time_shift(x, c.max_time_shift, g)
        if c.time_mask:
            x = time_mask(x, c.time_mask_width, g)
        if c.freq_mask:
            x = freq_mask(x, c.freq_mask_width, g)
        return x
