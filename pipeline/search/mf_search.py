"""The matched-filter search job over streams: segments, workers, resume, then ranking.

``run_search(strain, out, config)``:

1. Claims ``out`` (kind ``search``) and reads the strain files (``preprocess.stream.StrainSet``:
   gwspec, MLGWSC-1 or GWOSC layouts) into the segments ``read_segments`` yields: the
   detectors' common analysable time, in pieces of at most ``max_duration`` s.
2. The bank: ``out/bank.hdf`` when resuming, else the one given (``bank=``), else placed anew
   (``bank.build_search_bank``) and saved there.
3. ``search.json`` records the filter settings, the detectors, the segments, the bank and the
   library versions; a folder whose record differs is refused with each difference named.
4. Each segment without its file ``segments/<gps>-<seconds>.h5`` is filtered by a worker
   (``inspiral.filter_segment``) and written atomically: a run killed at any point resumes
   with the segments not yet written, and the result does not depend on the worker count.
5. Ranking (cheap, so redone on every run; ``RankingConfig`` and ``SlideConfig`` may change
   between runs): per statistic, the zero-lag candidates ``zerolag-<statistic>.hdf`` and the
   time-slide background ``slides-<statistic>.hdf`` (MLGWSC-1 trigger files, with CSVs), and
   ``result.json``: the resolved configuration, the background duration reached, the trigger
   counts, the filtering speed and the library versions.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.search import slides as slide_plan
from pipeline.search.bank import (
    SearchBank,
    build_search_bank,
    load_search_bank,
    placement_psd,
    save_search_bank,
)
from pipeline.search.coinc import light_travel_time, segment_candidates
from pipeline.search.config import SearchConfig
from pipeline.search.filter import BlockFilter, padding
from pipeline.search.inspiral import filter_segment, pad_samples
from pipeline.search.psd import FixedPSD, load_psd_file
from pipeline.search.triggers import read_segment, write_segment, write_trigger_file
from preprocess.errors import ignore_interrupt
from preprocess.outputs import claim_dir
from preprocess.provenance import (
    config_hash,
    library_versions,
    record_settings,
    write_json_atomic,
)
from preprocess.stream.config import SAMPLE_RATE, ReadOptions
from preprocess.stream.errors import BadSegmentError, SettingsMismatchError, StreamError
from preprocess.stream.readers import ReadReport, StrainSet, cached_strain_set

log = logging.getLogger(__name__)

KIND = "search"
SEARCH_FILE, RESULT_FILE, BANK_FILE = "search.json", "result.json", "bank.hdf"
METHOD = "matched-filter"
Piece = tuple[int, int]  # samples [a, b) at 2048 Hz from GPS 0


def read_options(config: SearchConfig) -> ReadOptions:
    return ReadOptions(dq_bits=config.dq_bits, min_duration=config.min_duration,
                       max_duration=config.max_duration, skip_bad=config.skip_bad)


def plan_pieces(strain: StrainSet, report: ReadReport) -> list[Piece]:
    """The segments ``read_segments`` yields: common time cut at ``max_duration``."""
    step = strain.options.max_duration
    pieces = []
    for start, stop in strain.segments(report):
        size = int(step * SAMPLE_RATE) if step else stop - start
        pieces += [(a, min(a + size, stop)) for a in range(start, stop, size)]
    return pieces


def usable(pieces: list[Piece], pads: tuple[float, float], config: SearchConfig,
           report: ReadReport) -> list[Piece]:
    """The pieces long enough to leave analysed time after the padding (and for a PSD);
    shorter ones (the tail of a segment cut at ``max_duration``) are counted as short."""
    shortest = (sum(pads) + max(1.0, config.filter.psd.segment)) * SAMPLE_RATE
    kept = [(a, b) for a, b in pieces if b - a >= shortest]
    for a, b in pieces:
        if b - a < shortest:
            report.short += 1
            report.short_seconds += (b - a) / SAMPLE_RATE
            log.info("skipped a %g-s segment: shorter than the padding", (b - a) / SAMPLE_RATE)
    if not kept:
        raise ValueError(f"no segment is longer than the {sum(pads):g} s of padding the "
                         "search needs (the longest template, the PSD and the tapers)")
    return kept


def piece_name(piece: Piece) -> str:
    a, b = piece
    return f"{a / SAMPLE_RATE:.0f}-{(b - a) / SAMPLE_RATE:g}.h5"


def _resolve_bank(out: Path, config: SearchConfig, bank: SearchBank | str | Path | None,
                  detector: str) -> SearchBank:
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
        bank = build_search_bank(config.filter.bank,
                                 placement_psd(config.filter.bank, _design_name(detector)))
    save_search_bank(bank, path)
    return bank


def _design_name(detector: str) -> str:
    return detector if detector in ("H1", "L1", "V1") else "H1"


def _record(out: Path, settings: dict[str, Any], extra: dict[str, Any]) -> None:
    """Write ``search.json``, or refuse a folder whose one differs (every difference named)."""
    record_settings(out / SEARCH_FILE, settings, extra, "a matched-filter search",
                    SettingsMismatchError)


# Worker state: one BlockFilter (the templates on the block grid) per process.
_STATE: dict[str, Any] = {}


def _init(paths: tuple[str, ...], detectors: tuple[str, ...], options: ReadOptions,
          bank: SearchBank, config: SearchConfig, fixed: FixedPSD | None) -> None:
    _STATE.update(paths=paths, detectors=detectors, options=options, config=config,
                  fixed=fixed, filter=BlockFilter(bank, config.filter, SAMPLE_RATE),
                  pads=pad_samples(padding(bank, config.filter), SAMPLE_RATE))


def _init_pool(*args: Any) -> None:
    ignore_interrupt()
    _init(*args)


def _run_piece(job: tuple[Path, Piece, str], progress: object | None = None) -> dict:
    """Filter one segment and write its file; returns what the job records of it."""
    path, (a, b), filter_hash = job
    strain = cached_strain_set(_STATE["paths"], _STATE["detectors"], _STATE["options"])
    seconds = (b - a) / SAMPLE_RATE
    try:
        data = strain.checked(a, b)
    except BadSegmentError as error:
        if not _STATE["options"].skip_bad:
            raise
        log.warning("skipped: %s", error)
        return {"piece": [a, b], "bad": str(error), "seconds": seconds}
    start = time.process_time()
    segment = filter_segment(data, a / SAMPLE_RATE, _STATE["detectors"], _STATE["filter"],
                             _STATE["config"].filter, _STATE["pads"], _STATE["fixed"], progress)
    segment.cpu_seconds = time.process_time() - start
    write_segment(path, segment, filter_hash)
    return {"piece": [a, b], "seconds": seconds}


def _jobs(jobs: list[tuple[Path, Piece, str]], workers: int, init_args: tuple,
          bar: tqdm) -> Iterator[dict]:
    if workers <= 1 or len(jobs) <= 1:
        _init(*init_args)
        for job in jobs:
            done = bar.n
            record = _run_piece(job, bar)
            bar.update(record["seconds"] - (bar.n - done))  # the padding the blocks skip
            yield record
        return
    with multiprocessing.get_context().Pool(min(workers, len(jobs)), initializer=_init_pool,
                                            initargs=init_args) as pool:
        for record in pool.imap_unordered(_run_piece, jobs):
            bar.update(record["seconds"])
            yield record


@dataclass
class Plan:
    """What a run filters: the resolved configuration, the files, bank and segments."""

    config: SearchConfig  # detectors and bank resolved
    paths: tuple[str, ...]
    bank: SearchBank
    pieces: list[Piece]
    filter_hash: str
    fixed: FixedPSD | None  # a PSD file's, or None for the running estimate
    report: ReadReport


def plan_search(strain: Sequence[str | Path], out: Path, config: SearchConfig,
                bank: SearchBank | str | Path | None) -> Plan:
    """Read the files, resolve detectors and bank, cut the segments and record (or check)
    ``search.json``."""
    paths = tuple(str(p) for p in strain)
    report = ReadReport()
    strain_set = StrainSet(paths, config.detectors or None, read_options(config))
    detectors = strain_set.detectors
    if len(detectors) < 2:
        raise StreamError(strain_set.files[0], f"holds one detector ({detectors[0]}); a "
                          "coincident search needs two or more")
    config = replace(config, detectors=detectors)
    fixed = None
    if config.filter.psd.file:
        fixed = FixedPSD(*load_psd_file(config.filter.psd.file, detectors))
    bank = _resolve_bank(out, config, bank, detectors[0])
    config = replace(config, filter=replace(config.filter, bank=bank.config))
    pads = padding(bank, config.filter)
    pieces = usable(plan_pieces(strain_set, report), pads, config, report)
    longest = float(bank.durations.max()) + max(light_travel_time(a, b) for a in detectors
                                                for b in detectors if a != b)
    slide_plan.check_step(config.slides.step, longest + config.ranking.coinc_margin,
                          "the longest template, plus the light-travel time")
    settings = {"filter": config.filter.to_dict(), "detectors": list(detectors),
                "segments": [[a / SAMPLE_RATE, (b - a) / SAMPLE_RATE] for a, b in pieces],
                "bank_params": config_hash({"params": bank.params.round(12).tolist()})}
    filter_hash = config_hash(settings)
    _record(out, settings, {"filter_hash": filter_hash, "bank": bank.summary(),
                            "padding_s": list(pads), "files": list(paths)})
    return Plan(config, paths, bank, pieces, filter_hash, fixed, report)


def run_search(strain: str | Path | Sequence[str | Path], out: str | Path,
               config: SearchConfig | None = None, *, bank: SearchBank | str | Path | None = None,
               workers: int | None = None, progress: bool = True) -> Path:
    """Filter ``strain`` (files or folders) into ``out`` and rank it (module docstring)."""
    out = Path(out)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    claim_dir(out, KIND)
    plan = plan_search([strain] if isinstance(strain, str | Path) else strain, out,
                       config or SearchConfig(), bank)
    (out / "segments").mkdir(exist_ok=True)
    jobs = [(out / "segments" / piece_name(p), p, plan.filter_hash) for p in plan.pieces
            if not (out / "segments" / piece_name(p)).is_file()]
    total = sum(b - a for a, b in plan.pieces) / SAMPLE_RATE
    pending = sum(b - a for _, (a, b), _ in jobs) / SAMPLE_RATE
    log.info("matched-filter search of %g s (%s) in %d segment(s) into %s: %d to filter, "
             "%d worker(s), %d templates", total, " ".join(plan.config.detectors),
             len(plan.pieces), out, len(jobs), workers, len(plan.bank.params))
    init_args = (plan.paths, plan.config.detectors, read_options(plan.config), plan.bank,
                 plan.config, plan.fixed)
    with tqdm(total=total, initial=total - pending, unit="s", desc="matched-filter search",
              disable=not progress) as bar:
        records = list(_jobs(jobs, workers, init_args, bar))
    rank_search(out, plan.config, plan.filter_hash, plan.pieces, records, plan.report)
    return out


def _load_segments(out: Path, pieces: list[Piece], filter_hash: str) -> list:
    segments = []
    for piece in pieces:
        path = out / "segments" / piece_name(piece)
        if not path.is_file():
            continue  # a bad piece skipped with skip_bad
        segment, found = read_segment(path)
        if found != filter_hash:
            raise SettingsMismatchError(f"{path}: filtered with other settings; delete it")
        segments.append(segment)
    return segments


def rank_search(out: Path, config: SearchConfig, filter_hash: str, pieces: list[Piece],
                records: list[dict], report: ReadReport) -> dict[str, Any]:
    """Coincidence, ranking and slides over the stored segments; writes the trigger files and
    ``result.json`` (module docstring) and returns its record."""
    segments = _load_segments(out, pieces, filter_hash)
    detectors = config.detectors
    spans = [s.analysed[1] - s.analysed[0] for s in segments]
    step = config.slides.step
    count = slide_plan.slide_count(config.slides, spans)
    analysed = np.array([s.analysed for s in segments]).reshape(-1, 2)
    background = slide_plan.background_seconds(spans, count, step, len(detectors))
    outputs = {}
    for statistic in config.ranking.statistics:
        attrs = {"statistic": statistic, "search": METHOD, "detectors": " ".join(detectors),
                 "slide_step": step}
        zero = [segment_candidates(s, detectors, statistic, config.ranking, 0, step)
                for s in segments]
        zerolag = write_trigger_file(out / f"zerolag-{statistic}.hdf", _concat(zero),
                                     attrs | {"duration": float(sum(spans)), "slides": 0},
                                     analysed)
        outputs[statistic] = {"zerolag": zerolag.name, "n_zerolag": int(sum(map(len, zero)))}
        if count:
            slid = [segment_candidates(s, detectors, statistic, config.ranking, k, step)
                    for s, span in zip(segments, spans, strict=True)
                    for k in range(1, slide_plan.slides_in(span, count, step, len(detectors)) + 1)]
            path = write_trigger_file(out / f"slides-{statistic}.hdf", _concat(slid),
                                      attrs | {"duration": background, "slides": count},
                                      analysed)
            outputs[statistic] |= {"slides": path.name, "n_slides": int(sum(map(len, slid)))}
    record = {"config": config.to_dict(), "filter_hash": filter_hash,
              "analysed_seconds": float(sum(spans)), "segments": len(segments),
              "slides": {"count": count, "step": step, "background_seconds": background,
                         "per_segment": [slide_plan.slides_in(s, count, step, len(detectors))
                                         for s in spans]},
              "outputs": outputs, "read_report": asdict(report),
              "bad_segments": [r["bad"] for r in records if "bad" in r],
              "filtering": _speed(segments, len(detectors)), "versions": library_versions()}
    write_json_atomic(out / RESULT_FILE, record)
    log.info("background: %d slide(s) of %g s analysed = %.3g s", count, sum(spans), background)
    return record


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    tables = [t for t in tables if len(t)]
    if not tables:
        return pd.DataFrame({"time": [], "stat": [], "var": [], "slide": []})
    return pd.concat(tables, ignore_index=True)


def _speed(segments: list, n_detectors: int) -> dict[str, Any]:
    """Filtering speed over every segment (each file records its own CPU time)."""
    seconds = sum(s.gps_stop - s.gps_start for s in segments)
    cpu = sum(s.cpu_seconds for s in segments)
    rate = seconds * n_detectors / cpu if cpu else None
    return {"strain_seconds": seconds, "cpu_seconds": cpu,
            "strain_seconds_per_cpu_second_per_detector": rate}
