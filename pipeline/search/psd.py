"""The noise PSD a search whitens each stretch of data with: a running median-Welch estimate.

``RunningPSD`` computes the Welch periodograms of a segment once (Hann windows of
``segment`` s, 50% overlap, mean removed, one-sided, data units^2/Hz), on a grid fixed to the
segment's start; ``at(a, b)`` is the PSD for the stretch of samples ``[a, b)``: the median,
bin by bin, of the periodograms lying wholly inside a span of ``span`` s, divided by the
median's expectation for exponentially distributed power (the series ``1 - 1/2 + 1/3 - ...``
to n terms for n periodograms, the bias correction PyCBC and scipy apply). The median ignores
the few periodograms a glitch or a signal fills, so neither whitens itself away.

Where the span lies (``placement``):

- ``preceding`` (default): it ends where the stretch ends, so an estimate uses only data up to
  the end of what it whitens (a 2-s window is whitened by the 254 s before it and itself; a
  search block by its own data and the time before);
- ``centred``: it is centred on the stretch (an offline search that may look ahead).

Near a segment's start (or end) the span is shifted to lie inside the segment, and a segment
shorter than the span is estimated whole. ``FixedPSD`` has the same interface for a PSD read
from a file (``--psd FILE``). Both are shared by the matched-filter search and the network
search, so both whiten the same data the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.signal.windows import hann

from pipeline.search.config import PSDConfig


def median_bias(n: int) -> float:
    """Expected median of ``n`` unit-mean exponential values (``ln 2`` as n grows)."""
    k = np.arange(1, n + 1)
    return float(np.sum((-1.0) ** (k + 1) / k))


def welch_periodograms(data: np.ndarray, length: int, sample_rate: int) -> np.ndarray:
    """One-sided Hann periodograms ``(D, S, length // 2 + 1)`` float32 of ``data`` ``(D, n)`` at
    starts ``0, length/2, ...`` (segments wholly inside the data), data units^2/Hz."""
    window = hann(length, sym=False)
    stride = length // 2
    starts = np.arange(0, data.shape[-1] - length + 1, stride)
    out = np.empty((data.shape[0], len(starts), length // 2 + 1), dtype=np.float32)
    scale = 2.0 / (sample_rate * np.sum(window**2))
    for lo in range(0, len(starts), 64):  # (D, 64, length) at a time
        index = starts[lo : lo + 64, None] + np.arange(length)
        pieces = data[:, index]
        pieces = (pieces - pieces.mean(axis=-1, keepdims=True)) * window
        out[:, lo : lo + 64] = np.abs(np.fft.rfft(pieces, axis=-1)) ** 2 * scale
    out[..., 0] /= 2  # DC and Nyquist are not doubled in a one-sided spectrum
    out[..., -1] /= 2
    return out


class RunningPSD:
    """Median-Welch PSD of every stretch of one segment ``(D, n)`` (see the module doc)."""

    def __init__(self, data: np.ndarray, config: PSDConfig, sample_rate: int):
        self.config, self.sample_rate = config, sample_rate
        self.n = data.shape[-1]
        self.length = int(round(config.segment * sample_rate))
        self.span_samples = int(round(config.span * sample_rate))
        if self.n < 2 * self.length:
            raise ValueError(f"a segment of {self.n / sample_rate:g} s is too short for a PSD "
                             f"of {config.segment:g}-s Welch segments")
        # float32 periodograms of data at unit scale (strain^2 / Hz would underflow float32)
        self.scale = np.std(data, axis=-1, keepdims=True)  # (D, 1)
        self.scale[self.scale == 0] = 1.0
        self.periodograms = welch_periodograms(data / self.scale, self.length,
                                               sample_rate)  # (D, S, F)
        self.starts = np.arange(self.periodograms.shape[1]) * (self.length // 2)  # (S,)
        self._cache: tuple[tuple[int, int], np.ndarray] | None = None

    @property
    def frequencies(self) -> np.ndarray:
        """``(F,)`` Hz of ``at``'s bins."""
        return np.fft.rfftfreq(self.length, 1.0 / self.sample_rate)

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Samples ``[lo, hi)`` whose periodograms estimate the PSD of the stretch ``[a, b)``."""
        width = min(self.span_samples, self.n)
        if self.config.placement == "preceding":
            lo = b - width
        else:
            lo = (a + b) // 2 - width // 2
        lo = min(max(lo, 0), self.n - width)
        return lo, lo + width

    def at(self, a: int, b: int) -> np.ndarray:
        """One-sided PSD ``(D, F)`` float64 for the samples ``[a, b)`` of the segment."""
        lo, hi = self.span(a, b)
        first = int(np.searchsorted(self.starts, lo, side="left"))
        last = int(np.searchsorted(self.starts, hi - self.length, side="right"))
        if self._cache is not None and self._cache[0] == (first, last):
            return self._cache[1]
        chosen = self.periodograms[:, first:last]  # (D, n, F)
        psd = np.median(chosen, axis=1).astype(np.float64) / median_bias(chosen.shape[1])
        psd *= self.scale**2
        self._cache = ((first, last), psd)
        return psd


class FixedPSD:
    """One PSD for every stretch, read from a file: the ``RunningPSD`` interface."""

    def __init__(self, frequencies: np.ndarray, psd: np.ndarray):
        self._frequencies, self._psd = frequencies, psd  # (F,), (D, F)

    @property
    def frequencies(self) -> np.ndarray:
        return self._frequencies

    def at(self, a: int, b: int) -> np.ndarray:
        """The file's PSD ``(D, F)``, whatever the stretch."""
        return self._psd


def load_psd_file(path: str | Path, detectors: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(frequencies (F,), PSD (D, F))`` from a CSV ``frequency,<det>,...`` (1/Hz, one-sided,
    a uniform grid); ``ValueError``/``FileNotFoundError`` naming the file otherwise."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such PSD file")
    try:
        frame = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable PSD CSV ({error})") from error
    missing = [c for c in ("frequency", *detectors) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: PSD file lacks column(s) {', '.join(missing)} (expected "
                         f"frequency,{','.join(detectors)})")
    freqs = frame["frequency"].to_numpy(dtype=np.float64)
    psd = frame[list(detectors)].to_numpy(dtype=np.float64).T
    steps = np.diff(freqs)
    if len(freqs) < 2 or not np.allclose(steps, steps[0]) or steps[0] <= 0:
        raise ValueError(f"{path}: frequencies must be a uniform increasing grid")
    if not np.isfinite(psd).all() or (psd < 0).any():
        raise ValueError(f"{path}: the PSD holds negative, NaN or infinite values")
    return freqs, psd


def on_grid(frequencies: np.ndarray, psd: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``psd`` ``(D, F)`` on ``frequencies`` interpolated linearly onto ``target`` ``(F',)``;
    0 outside the source range (no noise model there: those bins are not used)."""
    return np.stack([np.interp(target, frequencies, row, left=0.0, right=0.0) for row in psd])
