"""Constant-Q transform of whitened 3-detector samples with nnAudio's ``CQT1992v2``.

Defaults give ``(3, 69, 129)`` images: nnAudio takes ``n_bins = ceil(12 * log2(1024 / 20)) = 69``
when ``fmax`` is given, and ``center=True`` pads so that ``4096 / 32 + 1 = 129`` frames.
Kernels are L1-normalised (nnAudio ``norm=1``), so a sinusoid of amplitude ``A`` reads about
``A / 2`` in its bin; whitened noise then gives magnitudes of order 1 (well inside float16).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from nnAudio.features import CQT1992v2

from preprocess.layout import SAMPLE_RATE


@dataclass(frozen=True)
class CQTConfig:
    """nnAudio CQT parameters and the output scaling of the images."""

    sample_rate: float = SAMPLE_RATE  # Hz
    fmin: float = 20.0  # Hz, lowest bin; seismic noise dominates below
    fmax: float = 1024.0  # Hz, Nyquist; nnAudio derives n_bins from fmin, fmax, bins_per_octave
    bins_per_octave: int = 12  # 69 bins over 20-1024 Hz
    hop_length: int = 32  # samples; 129 frames of 15.6 ms for a 2-s sample
    filter_scale: float = 1.0  # nnAudio: >1 lengthens kernels (finer frequency resolution)
    norm: int = 1  # nnAudio kernel normalisation: 1 = L1 (amplitude-faithful), 2 = L2
    window: str = "hann"  # kernel window (scipy.signal.get_window name)
    center: bool = True  # pad so frame t is centred on sample t * hop_length
    pad_mode: str = "reflect"  # padding used when center=True
    scaling: str = "magnitude"  # "magnitude" |CQT|, or "log" = log1p(|CQT|) to tame loud signals

    def __post_init__(self) -> None:
        if self.scaling not in ("magnitude", "log"):
            raise ValueError(f"scaling must be 'magnitude' or 'log', got {self.scaling!r}")
        if not 0 < self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 < fmin < fmax <= Nyquist, got fmin={self.fmin}, fmax={self.fmax}"
            )
        if self.hop_length < 1 or self.bins_per_octave < 1:
            raise ValueError("hop_length and bins_per_octave must be >= 1")


class CQT(torch.nn.Module):
    """``(B, C, N)`` time series -> ``(B, C, F, T)`` CQT images, one nnAudio call for all rows."""

    def __init__(self, config: CQTConfig):
        super().__init__()
        self.config = config
        with warnings.catch_warnings():  # nnAudio warns that n_bins is derived from fmax
            warnings.simplefilter("ignore")
            self.transform = CQT1992v2(
                sr=config.sample_rate,
                hop_length=config.hop_length,
                fmin=config.fmin,
                fmax=config.fmax,
                bins_per_octave=config.bins_per_octave,
                filter_scale=config.filter_scale,
                norm=config.norm,
                window=config.window,
                center=config.center,
                pad_mode=config.pad_mode,
                output_format="Magnitude",
                verbose=False,
            )

    @property
    def n_bins(self) -> int:
        """Frequency bins F that nnAudio chose."""
        return int(self.transform.cqt_kernels_real.shape[0])

    def image_shape(self, n_channels: int, n_time: int) -> tuple[int, int, int]:
        """``(C, F, T)`` of the images made from ``(C, n_time)`` samples."""
        frames = (n_time // self.config.hop_length + 1 if self.config.center
                  else (n_time - self.transform.cqt_kernels_real.shape[-1])
                  // self.config.hop_length + 1)
        return (n_channels, self.n_bins, frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, n_time = x.shape
        images = self.transform(x.reshape(batch * channels, n_time))  # (B*C, F, T)
        if self.config.scaling == "log":
            images = torch.log1p(images)
        return images.reshape(batch, channels, *images.shape[-2:])
