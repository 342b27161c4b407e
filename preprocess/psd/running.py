"""The PSD of every stretch of a segment: one running estimator, and a fixed PSD alike.

``RunningPSD(data, method, span, placement)`` computes the short spectra of a segment ``(D, n)``
once, on a grid of starts fixed to the segment's start (every ``method.hop`` samples), and
``at(a, b)`` is the PSD of the samples ``[a, b)``: ``method``'s average of the spectra lying
wholly inside a span of ``span`` samples placed by ``span_bounds``. The method is the averaging
and its periodograms (``preprocess.psd.estimate``):

- ``WelchMedian(segment, sample_rate)``: Welch's median of Hann segments (the matched filter);
- ``TrainingAverage(whiten)``: the training estimator (gated median, or mean) of 2-s tapered
  windows every second (the network search: stream windows whitened as training samples were).

Where the span lies (``placement``): ``preceding`` (default) ends where the stretch ends, so an
estimate uses only data up to the end of what it whitens; ``centred`` is centred on the stretch
(an offline search that may look ahead). Near a segment's edges the span is shifted inside it,
and a segment shorter than the span is estimated whole. The median ignores the few spectra a
glitch or a signal fills, so neither whitens itself away. ``FixedPSD`` has the same interface
for one PSD (a file's, or a model's training PSD).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from preprocess.config import WhitenConfig
from preprocess.psd.config import PSDConfig
from preprocess.psd.estimate import (
    average_periodograms,
    sample_periodograms,
    welch_median,
    welch_periodograms,
)


class PSDMethod(Protocol):
    """How short spectra are made and averaged (see the module docstring)."""

    length: int  # samples per spectrum
    hop: int  # samples between spectra starts
    sample_rate: float  # Hz
    min_spectra: int  # a segment must hold at least this many

    @property
    def frequencies(self) -> np.ndarray: ...
    def scale(self, data: np.ndarray) -> np.ndarray | float: ...
    def spectra(self, scaled: np.ndarray) -> np.ndarray: ...
    def average(self, spectra: np.ndarray) -> np.ndarray: ...


def window_starts(n: int, length: int, hop: int) -> np.ndarray:
    """Sample offsets ``(W,)`` of the stretches of ``length`` samples every ``hop`` that lie
    wholly inside ``n`` samples."""
    if n < length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n - length + 1, hop, dtype=np.int64)


def span_bounds(a: int, b: int, n: int, width: int, placement: str) -> tuple[int, int]:
    """Samples ``[lo, hi)`` of a segment of ``n`` whose spectra estimate the PSD of the
    stretch ``[a, b)``: ``width`` samples (at most ``n``) ending at ``b`` (``preceding``) or
    centred on the stretch, shifted inside the segment."""
    width = min(width, n)
    lo = b - width if placement == "preceding" else (a + b - width) // 2
    lo = min(max(lo, 0), n - width)
    return lo, lo + width


@dataclass(frozen=True)
class WelchMedian:
    """Welch's median of Hann segments of ``segment`` s, 50% overlap (``estimate.py``)."""

    segment: float
    sample_rate: int
    min_spectra: int = 3  # two segments' length at least

    @property
    def length(self) -> int:
        return int(round(self.segment * self.sample_rate))

    @property
    def hop(self) -> int:
        return self.length // 2

    @property
    def frequencies(self) -> np.ndarray:
        return np.fft.rfftfreq(self.length, 1.0 / self.sample_rate)

    def scale(self, data: np.ndarray) -> np.ndarray:
        """Each detector's standard deviation ``(D, 1)``: float32 spectra of data at unit
        scale (strain^2 / Hz would underflow float32)."""
        scale = np.std(data, axis=-1, keepdims=True)
        scale[scale == 0] = 1.0
        return scale

    def spectra(self, scaled: np.ndarray) -> np.ndarray:
        return welch_periodograms(scaled, self.length, self.sample_rate)

    def average(self, spectra: np.ndarray) -> np.ndarray:
        return welch_median(spectra)


