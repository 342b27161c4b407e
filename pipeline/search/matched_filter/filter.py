"""FFT matched filtering of long overlapping blocks: every template's complex SNR series.

A segment ``(n,)`` is cut into blocks of ``block`` s that overlap by the padding
(``plan_blocks``): block j reads samples ``[j V, j V + N)`` (zeros past the segment's end) and
keeps the SNR of ``[j V + pad_start, j V + N - pad_end)``, ``V = N - pad_start - pad_end``, so
the kept stretches tile the segment's analysed span ``[pad_start, n - pad_end)`` exactly. The
padding covers what a circular correlation corrupts: before a kept time, the longest template
(its inspiral lies before its merger time) plus the whitening filter's length (the Welch
segment) plus the taper; after it, the whitening filter and the taper. The block grid is fixed
to the segment's start, so the triggers do not depend on how the work is split.

Per block and detector (``BlockFilter``), with ``d(f) = dt * rfft(x * taper)`` (strain in units
of 1e-20), ``S(f)`` the PSD of the stretch (``psd.py``) on the block's grid and ``h_k(f)`` the
templates (``bank.SearchBank.spectra``), over ``f_lower <= f < Nyquist``:

    sigma_k^2 = 4 df sum_f |h_k|^2 / S
    z_k(t_j) = (4 df / sigma_k) sum_f d conj(h_k) / S exp(2 pi i f t_j)

one inverse FFT of length N per template; noise gives ``E|z|^2 = 2`` and a signal matching
template k with optimal SNR rho gives ``|z| = rho`` at its merger time. The whitened data is
formed once in float64; the per-template products and inverse FFTs, the cost of a search,
run in ``precision`` (float32 by default: ``bench/search.py`` measures its error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy.signal.windows import tukey

from pipeline.bank.stream import SearchBank
from pipeline.search.matched_filter.chisq import bin_edges, dof, phase_table, power_chisq
from pipeline.search.matched_filter.config import FilterConfig
from pipeline.search.matched_filter.singles import SingleTriggers, cluster_peaks

TAPER = 1.0  # s of cosine ramp at each end of a block's data
BATCH = 16  # templates per inverse-FFT batch: (16, N) complex64 is 32 MiB for 128-s blocks


@dataclass(frozen=True)
class Block:
    """One block: data samples ``[start, start + N)`` of the segment, SNR kept on ``keep``."""

    start: int
    keep: tuple[int, int]  # segment samples [a, b)


def padding(bank: SearchBank, config: FilterConfig) -> tuple[float, float]:
    """Seconds lost at a segment's start and end (and between blocks): ``(before, after)``."""
    before = math.ceil(float(bank.durations.max())) + config.psd.segment + TAPER
    return before, config.psd.segment + TAPER


def plan_blocks(n: int, block: int, pad_start: int, pad_end: int) -> list[Block]:
    """The blocks of a segment of ``n`` samples (see the module docstring); [] if too short."""
    step = block - pad_start - pad_end
    if step <= 0:
        raise ValueError(f"blocks of {block} samples cannot hold the padding "
                         f"({pad_start} + {pad_end}); use longer blocks")
    blocks, start = [], 0
    while start + pad_start < n - pad_end:
        blocks.append(Block(start, (start + pad_start, min(start + block - pad_end,
                                                           n - pad_end))))
        start += step
    return blocks


class BlockFilter:
    """Templates on one block grid, and the triggers of one detector's block of data."""

    def __init__(self, bank: SearchBank, config: FilterConfig, sample_rate: int):
        self.config, self.sample_rate = config, sample_rate
        self.n = int(round(config.block * sample_rate))
        self.delta_f = sample_rate / self.n
        self.frequencies = np.arange(self.n // 2 + 1) * self.delta_f  # (F,)
        self.templates = bank.spectra(self.delta_f, len(self.frequencies))  # (K, F) complex64
        self.complex = np.complex64 if config.precision == "float32" else np.complex128
        self.in_band = (self.frequencies >= bank.config.f_lower) & (
            self.frequencies < sample_rate / 2)
        self.table = phase_table(self.n)  # (N,) for the chi-squared
        self.window = int(round(config.template_cluster_window * sample_rate))

    def whiten(self, data: np.ndarray, psd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(d / S, 1 / S)`` ``(F,)`` of a block's data ``(m <= N,)``, zero out of band.

        The data is tapered at both ends (``TAPER`` s; a short last block at the end of its
        data) and zero-padded to N samples; ``psd`` ``(F,)`` is on the block's grid.
        """
        x = np.zeros(self.n)
        ramp = 2 * int(TAPER * self.sample_rate) / len(data)
        x[: len(data)] = data * tukey(len(data), min(ramp, 1.0))
        spectrum = np.fft.rfft(x) / self.sample_rate  # (F,) complex128
        usable = self.in_band & (psd > 0)
        inverse = np.zeros_like(psd)
        inverse[usable] = 1.0 / psd[usable]
        return spectrum * inverse, inverse

    def triggers(self, data: np.ndarray, psd: np.ndarray, keep: slice,
                 time0: float) -> SingleTriggers:
        """Clustered triggers above threshold in block samples ``keep``, with their reduced
        chi-squared; ``time0`` is the GPS time of the block's first sample."""
        white, inverse = self.whiten(data, psd)
        white = white.astype(self.complex)
        parts = []
        for lo in range(0, len(self.templates), BATCH):
            parts.append(self._batch(white, inverse, lo, keep, time0))
        return SingleTriggers.concat(parts)

    def snr(self, white: np.ndarray, inverse: np.ndarray,
            lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(z (b, N), product (b, F), scale (b,))`` for templates ``lo:hi``: the complex SNR,
        the correlation spectrum and the factor ``4 df / sigma`` that makes it an SNR."""
        templates = self.templates[lo:hi]
        weights = np.abs(templates) ** 2  # (b, F) float32
        sigma2 = 4 * self.delta_f * (weights.astype(np.float64) @ inverse)  # (b,)
        if np.any(sigma2 <= 0):
            raise ValueError("a template has no power in the band of the PSD")
        scale = 4 * self.delta_f / np.sqrt(sigma2)  # (b,)
        product = white[None, :] * np.conj(templates).astype(self.complex)  # (b, F)
        full = np.zeros((len(templates), self.n), dtype=self.complex)
        full[:, : product.shape[1]] = product
        z = scipy.fft.ifft(full, axis=-1, overwrite_x=True, norm="forward")  # (b, N) sums
        z *= scale.astype(z.real.dtype)[:, None]
        return z, product, scale

    def _batch(self, white: np.ndarray, inverse: np.ndarray, lo: int, keep: slice,
               time0: float) -> SingleTriggers:
        hi = min(lo + BATCH, len(self.templates))
        z, product, scale = self.snr(white, inverse, lo, hi)
        power = z.real[:, keep] ** 2 + z.imag[:, keep] ** 2  # (b, kept)
        rows, cols, snr = cluster_peaks(power, self.config.snr_threshold, self.window)
        index = cols + keep.start  # block samples
        chisq = np.empty(len(rows), dtype=np.float32)
        bins = self.config.chisq_bins
        for row in np.unique(rows):
            chosen = rows == row
            weights = np.abs(self.templates[lo + row]).astype(np.float64) ** 2 * inverse
            edges = bin_edges(weights, bins)
            chisq[chosen] = power_chisq(product[row], scale[row], edges, index[chosen],
                                        self.table) / dof(bins)
        return SingleTriggers(time0 + index / self.sample_rate, (lo + rows).astype(np.int32),
                              snr.astype(np.float32), chisq)
