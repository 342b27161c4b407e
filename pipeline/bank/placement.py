"""Where templates go: prior draws and farthest-point placement, shared by every bank.

Candidates are drawn from the simulator's prior (detector-frame masses uniform in
[mass_min, mass_max], m1 >= m2; aligned spins uniform in [-spin_max, spin_max]) and the bank
grows greedily by the candidate worst matched by the templates chosen so far (farthest-point
placement). The match of two templates is their normalised overlap maximised over time and
phase, whitened by a detector's PSD from ``f_lower``; the worst candidate's best match after
placement is the bank's covering match (a measured minimal match).
"""

from __future__ import annotations

import functools

import lalsimulation
import numpy as np
import scipy.fft

from pipeline.bank.config import BankConfig, SearchBankConfig
from preprocess.layout import SAMPLE_RATE


@functools.lru_cache(maxsize=4)
def approximant(name: str) -> int:
    return lalsimulation.GetApproximantFromString(name)


def draw_candidates(config: BankConfig | SearchBankConfig) -> np.ndarray:
    """Candidate parameters ``(C, 4)`` from the prior: m1 >= m2 uniform, aligned spins."""
    rng = np.random.default_rng(config.seed)
    n = config.n_templates * config.candidates_per_template
    masses = np.sort(rng.uniform(config.mass_min, config.mass_max, size=(n, 2)), axis=1)[:, ::-1]
    spins = rng.uniform(-config.spin_max, config.spin_max, size=(n, 2))
    return np.concatenate([masses, spins], axis=1)


def farthest_point(white: np.ndarray, n_templates: int, n_time: int,
                   batch: int = 256, progress: bool = False) -> tuple[list[int], np.ndarray]:
    """Greedy farthest-point placement among whitened unit-norm candidates ``(C, F)``.

    Each step keeps the candidate worst matched by the templates kept so far; the match is the
    overlap maximised over time (circular, ``n_time`` samples) and phase. Returns the indices
    kept and each candidate's best match ``(C,)`` to them (its minimum: the covering match).
    """
    from tqdm import tqdm

    best = np.full(len(white), -np.inf)  # best match of each candidate to the bank so far
    chosen: list[int] = []
    for _ in tqdm(range(min(n_templates, len(white))), desc="placing templates",
                  unit="template", disable=not progress):
        pick = int(np.argmin(best))
        chosen.append(pick)
        for lo in range(0, len(white), batch):
            match = np.abs(overlap_series(white[pick][None], white[lo : lo + batch], n_time))
            best[lo : lo + batch] = np.maximum(best[lo : lo + batch], match.max(axis=-1))
    return chosen, best


def overlap_series(a: np.ndarray, b: np.ndarray, n_time: int) -> np.ndarray:
    """``4 df sum a conj(b) exp(2 pi i f t)`` over ``n_time`` lags: ``(..., n_time)`` complex64.

    ``a`` ``(..., 1, F)`` and ``b`` ``(..., K, F)`` whitened spectra on the rFFT grid of
    ``n_time`` samples at 2048 Hz (``F <= n_time // 2 + 1``); unit-norm inputs give matches.
    """
    product = (a * np.conj(b)).astype(np.complex64)
    full = np.zeros((*product.shape[:-1], n_time), dtype=np.complex64)
    full[..., : product.shape[-1]] = product
    return scipy.fft.ifft(full, axis=-1, overwrite_x=True) * np.float32(4 * SAMPLE_RATE)