@dataclass(frozen=True)
class TrainingAverage:
    """The training estimator over 2-s tapered windows every ``hop`` s (``estimate.py``)."""

    whiten: WhitenConfig
    hop_seconds: float = 1.0
    min_spectra: int = 7  # 8 s at least

    @property
    def length(self) -> int:
        return self.whiten.n_time

    @property
    def hop(self) -> int:
        return int(round(self.hop_seconds * self.whiten.sample_rate))

    @property
    def frequencies(self) -> np.ndarray:
        return self.whiten.frequencies

    @property
    def sample_rate(self) -> float:
        return self.whiten.sample_rate

    def scale(self, data: np.ndarray) -> float:
        """``raw_scale``: the spectra are in the units the training's were."""
        return self.whiten.raw_scale

    def spectra(self, scaled: np.ndarray) -> np.ndarray:
        starts = window_starts(scaled.shape[-1], self.length, self.hop)
        parts = [sample_periodograms(np.stack([scaled[:, s : s + self.length]
                                               for s in starts[i : i + 256]]), self.whiten)
                 for i in range(0, len(starts), 256)]
        return np.concatenate(parts).astype(np.float32)  # (S, D, F)

    def average(self, spectra: np.ndarray) -> np.ndarray:
        return average_periodograms(spectra.astype(np.float64), self.whiten, quiet=True)


class RunningPSD:
    """``method``'s PSD of every stretch of one segment ``(D, n)`` (see the module doc)."""

    def __init__(self, data: np.ndarray, method: PSDMethod, span: int,
                 placement: str = "preceding"):
        self.method, self.span_samples, self.placement = method, span, placement
        self.n = data.shape[-1]
        self.starts = window_starts(self.n, method.length, method.hop)  # (S,)
        if len(self.starts) < method.min_spectra:
            needed = method.hop * (method.min_spectra - 1) + method.length
            raise ValueError(f"a segment of {self.n / method.sample_rate:g} s is too short for "
                             f"a running PSD of {method.length / method.sample_rate:g}-s "
                             f"spectra ({needed / method.sample_rate:g} s at least)")
        self._scale = method.scale(data)
        self.spectra = method.spectra(data / self._scale)  # (S, D, F) float32
        self._cache: tuple[tuple[int, int], np.ndarray] | None = None

    @classmethod
    def welch(cls, data: np.ndarray, config: PSDConfig, sample_rate: int) -> RunningPSD:
        """Welch's median of ``config.segment``-s segments over ``config.span`` s."""
        return cls(data, WelchMedian(config.segment, sample_rate),
                   int(round(config.span * sample_rate)), config.placement)

    @classmethod
    def training(cls, data: np.ndarray, config: PSDConfig, whiten: WhitenConfig) -> RunningPSD:
        """The training estimator of ``whiten`` over ``config.span`` s (2-s windows)."""
        return cls(data, TrainingAverage(whiten), int(round(config.span * whiten.sample_rate)),
                   config.placement)

    @property
    def frequencies(self) -> np.ndarray:
        """``(F,)`` Hz of ``at``'s bins."""
        return self.method.frequencies

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Samples ``[lo, hi)`` whose spectra estimate the PSD of the stretch ``[a, b)``."""
        return span_bounds(a, b, self.n, self.span_samples, self.placement)

    def at(self, a: int, b: int) -> np.ndarray:
        """One-sided PSD ``(D, F)`` float64 (data units^2/Hz) for the samples ``[a, b)``."""
        lo, hi = self.span(a, b)
        first = int(np.searchsorted(self.starts, lo, side="left"))
        last = int(np.searchsorted(self.starts, hi - self.method.length, side="right"))
        if self._cache is None or self._cache[0] != (first, last):
            psd = self.method.average(self.spectra[first:last]) * np.square(self._scale)
            self._cache = ((first, last), psd)
        return self._cache[1]


class FixedPSD:
    """One PSD ``(D, F)`` on ``frequencies`` ``(F,)`` for every stretch: ``RunningPSD``'s
    interface for a PSD file's or a model's training PSD."""

    def __init__(self, frequencies: np.ndarray, psd: np.ndarray):
        self._frequencies = np.asarray(frequencies, dtype=np.float64)
        self._psd = np.asarray(psd, dtype=np.float64)

    @property
    def frequencies(self) -> np.ndarray:
        return self._frequencies

    def at(self, a: int, b: int) -> np.ndarray:
        """The PSD ``(D, F)``, whatever the stretch."""
        return self._psd


def on_grid(frequencies: np.ndarray, psd: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``psd`` ``(D, F)`` on ``frequencies`` interpolated linearly onto ``target`` ``(F',)``;
    0 outside the source range (no noise model there: those bins are not used)."""
    if len(frequencies) == len(target) and np.array_equal(frequencies, target):
        return psd
    return np.stack([np.interp(target, frequencies, row, left=0.0, right=0.0) for row in psd])
