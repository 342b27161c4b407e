"""Matched-filter baseline: the optimal-detector reference on the same samples as the models.

Each sample ``(3, N)`` is high-passed (zero-phase Butterworth, below the band), tapered
(Tukey, ``taper`` seconds at each end), whitened by the PSD
the data came with and correlated with every template of the bank in one batched FFT
(``(D, K, N)`` complex SNR). The network statistic, per template and per merger time t at H1,

    rho^2(t) = |z_H1(t)|^2 + max_{|dt| <= w_L1} |z_L1(t+dt)|^2 + max_{|dt| <= w_V1} |z_V1(t+dt)|^2

uses the light-travel times between the sites (lal geometry, about 10 ms H1-L1 and 27 ms H1-V1)
plus ``delay_margin``; the L1-V1 consistency is not imposed. The score of a sample is the
maximum of rho over templates and over the valid merger times: those where the template
neither wraps around the 2-s window nor starts inside the tapered edge.

Noise level (``noise_level``): the PSD is the data set's nominal one (``psd.csv``), times a
per-sample, per-detector scale ``s_d``: the whitened data is divided by ``sqrt(s_d)``, so
``|z_d|^2`` drops by ``s_d`` (the unit-norm templates do not change with a scale).

- ``nominal``: ``s_d = 1`` for every sample (right for stationary noise).
- ``recorded``: ``psd_scale_<det>`` of the simulator's ``injections.csv``. A real search
  measures the PSD from minutes of data around a sample, to a few per cent; this is that
  measurement without its error. A varying spectral shape (``psd_mix_<det>``) is not followed.
- ``estimated``: measured from the sample itself: the median over 30-1000 Hz of the
  nominally whitened ``|d(f)|^2``, divided by its expectation for noise of the nominal PSD
  (``ln 2`` times the mean, the median of an exponential). The median mostly ignores the
  bins a signal or a glitch fills (a network SNR of 30 raises it by about 6 per cent); from
  2 s of noise it errs by about 3 per cent.
- ``auto`` (default): ``recorded`` when ``injections.csv`` has ``psd_scale_<det>`` columns,
  else ``nominal``: the fair reference on simulated data, unchanged on stationary data, and
  ``nominal`` on data without a record (the real G2Net data; ask for ``estimated`` there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import lalsimulation
import numpy as np
import pandas as pd
import scipy.fft
from scipy.ndimage import maximum_filter1d
from scipy.signal.windows import tukey
from tqdm import tqdm

from pipeline.bank.snippet import (
    DF,
    N_FREQ,
    TemplateBank,
    band_mask,
    build_bank,
    complex_snr,
    whiten_normalise,
)
from pipeline.baseline.config import MatchedFilterConfig
from preprocess.highpass import highpass
from preprocess.layout import (
    DETECTORS,
    N_TIME,
    SAMPLE_RATE,
    data_detectors,
    load_sample,
    read_split,
    sample_path,
)
from preprocess.psd.read import read_psd
from runtime.errors import ignore_interrupt
from runtime.outputs import PRODUCER, claim_file
from runtime.provenance import atomic_path, library_versions, write_json_atomic

log = logging.getLogger(__name__)

SPEED_OF_LIGHT = 299_792_458.0  # m/s
ESTIMATE_BAND = (30.0, 1000.0)  # Hz: bins whose median power measures the noise level


class MatchResult(NamedTuple):
    """Best network match of one sample."""

    snr: float  # network SNR, the score
    template: int  # index of the best template in the bank
    time_index: int  # merger sample at the first detector (index into the 2-s window)
    detector_snr: np.ndarray  # (D,) |z| at the coincident maxima


def light_travel_samples(detectors: Sequence[str], margin: float) -> np.ndarray:
    """Half-widths ``(D,)`` in samples of each detector's window around the first one's time."""
    locations = [lalsimulation.DetectorPrefixToLALDetector(d).location for d in detectors]
    seconds = [np.linalg.norm(loc - locations[0]) / SPEED_OF_LIGHT for loc in locations]
    return np.ceil((np.array(seconds) + margin) * SAMPLE_RATE).astype(int) * (
        np.arange(len(detectors)) > 0
    )


def resample_psd(frequencies: np.ndarray, psd: np.ndarray) -> np.ndarray:
    """A one-sided PSD ``(D, F')`` on the uniform grid ``frequencies`` ``(F',)`` (as
    ``preprocess.psd.read.read_psd`` returns it), moved to the sample's rFFT grid ``(D, F)``.

    Linear interpolation; zeros (no noise model, or beyond the source grid) stay zeros
    wherever a neighbour is zero.
    """
    psd = np.atleast_2d(np.asarray(psd, dtype=np.float64))
    target = np.arange(N_FREQ) * DF
    if len(frequencies) == N_FREQ and np.allclose(frequencies, target):
        return psd
    source = np.asarray(frequencies, dtype=np.float64)
    out = np.stack([np.interp(target, source, row, right=0.0) for row in psd])
    zero = np.stack([np.interp(target, source, (row == 0).astype(float), left=1.0,
                               right=1.0) > 0 for row in psd])
    out[zero] = 0.0
    return out


class MatchedFilter:
    """Whitened, normalised templates per detector and the network statistic of a sample."""

    def __init__(self, bank: TemplateBank, psd: np.ndarray, config: MatchedFilterConfig,
                 detectors: Sequence[str] = DETECTORS):
        """``psd`` ``(D, F)`` on the sample's rFFT grid (``resample_psd``)."""
        psd = np.atleast_2d(np.asarray(psd, dtype=np.float64))
        if psd.shape[-1] != N_FREQ:
            raise ValueError(f"PSD has {psd.shape[-1]} frequencies, a sample's rFFT grid "
                             f"{N_FREQ}")
        if psd.shape[0] != len(detectors):
            raise ValueError(f"PSD has {psd.shape[0]} rows, expected {len(detectors)} "
                             f"({' '.join(detectors)})")
        self.detectors = tuple(detectors)
        f_lower = bank.config.f_lower
        self.config, self.bank = config, bank
        self.templates = np.stack(
            [whiten_normalise(bank.spectra, row, f_lower) for row in psd]
        )  # (D, K, F) complex64
        masks = band_mask(psd, f_lower)
        self.inv_asd = (np.where(masks, psd, 1.0) ** -0.5 * masks).astype(np.float32)  # (D, F)
        taper = int(round(config.taper * SAMPLE_RATE))
        self.window = tukey(N_TIME, 2 * taper / N_TIME)  # (N,)
        first = bank.config.pre_samples + taper  # template starts after the rising ramp
        last = N_TIME - max(bank.config.post_samples, taper)  # no wrap, ringdown before ramp
        if first >= last:
            raise ValueError("no valid merger time: template duration and taper fill the sample")
        self.valid = slice(first, last)
        self.half_widths = light_travel_samples(self.detectors, config.delay_margin)  # (D,)
        freqs = np.arange(N_FREQ) * DF
        self.estimate_band = masks & (freqs >= ESTIMATE_BAND[0]) & (freqs < ESTIMATE_BAND[1])
        # median of |d(f)|^2 for whitened noise of the nominal PSD: E|d|^2 = sum(w^2) / (2 fs)
        self.median_power = np.log(2) * np.sum(self.window**2) / (2 * SAMPLE_RATE)

    def estimate_scale(self, white: np.ndarray) -> np.ndarray:
        """Noise level ``(D,)`` of whitened spectra ``(D, F)`` relative to the nominal PSD."""
        power = np.abs(white) ** 2
        return np.array([np.median(p[band]) for p, band in zip(power, self.estimate_band,
                                                                strict=True)]) / self.median_power

    def whiten(self, strain: np.ndarray) -> np.ndarray:
        """High-passed, tapered, whitened spectra ``(D, F)`` complex64 of a sample ``(D, N)``."""
        strain = highpass(strain, self.config.highpass)
        spectra = scipy.fft.rfft(strain * self.window, axis=-1) / SAMPLE_RATE
        return (spectra * self.inv_asd).astype(np.complex64)

    def snr_series(self, strain: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        """Complex SNR ``(D, K, N)`` of a sample ``(D, N)`` against every template.

        ``scale`` ``(D,)`` is the sample's PSD relative to the filter's; None means 1, or the
        estimate from the sample itself when ``config.noise_level`` is ``estimated``.
        """
        white = self.whiten(strain)
        if scale is None and self.config.noise_level == "estimated":
            scale = self.estimate_scale(white)
        if scale is not None:
            white = white / np.sqrt(np.asarray(scale, dtype=np.float32))[:, None]
        return complex_snr(white[:, None, :], self.templates)

    def __call__(self, strain: np.ndarray, scale: np.ndarray | None = None) -> MatchResult:
        """The sample's network SNR, maximised over templates and valid merger times."""
        power = np.abs(self.snr_series(strain, scale)) ** 2  # (D, K, N)
        total = power[0, :, self.valid].copy()  # (K, T)
        for d in range(1, len(power)):
            size = 2 * int(self.half_widths[d]) + 1
            total += maximum_filter1d(power[d], size, axis=-1, mode="wrap")[:, self.valid]
        template, t = np.unravel_index(int(np.argmax(total)), total.shape)
        time_index = t + self.valid.start
        detector = [power[0, template, time_index]]
        for d in range(1, len(power)):
            w = int(self.half_widths[d])
            detector.append(power[d, template, time_index - w : time_index + w + 1].max())
        return MatchResult(float(np.sqrt(total[template, t])), int(template), int(time_index),
                           np.sqrt(np.array(detector)))


_WORKER_FILTER: MatchedFilter | None = None


def _init_worker(matched_filter: MatchedFilter) -> None:
    global _WORKER_FILTER
    _WORKER_FILTER = matched_filter


def _init_pool_worker(matched_filter: MatchedFilter) -> None:
    """A worker process: Ctrl-C is the main process's to report (once, not per worker)."""
    ignore_interrupt()
    _init_worker(matched_filter)


# Bad samples stop the matched filter: it scores every id of the split.
FIX_HINT = "the matched filter scores every sample of the split: fix or replace the file"


def _score_chunk(
    root: str, split: str, ids: Sequence[str], scales: np.ndarray | None
) -> list[float]:
    assert _WORKER_FILTER is not None
    detectors = _WORKER_FILTER.detectors
    return [_WORKER_FILTER(load_sample(sample_path(root, split, i), i, hint=FIX_HINT,
                                       detectors=detectors),
                           None if scales is None else scales[k]).snr
            for k, i in enumerate(ids)]


def recorded_scales(root: str | Path, ids: Sequence[str]) -> np.ndarray | None:
    """``psd_scale_<det>`` ``(N, D)`` of ``ids`` from ``root/injections.csv``; None when the
    file or its columns are absent (a stationary simulation records no scale: it is 1)."""
    path = Path(root) / "injections.csv"
    columns = [f"psd_scale_{d}" for d in data_detectors(root)]
    if not path.is_file() or set(columns) - set(pd.read_csv(path, nrows=0).columns):
        return None
    frame = pd.read_csv(path, dtype={"id": str}, usecols=["id", *columns]).set_index("id")
    missing = pd.Index(ids).difference(frame.index)
    if len(missing):
        raise ValueError(f"{path}: no row for {len(missing)} sample(s), first {missing[0]!r}")
    scales = frame.loc[list(ids), columns].to_numpy(dtype=np.float64)
    if not (np.isfinite(scales) & (scales > 0)).all():
        raise ValueError(f"{path}: psd_scale columns must be finite and > 0")
    return scales


def resolve_noise_level(
    noise_level: str, root: str | Path, ids: Sequence[str]
) -> tuple[str, np.ndarray | None]:
    """The mode actually used (``auto`` resolved) and the recorded scales ``(N, D)`` if any."""
    if noise_level in ("nominal", "estimated"):
        return noise_level, None
    scales = recorded_scales(root, ids)
    if scales is not None:
        return "recorded", scales
    if noise_level == "recorded":
        raise ValueError(f"{root}: --noise-level recorded needs injections.csv with columns "
                         f"{', '.join(f'psd_scale_{d}' for d in data_detectors(root))}")
    return "nominal", None


def score_samples(
    matched_filter: MatchedFilter, root: str | Path, split: str, ids: Sequence[str],
    workers: int = 1, progress: bool = True, scales: np.ndarray | None = None,
) -> np.ndarray:
    """Network SNR ``(N,)`` of the samples ``ids`` of ``split`` (in that order).

    ``scales`` ``(N, D)``: each sample's PSD relative to the filter's (see ``MatchedFilter``).
    """
    size = matched_filter.config.chunk_size
    starts = range(0, len(ids), size)
    chunks = [list(ids[i : i + size]) for i in starts]
    chunk_scales = [None if scales is None else scales[i : i + size] for i in starts]
    bar = tqdm(total=len(ids), desc="matched filter", unit="sample", disable=not progress)
    scores: list[float] = []
    if workers <= 1:
        _init_worker(matched_filter)
        for chunk, scale in zip(chunks, chunk_scales, strict=True):
            scores += _score_chunk(str(root), split, chunk, scale)
            bar.update(len(chunk))
    else:
        with ProcessPoolExecutor(workers, initializer=_init_pool_worker,
                                 initargs=(matched_filter,)) as pool:
            futures = [pool.submit(_score_chunk, str(root), split, c, sc)
                       for c, sc in zip(chunks, chunk_scales, strict=True)]
            for chunk, future in zip(chunks, futures, strict=True):  # in order, like ids
                scores += future.result()
                bar.update(len(chunk))
    bar.close()
    return np.array(scores)


def run_matched_filter(
    root: str | Path, split: str, out: str | Path, config: MatchedFilterConfig | None = None,
    psd: tuple[np.ndarray, np.ndarray] | None = None, workers: int = 1, progress: bool = True,
) -> Path:
    """Score a split and write ``out`` (``id,target`` with the network SNR in ``target``).

    Rows follow the split's CSV. ``psd`` ``(frequencies (F',), PSD (D, F'))``, as
    ``preprocess.psd.read.read_psd`` returns it, defaults to ``root/psd.csv``; each
    sample's noise level follows ``config.noise_level``. The resolved configuration, the noise
    level used, bank summary, timing and library versions go to ``out`` with ``.json``.
    """
    config = config or MatchedFilterConfig()
    out = claim_file(out, "matched-filter scores")
    psd = resample_psd(*(read_psd(root) if psd is None else psd))
    frame = read_split(root, split)
    noise_level, scales = resolve_noise_level(config.noise_level, root, frame["id"].tolist())
    log.info("matched filter: noise level %s", noise_level)
    start = time.perf_counter()
    bank = build_bank(config.bank, psd[0])
    matched_filter = MatchedFilter(bank, psd, config, data_detectors(root))
    bank_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores = score_samples(matched_filter, root, split, frame["id"].tolist(), workers, progress,
                           scales)
    seconds = time.perf_counter() - start
    with atomic_path(out) as tmp:
        pd.DataFrame({"id": frame["id"], "target": scores}).to_csv(tmp, index=False)
    write_json_atomic(out.with_suffix(".json"), {
        "producer": PRODUCER,
        "method": "matched-filter",
        "data": str(root),
        "split": split,
        "config": asdict(config),
        "noise_level_used": noise_level,
        "bank": bank.summary(),
        "valid_merger_times_s": [matched_filter.valid.start / SAMPLE_RATE,
                                 matched_filter.valid.stop / SAMPLE_RATE],
        "bank_seconds": bank_seconds,
        "ms_per_sample_per_worker": 1e3 * seconds * max(workers, 1) / max(len(frame), 1),
        "workers": workers,
        "versions": library_versions(),
    })
    log.info("matched filter: %d samples in %.1f s -> %s", len(frame), seconds, out)
    return out
