"""The settings of ``build-cqt``: what shapes the images, and how the job runs.

Typed dataclasses only, free of heavy imports, so the command line reads its defaults at once
(``preprocess --help`` imports neither torch nor scipy). ``WhitenConfig``, ``CQTConfig`` and
``NormalizeConfig`` shape the pixels and enter every cache's configuration hash;
``BuildOptions`` only say how the job runs. The modules that act on them (``whiten``, ``cqt``,
``normalize``, ``build``) import them from here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from preprocess.layout import N_TIME, SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class WhitenConfig:
    """How raw strain becomes the time series that the CQT sees."""

    whiten: bool = True  # divide by the noise ASD; False keeps raw strain (scaled) for comparison
    psd_average: str = "median"  # "median" (bias-corrected by 1/ln 2) or "mean" of periodograms:
    # the median by measurement (noise with glitches: bench/robustness.py); the mean is
    # inflated wherever glitches put power, and noise whitened with it is not white
    psd_max_samples: int = 2000  # cap on the noise-only training samples averaged into the PSD
    psd_gate: bool = True  # leave glitch and signal power out of the average, band by band
    # (preprocess.whiten.excess_power_gate); False: every periodogram, as gwspec did before
    taper_alpha: float = 0.1  # Tukey fraction: 0.1 s cosine ramps at each end of a 2-s sample
    bandpass_low: float = 20.0  # Hz, high-pass corner (<= 0: none); CQT starts at 20 Hz too
    bandpass_high: float = 500.0  # Hz, low-pass corner (<= 0 or >= Nyquist: none); BBH power
    bandpass_order: int = 8  # Butterworth order; applied zero-phase, so the response is |H|^2
    raw_scale: float = 1e-20  # strain unit divided out on load, so float32/float16 never underflow
    sample_rate: float = SAMPLE_RATE  # Hz
    n_time: int = N_TIME  # samples per detector

    def __post_init__(self) -> None:
        if self.psd_average not in ("mean", "median"):
            raise ValueError(f"psd_average must be 'mean' or 'median', got {self.psd_average!r}")
        if not 0.0 <= self.taper_alpha <= 1.0:
            raise ValueError(f"taper_alpha must be in [0, 1], got {self.taper_alpha}")
        if self.psd_max_samples < 1 or self.raw_scale <= 0:
            raise ValueError("psd_max_samples must be >= 1 and raw_scale > 0")
        nyquist = self.sample_rate / 2
        if self.bandpass_low > 0 and 0 < self.bandpass_high < nyquist:
            if self.bandpass_low >= self.bandpass_high:
                raise ValueError(
                    f"band-pass {self.bandpass_low}-{self.bandpass_high} Hz is empty"
                )

    @property
    def frequencies(self) -> np.ndarray:
        """The rFFT frequency grid ``(n_time // 2 + 1,)`` in Hz, on which the PSD lives."""
        import numpy as np

        return np.fft.rfftfreq(self.n_time, 1.0 / self.sample_rate)


ALGORITHMS = ("1992v2-octaves", "1992v2", "2010v2")  # nnAudio CQT class (no "CQT" prefix)


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
    algorithm: str = "1992v2-octaves"  # CQT1992v2 per octave (same numbers as one, faster),
    # "1992v2" (one CQT1992v2, all kernels 2048 taps) or "2010v2" (octaves by downsampling)

    @property
    def n_bins(self) -> int:
        """Frequency bins F: ``ceil(bins_per_octave * log2(fmax / fmin))``, as nnAudio derives."""
        return math.ceil(self.bins_per_octave * math.log2(self.fmax / self.fmin))

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.scaling not in ("magnitude", "log"):
            raise ValueError(f"scaling must be 'magnitude' or 'log', got {self.scaling!r}")
        if not 0 < self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 < fmin < fmax <= Nyquist, got fmin={self.fmin}, fmax={self.fmax}"
            )
        if self.hop_length < 1 or self.bins_per_octave < 1:
            raise ValueError("hop_length and bins_per_octave must be >= 1")
        if self.algorithm == "2010v2":
            self._check_2010v2()
        if self.algorithm == "1992v2-octaves" and not self.center:
            raise ValueError("algorithm 1992v2-octaves needs centred frames (center=True): "
                             "uncentred frames depend on each octave's kernel length")

    def _check_2010v2(self) -> None:
        """Settings ``CQT2010v2`` cannot honour (it would ignore or misalign them silently)."""
        octaves = math.ceil(self.n_bins / self.bins_per_octave)
        if self.hop_length % 2 ** (octaves - 1):
            raise ValueError(f"algorithm 2010v2 needs hop_length divisible by 2**{octaves - 1} "
                             f"for {octaves} octaves, got {self.hop_length}")
        if self.window != "hann" or not self.center:
            raise ValueError("algorithm 2010v2 always uses hann kernels and centred frames")


NORMALIZATIONS = ("none", "row-median", "sample-psd")


@dataclass(frozen=True)
class NormalizeConfig:
    """Which per-sample normalisation ``build-cqt`` applies (see the module docstring)."""

    method: str = "sample-psd"  # "none", "row-median" or "sample-psd" (chosen by
    # bench/robustness.py: as good as none on stationary noise, unmoved by a detector's level)
    level_band_low: float = 30.0  # Hz, sample-psd: band whose median power measures the level
    level_band_high: float = 500.0  # Hz; bins the band-pass cuts below MIN_RESPONSE are left out

    def __post_init__(self) -> None:
        if self.method not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, "
                             f"got {self.method!r}")
        if not 0 <= self.level_band_low < self.level_band_high:
            raise ValueError(f"level band {self.level_band_low}-{self.level_band_high} Hz is "
                             "empty")

    def record(self) -> dict[str, Any] | None:
        """The settings that shape the pixels, for the cache config; None for ``none``, so a
        cache built without normalisation keeps the configuration (and hash) it always had."""
        if self.method == "none":
            return None
        if self.method == "row-median":
            return {"method": self.method}
        return asdict(self)


@dataclass(frozen=True)
class BuildOptions:
    """How the job runs (none of these change the images, so none enter the config hash)."""

    device: str = "auto"  # "auto" (cuda:LOCAL_RANK when available), "cpu" or "cuda[:n]"
    batch_size: int | None = None  # samples per CQT call; None: 64 on a CPU (one HDF5 chunk),
    # 256 on a GPU, where a 64-sample call leaves it idle between launches
    workers: int | None = None  # DataLoader processes reading .npy files; None: 1 on a CPU
    # (one keeps up with the CPU's CQT), min(8, cores) on a GPU (it outpaces one reader ~10x)
    threads: int = 0  # torch intra-op threads for whitening + CQT (0: torch's, one per core);
    # on 2 cores 2 threads beat 1 with the per-octave CQT (bench/cqt_throughput.py)
    shard_size: int = 4096  # samples per shard file (~220 MB of float16 3x69x129 images)
    skip_bad: bool = False  # record bad samples in the manifest and go on, instead of stopping
    rank: int = 0  # this process's rank; builds shards k with k % world_size == rank
    world_size: int = 1  # number of processes building the same cache
    progress: bool = True  # tqdm bar with samples per second

    def for_device(self, device_type: str) -> BuildOptions:
        """A copy with the automatic batch size and reader count chosen for ``device_type``."""
        import os
        from dataclasses import replace

        cuda = device_type == "cuda"
        batch = self.batch_size if self.batch_size is not None else (256 if cuda else 64)
        workers = self.workers if self.workers is not None else (
            min(8, os.cpu_count() or 1) if cuda else 1)
        return replace(self, batch_size=batch, workers=workers)
