"""Allen's chi-squared signal-consistency test (Allen 2005, PRD 71, 062001), as PyCBC computes it.

The template's band is cut into ``p`` contiguous frequency bins of equal expected power: each
holds ``1/p`` of the template's ``sigma^2 = 4 df sum |h|^2 / S`` (``bin_edges``). The complex
SNR ``z`` of a trigger is the sum of the bins' contributions ``z_i`` (the same correlation
restricted to bin i), and

    chi^2 = p * sum_i |z_i|^2 - |z|^2 = p * sum_i |z_i - z / p|^2.

A signal that matches the template puts ``z / p`` in every bin and cancels; noise leaves a
chi-squared with ``2p - 2`` degrees of freedom (complex ``z_i``, less the constraint that they
sum to ``z``), so the reduced ``chi^2 / (2p - 2)`` has mean 1. A glitch puts its power in a
few bins and is far above. ``power_chisq`` evaluates the bins at the triggers' times only, by
a direct sum over the band with exact phases (``exp(2 pi i f j / n)`` from one table, the index
``f * j mod n`` in integers), so its cost is one pass over the band per trigger, whatever the
number of templates.
"""

from __future__ import annotations

import numpy as np


def dof(bins: int) -> int:
    """Degrees of freedom of the chi-squared with ``bins`` bins: ``2 p - 2``."""
    return 2 * bins - 2


def bin_edges(weights: np.ndarray, bins: int) -> np.ndarray:
    """Bin edges ``(p + 1,)`` (rFFT indices) splitting ``weights`` ``(F,)`` (``|h|^2 / S``, zero
    outside the band) into ``bins`` runs of equal sum, from the band's first bin to its last."""
    band = np.flatnonzero(weights > 0)
    if len(band) < bins:
        raise ValueError(f"a template has {len(band)} frequency bins in band, fewer than the "
                         f"{bins} chi-squared bins")
    first, last = band[0], band[-1] + 1
    cumulative = np.cumsum(weights[first:last], dtype=np.float64)
    targets = cumulative[-1] * np.arange(1, bins) / bins
    inner = first + 1 + np.searchsorted(cumulative, targets, side="left")
    return np.concatenate([[first], inner, [last]]).astype(np.int64)


def phase_table(n: int) -> np.ndarray:
    """``exp(2 pi i m / n)`` for ``m = 0 .. n-1``: ``(n,)`` complex128."""
    return np.exp(2j * np.pi * np.arange(n) / n)


def bin_snrs(product: np.ndarray, scale: float, edges: np.ndarray, indices: np.ndarray,
             table: np.ndarray) -> np.ndarray:
    """Each bin's complex SNR ``(m, p)`` at sample ``indices`` ``(m,)`` of an ``n``-sample block.

    ``product`` ``(F,)`` is the whitened correlation spectrum ``d(f) conj(h(f)) / S(f)`` whose
    inverse FFT, times ``scale``, is the complex SNR: ``z(j) = scale * sum_f product[f]
    exp(2 pi i f j / n)``; ``table`` is ``phase_table(n)``.
    """
    n = len(table)
    f = np.arange(edges[0], edges[-1], dtype=np.int64)  # (B,)
    out = np.empty((len(indices), len(edges) - 1), dtype=np.complex128)
    for row, j in enumerate(np.asarray(indices, dtype=np.int64)):
        terms = product[edges[0] : edges[-1]] * table[(f * j) % n]  # (B,)
        out[row] = np.add.reduceat(terms, edges[:-1] - edges[0])
    return out * scale


def power_chisq(product: np.ndarray, scale: float, edges: np.ndarray, indices: np.ndarray,
                table: np.ndarray) -> np.ndarray:
    """Allen's chi-squared ``(m,)`` (not reduced) of triggers at ``indices`` (``bin_snrs``)."""
    z_bins = bin_snrs(product, scale, edges, indices, table)  # (m, p)
    p = z_bins.shape[1]
    total = z_bins.sum(axis=1)
    return np.maximum(p * np.sum(np.abs(z_bins) ** 2, axis=1) - np.abs(total) ** 2, 0.0)
