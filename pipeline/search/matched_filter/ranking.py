"""Ranking statistics: the single-detector statistic and the network one built from it.

- ``snr``: the matched-filter SNR ``rho = |z|``.
- ``newsnr``: PyCBC's reweighted SNR (Babak et al. 2013, PRD 87, 024033; Nitz et al. 2017,
  ApJ 849, 118), with the reduced chi-squared ``chi_r = chi^2 / (2p - 2)``:

      rho_new = rho                                  if chi_r <= 1
      rho_new = rho / [(1 + chi_r^(q/n)) / 2]^(1/q)  otherwise, q = 6, n = 2

  A trigger whose chi-squared is what noise or a matching signal gives keeps its SNR; a glitch
  (chi_r of tens) is divided by about ``chi_r^(1/2)``.

The network statistic of a coincidence is the quadrature sum of its detectors' statistics.
"""

from __future__ import annotations

import numpy as np

NEWSNR_Q = 6.0
NEWSNR_N = 2.0


def newsnr(snr: np.ndarray, chisq: np.ndarray) -> np.ndarray:
    """PyCBC's reweighted SNR ``(T,)`` from ``|z|`` and the reduced chi-squared ``(T,)``."""
    snr = np.asarray(snr, dtype=np.float64)
    chisq = np.asarray(chisq, dtype=np.float64)
    factor = ((1.0 + chisq ** (NEWSNR_Q / NEWSNR_N)) / 2.0) ** (1.0 / NEWSNR_Q)
    return np.where(chisq > 1.0, snr / factor, snr)


def single_statistic(statistic: str, snr: np.ndarray, chisq: np.ndarray) -> np.ndarray:
    """A detector's statistic ``(T,)`` of its triggers: ``snr`` or ``newsnr``."""
    if statistic == "snr":
        return np.asarray(snr, dtype=np.float64)
    if statistic == "newsnr":
        return newsnr(snr, chisq)
    raise ValueError(f"unknown statistic {statistic!r}; expected snr or newsnr")


def network_statistic(stats: np.ndarray) -> np.ndarray:
    """Quadrature sum over detectors of ``(D, C)`` statistics (NaN: the detector took no part)."""
    return np.sqrt(np.nansum(np.asarray(stats, dtype=np.float64) ** 2, axis=0))
