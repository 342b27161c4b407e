"""The matched-filter search over streams: what it adds to the search job (``search.job``).

``run_search(strain, out, config)`` runs ``MatchedFilterSearch`` through the job, which reads the
strain, cuts the pieces, records the settings, skips or stops at bad strain, resumes, and ranks.
What is the matched filter's own:

- the bank: ``out/bank.hdf`` when resuming, else the one given (``bank=``), else placed anew
  (``pipeline.bank.stream.build_search_bank``) and saved there;
- a piece: every detector's single-detector triggers (``inspiral.filter_segment``: running PSD,
  FFT correlation of long blocks, chi-squared), written atomically to
  ``segments/<gps>-<seconds>.h5`` (``singles.write_segment``) with the hash of the settings
  they depend on; the result does not depend on the worker count;
- its triggers: per statistic and slide, coincidences of the same template within the
  light-travel time, ranked by the quadrature sum of the detectors' statistics and clustered
  (``coinc.segment_candidates``); ranking and slide settings may change between runs of one
  folder without filtering again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.bank.stream import (
    DEFAULT_BANK,
    SearchBank,
    build_search_bank,
    default_bank,
    load_search_bank,
    placement_psd,
    save_search_bank,
)
from pipeline.search.job import Piece, PieceTriggers, Progress, piece_name, run_job
from pipeline.search.matched_filter.coinc import segment_candidates
from pipeline.search.matched_filter.config import SearchConfig
from pipeline.search.matched_filter.filter import TAPER, BlockFilter, padding
from pipeline.search.matched_filter.inspiral import filter_segment, pad_samples
from pipeline.search.matched_filter.singles import read_segment, write_segment
from preprocess.psd.read import read_psd
from preprocess.psd.running import FixedPSD
from preprocess.stream.config import SAMPLE_RATE
from preprocess.stream.errors import SettingsMismatchError
from runtime.provenance import config_hash

log = logging.getLogger(__name__)

BANK_FILE = "bank.hdf"


class MatchedFilterSearch:
    """The matched filter's part of a search job (``job.PieceSearch``)."""

    kind, method = "search", "matched-filter"

    def __init__(self, config: SearchConfig, bank: SearchBank | str | Path | None = None,
                 progress: bool = False):
        self.config, self.given_bank, self.progress = config, bank, progress
        self.statistics = config.ranking.statistics
        self.bank: SearchBank | None = None
        self.fixed: FixedPSD | None = None
        self.pads: tuple[float, float] = (0.0, 0.0)
        self.filter_hash = ""
        self._filter: BlockFilter | None = None
        self._speed: list[tuple[float, float]] = []  # (strain s, CPU s) of each piece ranked

    def wanted_detectors(self) -> tuple[str, ...] | None:
        return self.config.detectors or None

    def prepare(self, out: Path, detectors: tuple[str, ...]) -> None:
        """Resolve the detectors, the PSD file and the bank (placed here when new)."""
        if len(detectors) < 2:
            raise ValueError(f"the strain holds one detector ({detectors[0]}); a coincident "
                             "search needs two or more")
        self.config = self.config.with_detectors(detectors)
        psd = self.config.filter.psd
        if psd.file:
            self.fixed = FixedPSD(*read_psd(psd.file, detectors))
        self.bank = _resolve_bank(out, self.config, self.given_bank, detectors[0],
                                  self.progress)
        self.config = replace(self.config, filter=replace(self.config.filter,
                                                          bank=self.bank.config))
        self.pads = padding(self.bank, self.config.filter)
        self.filter_hash = config_hash(self.settings(0))

    def shortest_seconds(self) -> float:
        """The least any bank needs: the padding without a template, plus a PSD segment."""
        segment = self.config.filter.psd.segment
        return 2 * (segment + TAPER) + max(1.0, segment)

    def min_samples(self) -> int:
        """The padding plus a PSD segment (a second at least) of analysed time."""
        return int((sum(self.pads) + max(1.0, self.config.filter.psd.segment)) * SAMPLE_RATE)

    def needs(self) -> str:
        (before, after), least = self.pads, max(1.0, self.config.filter.psd.segment)
        return (f"{before:g} s before the analysed time for the longest template, the PSD "
                f"segment and the taper, {after:g} s after it, and {least:g} s analysed; "
                "shorter templates (--mass-range) or --psd-segment shorten it")

    def longest_signal(self) -> float:
        return float(self._bank.durations.max()) + self.config.ranking.coinc_margin

    def _analysed(self, piece: Piece) -> tuple[int, int]:
        before, after = pad_samples(self.pads, SAMPLE_RATE)
        return piece[0] + before, piece[1] - after

    def seconds(self, piece: Piece) -> float:
        a, b = self._analysed(piece)
        return (b - a) / SAMPLE_RATE

    def period(self, piece: Piece) -> float:
        return self.seconds(piece)  # triggers slide within the analysed span

    def settings(self, count: int) -> dict[str, Any]:
        """What a piece's triggers depend on (slides and ranking apply when ranking)."""
        return {"filter": self.config.filter.to_dict(), "detectors": list(self.config.detectors),
                "bank_params": config_hash({"params": self._bank.params.round(12).tolist()})}

    def record(self) -> dict[str, Any]:
        return {"filter_hash": self.filter_hash, "bank": self._bank.summary(),
                "padding_s": list(self.pads)}

    @property
    def _bank(self) -> SearchBank:
        if self.bank is None:
            raise RuntimeError("the search is not prepared")
        return self.bank

    def _path(self, out: Path, piece: Piece) -> Path:
        return out / "segments" / f"{piece_name(piece)}.h5"

    def done(self, out: Path, piece: Piece, held: int) -> bool:
        return self._path(out, piece).is_file()

    def start_worker(self) -> None:
        self._filter = BlockFilter(self._bank, self.config.filter, SAMPLE_RATE)

    def score(self, out: Path, piece: Piece, data: np.ndarray, held: int,
              progress: Progress | None) -> None:
        """Filter one piece and write its triggers."""
        if self._filter is None:
            self.start_worker()
        started = time.process_time()
        segment = filter_segment(data, piece[0] / SAMPLE_RATE, self.config.detectors,
                                 self._filter, self.config.filter,
                                 pad_samples(self.pads, SAMPLE_RATE), self.fixed, progress)
        segment.cpu_seconds = time.process_time() - started
        write_segment(self._path(out, piece), segment, self.filter_hash)

    def triggers(self, out: Path, piece: Piece, held: int) -> PieceTriggers:
        """Every statistic's candidates of one piece at slides ``0 .. held``."""
        path = self._path(out, piece)
        segment, found = read_segment(path)
        if found != self.filter_hash:
            raise SettingsMismatchError(f"{path}: filtered with other settings; delete it")
        self._speed.append((segment.gps_stop - segment.gps_start, segment.cpu_seconds))
        step, ranking = self.config.slides.step, self.config.ranking
        tables = {s: pd.concat([segment_candidates(segment, self.config.detectors, s, ranking,
                                                   k, step) for k in range(held + 1)],
                               ignore_index=True) for s in self.statistics}
        a, b = segment.analysed
        return PieceTriggers(tables, (a, b), b - a, held)

    def summary(self) -> dict[str, Any]:
        """The filtering speed over the pieces ranked (each file records its CPU time)."""
        strain = sum(s for s, _ in self._speed)
        cpu = sum(c for _, c in self._speed)
        rate = strain * len(self.config.detectors) / cpu if cpu else None
        self._speed = []
        return {"filter_hash": self.filter_hash,
                "filtering": {"strain_seconds": strain, "cpu_seconds": cpu,
                              "strain_seconds_per_cpu_second_per_detector": rate}}


