"""The network search's windows: their times, their whitening PSD, and their images.

A segment ``(D, n)`` of strain at 2048 Hz is cut into windows of the model's length (2 s,
``N`` samples) every ``stride`` s: window ``w`` covers samples ``[w * stride, w * stride + N)``.
Each detector's images of every window are computed once (``segment_images``), with
``preprocess.images.ImageMaker``, the code ``build-cqt`` uses, so a window's images are those
its 2 s give written as a G2Net sample and whitened by the same PSD; a time slide then only
pairs different windows' images (``pipeline.search.network``).

The PSD (``WindowPSD``) is estimated as ``build-cqt`` estimated the training PSD, on the data
around: tapered 2-s periodograms of the segment every second, averaged (glitch and signal
power gated out, then the median: ``preprocess.whiten.average_periodograms``) over the
``span`` s preceding (or centred on) each block of windows, and recomputed every
``update`` s. The same estimator on the same kind of data: stream windows are whitened as the
training samples were, however the noise drifts. ``--psd training`` whitens with the training
cache's own PSD instead (a fixed one, as G2Net solutions did).
"""

from __future__ import annotations

import numpy as np
import torch

from preprocess.config import WhitenConfig
from preprocess.images import ImageMaker
from preprocess.whiten import average_periodograms, periodograms


def window_starts(n: int, length: int, stride: int) -> np.ndarray:
    """Sample offsets ``(W,)`` of the windows of ``length`` samples every ``stride`` that lie
    wholly inside ``n`` samples."""
    if n < length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n - length + 1, stride, dtype=np.int64)


class WindowPSD:
    """The training estimator run over the data around each stretch (see the module doc).

    ``at(a, b)`` is the PSD ``(D, F)`` (strain^2/Hz, on the rFFT grid of a window) for the
    samples ``[a, b)``: from the 2-s periodograms (every ``hop`` samples) lying wholly inside
    the ``span`` s that end where the stretch ends (``preceding``) or are centred on it,
    shifted into the segment near its edges.
    """

    def __init__(self, data: np.ndarray, whiten: WhitenConfig, span: float,
                 placement: str = "preceding", hop: float = 1.0):
        self.whiten, self.placement = whiten, placement
        self.length = whiten.n_time
        self.hop = int(round(hop * whiten.sample_rate))
        self.span = int(round(span * whiten.sample_rate))
        self.n = data.shape[-1]
        if self.n < 4 * self.length:
            raise ValueError(f"a segment of {self.n / whiten.sample_rate:g} s is too short for "
                             "a running PSD of 2-s windows (8 s at least)")
        self.starts = window_starts(self.n, self.length, self.hop)  # (S,)
        scaled = data / whiten.raw_scale  # periodograms in raw_scale units, as training's
        spectra = [periodograms(np.stack([scaled[:, s : s + self.length]
                                          for s in self.starts[i : i + 256]]), whiten)
                   for i in range(0, len(self.starts), 256)]
        self.spectra = np.concatenate(spectra).astype(np.float32)  # (S, D, F)
        self._cache: tuple[tuple[int, int], np.ndarray] | None = None

    @property
    def frequencies(self) -> np.ndarray:
        return self.whiten.frequencies

    def at(self, a: int, b: int) -> np.ndarray:
        """The PSD ``(D, F)`` float64 whitening the samples ``[a, b)``."""
        width = min(self.span, self.n)
        lo = b - width if self.placement == "preceding" else (a + b - width) // 2
        lo = min(max(lo, 0), self.n - width)
        chosen = np.flatnonzero((self.starts >= lo) & (self.starts + self.length <= lo + width))
        key = (int(chosen[0]), int(chosen[-1]))
        if self._cache is None or self._cache[0] != key:
            psd = average_periodograms(self.spectra[chosen].astype(np.float64), self.whiten,
                                       quiet=True)
            self._cache = (key, psd * self.whiten.raw_scale**2)
        return self._cache[1]


class TrainingPSD:
    """The training cache's PSD for every stretch (``--psd training``)."""

    def __init__(self, psd: np.ndarray, whiten: WhitenConfig):
        self.psd, self.whiten = np.asarray(psd, dtype=np.float64), whiten

    @property
    def frequencies(self) -> np.ndarray:
        return self.whiten.frequencies

    def at(self, a: int, b: int) -> np.ndarray:
        return self.psd


def segment_images(data: np.ndarray, starts: np.ndarray, psd: WindowPSD | TrainingPSD,
                   maker: ImageMaker, update: int, batch: int = 64,
                   where: str = "segment") -> np.ndarray:
    """Images ``(W, D, F, T)`` float16 of the windows at ``starts`` of ``data`` ``(D, n)``
    (strain): windows are taken in blocks of ``update`` samples of start time, each block
    whitened by ``psd.at`` of its stretch (``maker.set_psd``), in batches of ``batch``."""
    whiten = maker.whiten
    length = whiten.n_time
    out = np.empty((len(starts), *maker.image_shape), dtype=np.float16)
    scaled = (data / whiten.raw_scale).astype(np.float32)
    blocks = (starts // max(update, 1)).astype(np.int64)
    for block in np.unique(blocks):
        rows = np.flatnonzero(blocks == block)
        a, b = int(starts[rows[0]]), int(starts[rows[-1]]) + length
        maker.set_psd(psd.at(a, b))
        for i in range(0, len(rows), batch):
            chosen = rows[i : i + batch]
            windows = np.stack([scaled[:, s : s + length] for s in starts[chosen]])
            out[chosen] = maker(torch.from_numpy(windows), f"{where}, windows "
                                f"{int(chosen[0])}-{int(chosen[-1])}")
    return out
