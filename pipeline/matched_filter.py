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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import lalsimulation
import numpy as np
import pandas as pd
import scipy.fft
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter, sosfiltfilt
from scipy.signal.windows import tukey
from tqdm import tqdm

from pipeline.template_bank import (
    DF,
    N_FREQ,
    BankConfig,
    TemplateBank,
    band_mask,
    build_bank,
    complex_snr,
    whiten_normalise,
)
from preprocess.layout import (
    DETECTORS,
    N_TIME,
    SAMPLE_RATE,
    load_sample,
    read_psd,
    read_split,
    sample_path,
)
from preprocess.provenance import atomic_path, library_versions, write_json_atomic

log = logging.getLogger(__name__)

SPEED_OF_LIGHT = 299_792_458.0  # m/s


@dataclass
class MatchedFilterConfig:
    """The bank, the data conditioning and the coincidence windows of the baseline."""

    bank: BankConfig = field(default_factory=BankConfig)
    taper: float = 0.05  # s of cosine ramp at each end of a sample (Tukey window)
    highpass: float = 15.0  # Hz: zero-phase high-pass before tapering (0 = off), so that the
    # steep noise below the band (the seismic wall) does not leak into it through the taper
    delay_margin: float = 0.002  # s added to each light-travel window (timing error, rounding)
    chunk_size: int = 16  # samples per worker task


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


def resample_psd(psd: np.ndarray) -> np.ndarray:
    """A one-sided PSD ``(D, F')`` on any uniform 0..Nyquist grid, moved to the sample's ``(D, F)``.

    Linear interpolation; zeros (no noise model) stay zeros wherever a neighbour is zero.
    """
    psd = np.atleast_2d(np.asarray(psd, dtype=np.float64))
    if psd.shape[-1] == N_FREQ:
        return psd
    source = np.linspace(0, SAMPLE_RATE / 2, psd.shape[-1])
    target = np.arange(N_FREQ) * DF
    out = np.stack([np.interp(target, source, row) for row in psd])
    zero = np.stack([np.interp(target, source, (row == 0).astype(float)) > 0 for row in psd])
    out[zero] = 0.0
    return out


class MatchedFilter:
    """Whitened, normalised templates per detector and the network statistic of a sample."""

    def __init__(self, bank: TemplateBank, psd: np.ndarray, config: MatchedFilterConfig):
        psd = resample_psd(psd)  # (D, F)
        if psd.shape[0] != len(DETECTORS):
            raise ValueError(f"PSD has {psd.shape[0]} rows, expected {len(DETECTORS)}")
        f_lower = bank.config.f_lower
        self.config, self.bank = config, bank
        self.templates = np.stack(
            [whiten_normalise(bank.spectra, row, f_lower) for row in psd]
        )  # (D, K, F) complex64
        masks = band_mask(psd, f_lower)
        self.inv_asd = (np.where(masks, psd, 1.0) ** -0.5 * masks).astype(np.float32)  # (D, F)
        taper = int(round(config.taper * SAMPLE_RATE))
        self.window = tukey(N_TIME, 2 * taper / N_TIME)  # (N,)
        self.highpass = (
            butter(8, config.highpass, "highpass", fs=SAMPLE_RATE, output="sos")
            if config.highpass > 0
            else None
        )
        first = bank.config.pre_samples + taper  # template starts after the rising ramp
        last = N_TIME - max(bank.config.post_samples, taper)  # no wrap, ringdown before ramp
        if first >= last:
            raise ValueError("no valid merger time: template duration and taper fill the sample")
        self.valid = slice(first, last)
        self.half_widths = light_travel_samples(DETECTORS, config.delay_margin)  # (D,)

    def whiten(self, strain: np.ndarray) -> np.ndarray:
        """High-passed, tapered, whitened spectra ``(D, F)`` complex64 of a sample ``(D, N)``."""
        if self.highpass is not None:
            strain = sosfiltfilt(self.highpass, strain, axis=-1)
        spectra = scipy.fft.rfft(strain * self.window, axis=-1) / SAMPLE_RATE
        return (spectra * self.inv_asd).astype(np.complex64)

    def snr_series(self, strain: np.ndarray) -> np.ndarray:
        """Complex SNR ``(D, K, N)`` of a sample ``(D, N)`` against every template."""
        return complex_snr(self.whiten(strain)[:, None, :], self.templates)

    def __call__(self, strain: np.ndarray) -> MatchResult:
        """The sample's network SNR, maximised over templates and valid merger times."""
        power = np.abs(self.snr_series(strain)) ** 2  # (D, K, N)
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


def _score_chunk(root: str, split: str, ids: Sequence[str]) -> list[float]:
    assert _WORKER_FILTER is not None
    return [_WORKER_FILTER(load_sample(sample_path(root, split, i), i)).snr for i in ids]


def score_samples(
    matched_filter: MatchedFilter, root: str | Path, split: str, ids: Sequence[str],
    workers: int = 1, progress: bool = True,
) -> np.ndarray:
    """Network SNR ``(N,)`` of the samples ``ids`` of ``split`` (in that order)."""
    size = matched_filter.config.chunk_size
    chunks = [list(ids[i : i + size]) for i in range(0, len(ids), size)]
    bar = tqdm(total=len(ids), desc="matched filter", unit="sample", disable=not progress)
    scores: list[float] = []
    if workers <= 1:
        _init_worker(matched_filter)
        for chunk in chunks:
            scores += _score_chunk(str(root), split, chunk)
            bar.update(len(chunk))
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker,
                                 initargs=(matched_filter,)) as pool:
            futures = [pool.submit(_score_chunk, str(root), split, c) for c in chunks]
            for chunk, future in zip(chunks, futures, strict=True):  # in order, like ids
                scores += future.result()
                bar.update(len(chunk))
    bar.close()
    return np.array(scores)


def run_matched_filter(
    root: str | Path, split: str, out: str | Path, config: MatchedFilterConfig | None = None,
    psd: np.ndarray | None = None, workers: int = 1, progress: bool = True,
) -> Path:
    """Score a split and write ``out`` (``id,target`` with the network SNR in ``target``).

    Rows follow the split's CSV. ``psd`` ``(3, F)`` defaults to ``root/psd.csv``. The resolved
    configuration, bank summary, timing and library versions go to ``out`` with ``.json``.
    """
    config = config or MatchedFilterConfig()
    out = Path(out)
    if psd is None:
        psd = read_psd(root)[1]
    psd = resample_psd(psd)
    frame = read_split(root, split)
    start = time.perf_counter()
    bank = build_bank(config.bank, psd[0])
    matched_filter = MatchedFilter(bank, psd, config)
    bank_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores = score_samples(matched_filter, root, split, frame["id"].tolist(), workers, progress)
    seconds = time.perf_counter() - start
    with atomic_path(out) as tmp:
        pd.DataFrame({"id": frame["id"], "target": scores}).to_csv(tmp, index=False)
    write_json_atomic(out.with_suffix(".json"), {
        "method": "matched-filter",
        "data": str(root),
        "split": split,
        "config": asdict(config),
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