def _resolve_bank(out: Path, config: SearchConfig, bank: SearchBank | str | Path | None,
                  detector: str, progress: bool = False) -> SearchBank:
    """The folder's bank, else the given one, else a new one; saved as ``out/bank.hdf``."""
    path = out / BANK_FILE
    if isinstance(bank, str | Path):
        bank = load_search_bank(bank)
    if path.is_file():
        found = load_search_bank(path)
        if bank is None and found.config != config.filter.bank:
            raise SettingsMismatchError(f"{out}: its bank was placed with other settings; use "
                                        "another --out or the same bank settings")
        if bank is not None and not np.array_equal(bank.params, found.params):
            raise SettingsMismatchError(f"{out}: holds a search with another bank; use "
                                        "another --out or the same --bank")
        return found
    if bank is None:
        bank = default_bank(config.filter.bank, _design_name(detector))
        if bank is not None:
            log.info("the default bank: %d templates shipped with gwspec (%s)",
                     len(bank.params), DEFAULT_BANK.name)
    if bank is None:
        settings = config.filter.bank
        log.info("placing a bank of %d templates among %d prior draws against %s's design PSD "
                 "(a few minutes for 200; pass --bank BANK.hdf to reuse one)",
                 settings.n_templates, settings.n_templates * settings.candidates_per_template,
                 detector)
        bank = build_search_bank(settings, placement_psd(settings, _design_name(detector)),
                                 progress=progress)
    save_search_bank(bank, path)
    return bank


def _design_name(detector: str) -> str:
    return detector if detector in ("H1", "L1", "V1") else "H1"


def run_search(strain: str | Path | Sequence[str | Path], out: str | Path,
               config: SearchConfig | None = None, *, bank: SearchBank | str | Path | None = None,
               workers: int | None = None, progress: bool = True) -> Path:
    """Filter ``strain`` (files or folders) into ``out`` and rank it (module docstring)."""
    workers = (os.cpu_count() or 1) if workers is None else workers
    return run_job(MatchedFilterSearch(config or SearchConfig(), bank, progress), strain, out,
                   workers=workers, progress=progress)
