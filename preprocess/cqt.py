"""Constant-Q transform of whitened 3-detector samples: nnAudio ``CQT1992v2`` or ``CQT2010v2``.

Defaults give ``(3, 69, 129)`` images: ``n_bins = ceil(12 * log2(1024 / 20)) = 69`` and centred
frames give ``4096 / 32 + 1 = 129`` frames. Every algorithm uses L1-normalised hann kernels and
nnAudio's "librosa" output normalisation (times the square root of each kernel's length), so a
sinusoid of amplitude ``A`` reads about ``A * sqrt(length) / 2`` in its bin (15 at 40 Hz, 3 at
950 Hz for ``A = 1``) and whitened noise gives magnitudes of order 1-10 (well inside float16).

* ``1992v2`` convolves the signal once with all 69 kernels zero-padded to the longest (2048
  taps): about 110 M multiply-adds per sample, compute-bound on a CPU, fast on a GPU.
* ``1992v2-octaves`` (the default) gives the same numbers (tested: equal to float rounding)
  with one nnAudio ``CQT1992v2`` per octave of bins. nnAudio pads every kernel to a power of
  two above the longest one it holds, and centres each kernel in its buffer, so an octave's own
  instance needs 2048, 1024, ... 64 taps instead of 2048 for all: the taps dropped are zeros
  and frame ``t`` still centres on sample ``t * hop``. That is ~2.9 times fewer multiply-adds
  (measured on a 2-core CPU: the CQT 2x faster, ``build-cqt`` 1.4-1.7x end to end); on a
  GPU it launches six small convolutions per batch.
* ``2010v2`` computes the top octave with 64-tap kernels and halves the sample rate (256-tap
  anti-alias filter) for each lower octave: about 20 times fewer multiply-adds, but on a CPU
  nnAudio's single-channel 256-tap anti-alias convolution takes ~80 % of its time, so measured
  it runs no faster than ``1992v2`` there (0.4-0.9x alone, 0.6-0.9x end to end).
  It needs ``hop_length`` divisible by ``2 ** (octaves - 1)`` (32 for 6 octaves), always
  centres frames and always uses hann kernels. Its max-normalised magnitudes correlate with
  ``1992v2``'s (and librosa's) at 0.989 on a chirp and 0.94-0.98 on whitened simulated samples
  (``1992v2`` against librosa: 0.98-1.0), see ``tests/preprocess/test_cqt.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from nnAudio.features import CQT1992v2, CQT2010v2

from preprocess.config import CQTConfig


class CQT(torch.nn.Module):
    """``(B, C, N)`` time series -> ``(B, C, F, T)`` CQT images, nnAudio calls over all rows."""

    def __init__(self, config: CQTConfig):
        super().__init__()
        self.config = config
        with warnings.catch_warnings():  # nnAudio warns that n_bins is derived from fmax
            warnings.simplefilter("ignore")
            self.transforms = torch.nn.ModuleList(_nnaudio_transforms(config))

    @property
    def frequencies(self) -> np.ndarray:
        """Centre frequency (Hz) of each of the F bins, lowest first."""
        return np.concatenate([t.frequencies for t in self.transforms])

    @property
    def n_bins(self) -> int:
        """Frequency bins F that nnAudio chose."""
        return len(self.frequencies)

    def image_shape(self, n_channels: int, n_time: int) -> tuple[int, int, int]:
        """``(C, F, T)`` of the images made from ``(C, n_time)`` samples."""
        frames = (n_time // self.config.hop_length + 1 if self.config.center
                  else (n_time - self.transforms[0].cqt_kernels_real.shape[-1])
                  // self.config.hop_length + 1)  # only 1992v2 allows center=False
        return (n_channels, self.n_bins, frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(self.magnitudes(x))

    def magnitudes(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, N)`` -> ``|CQT|`` ``(B, C, F, T)``, before the output scaling."""
        batch, channels, n_time = x.shape
        rows = x.reshape(batch * channels, n_time)
        parts = [transform(rows) for transform in self.transforms]  # each (B*C, F_k, T)
        images = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return images.reshape(batch, channels, *images.shape[-2:])

    def scale(self, images: torch.Tensor) -> torch.Tensor:
        """The output scaling of ``config.scaling`` applied to magnitudes ``(B, C, F, T)``."""
        return torch.log1p(images) if self.config.scaling == "log" else images


def _nnaudio_transforms(config: CQTConfig) -> list[torch.nn.Module]:
    """The nnAudio modules for ``config.algorithm``, each returning magnitudes
    ``(rows, F_k, T)`` for consecutive blocks of bins (one block unless per octave)."""
    common = dict(sr=config.sample_rate, hop_length=config.hop_length,
                  bins_per_octave=config.bins_per_octave, filter_scale=config.filter_scale,
                  pad_mode=config.pad_mode, output_format="Magnitude", verbose=False)
    if config.algorithm == "2010v2":  # ignores fmax: give it the bin count 1992v2 derives
        return [CQT2010v2(fmin=config.fmin, n_bins=config.n_bins, basis_norm=config.norm,
                          earlydownsample=True, **common)]
    common.update(norm=config.norm, window=config.window, center=config.center)
    if config.algorithm == "1992v2":
        return [CQT1992v2(fmin=config.fmin, fmax=config.fmax, **common)]
    step = config.bins_per_octave  # 1992v2-octaves: bin k of octave o is bin 12 o + k of all
    return [
        CQT1992v2(fmin=config.fmin * 2.0 ** (first / step),
                  n_bins=min(step, config.n_bins - first), **common)
        for first in range(0, config.n_bins, step)
    ]
