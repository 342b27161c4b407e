"""The search job, one for both searches: strain in, pieces searched, ranked trigger files out.

``run_job(search, strain, out, read, slides)``:

1. Claims ``out`` (the search's output kind) and opens the strain files
   (``preprocess.stream.StrainSet``: gwspec, MLGWSC-1 or GWOSC layouts): the detectors' common
   analysable time, refused in one line when no segment is long enough, before anything
   expensive runs.
2. ``search.prepare(out, detectors)``: the models, or the template bank.
3. The pieces: common segments cut at ``read.max_duration`` s; pieces too short for the search
   (``search.min_samples``) are counted as short. The slide count is set from them
   (``slides.slide_count``).
4. ``search.json`` records what the stored results depend on (``search.settings()``, the
   detectors, the pieces and each strain file's content identity) and refuses a folder whose
   record differs, each difference named.
5. Each piece of this rank (every ``world``-th under torchrun; ``workers`` processes share
   them) that is not done: its strain read and checked, then ``search.score`` writes its
   results atomically. A bad piece (NaN, implausible values) stops the job in one line, or
   with ``read.skip_bad`` is skipped: ``segments/<piece>.bad.json`` records why, and the
   piece is counted and left out of the analysed time. A run killed at any point resumes
   with the pieces not yet done.
6. Once every piece is done or skipped, the ranking (cheap, redone on every run):
   ``search.triggers`` of each analysed piece; per statistic, the zero-lag trigger file
   ``zerolag-<statistic>.hdf`` and the slides' ``slides-<statistic>.hdf`` (MLGWSC-1 files,
   with CSVs, recording what produced them: ``triggers.PROVENANCE``), and ``result.json``:
   the configuration, the analysed and skipped time, the slides requested and run, the
   background reached, what was read and skipped, and the search's own figures. A job that
   analysed nothing says so and fails.

A search supplies only what is its own (``PieceSearch``): how to score one piece, and the
triggers of one piece.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.search import slides as slide_plan
from pipeline.search.config import SlideConfig
from pipeline.search.sites import longest_light_travel
from pipeline.search.triggers import write_trigger_file
from preprocess.stream.config import SAMPLE_RATE, ReadOptions
from preprocess.stream.errors import BadSegmentError, SettingsMismatchError
from preprocess.stream.readers import ReadReport, StrainSet, cached_strain_set
from runtime import devices
from runtime.errors import ignore_interrupt
from runtime.outputs import claim_dir
from runtime.provenance import library_versions, record_settings, write_json_atomic

log = logging.getLogger(__name__)

SEARCH_FILE, RESULT_FILE = "search.json", "result.json"
Piece = tuple[int, int]  # samples [a, b) at 2048 Hz from GPS 0
Progress = Callable[[float], None]  # advances a bar by seconds of strain


class NothingAnalysedError(ValueError):
    """A search whose every piece was skipped: there are no triggers to stand for anything."""


@dataclass
class PieceTriggers:
    """What one piece gives the ranking."""

    tables: dict[str, pd.DataFrame]  # per statistic: time, stat, var, slide (0 .. slides), ...
    analysed: tuple[float, float]  # GPS span its triggers (and the injections found) lie in
    seconds: float  # s of strain it stands for, per slide
    slides: int  # slides of 1 .. count it ran


class PieceSearch(Protocol):
    """What a search supplies to the job (see the module docstring)."""

    kind: str  # output folder kind (runtime.outputs)
    method: str  # trigger files' ``search`` attribute
    statistics: tuple[str, ...]  # one trigger file per statistic
    config: Any  # its configuration, with to_dict(), read and slides

    def wanted_detectors(self) -> tuple[str, ...] | None: ...
    def shortest_seconds(self) -> float: ...
    def prepare(self, out: Path, detectors: tuple[str, ...]) -> None: ...
    def min_samples(self) -> int: ...
    def needs(self) -> str: ...
    def longest_signal(self) -> float: ...
    def seconds(self, piece: Piece) -> float: ...
    def period(self, piece: Piece) -> float: ...
    def settings(self, count: int) -> dict[str, Any]: ...
    def record(self) -> dict[str, Any]: ...
    def done(self, out: Path, piece: Piece, held: int) -> bool: ...
    def start_worker(self) -> None: ...
    def score(self, out: Path, piece: Piece, data: np.ndarray, held: int,
              progress: Progress | None) -> None: ...
    def triggers(self, out: Path, piece: Piece, held: int) -> PieceTriggers: ...
    def summary(self) -> dict[str, Any]: ...


def piece_name(piece: Piece) -> str:
    """``<GPS start>-<seconds>``: a piece's files in ``segments/`` are named by it."""
    a, b = piece
    return f"{a / SAMPLE_RATE:.0f}-{(b - a) / SAMPLE_RATE:g}"


def bad_marker(out: Path, piece: Piece) -> Path:
    """The record of a piece skipped for bad strain (``read.skip_bad``)."""
    return out / "segments" / f"{piece_name(piece)}.bad.json"


@dataclass
class Plan:
    """What a run searches: the strain, its pieces and slides, and what is recorded."""

    strain: StrainSet
    pieces: list[Piece]
    count: int  # slides requested (each piece runs as many of 1 .. count as it holds)
    report: ReadReport
    held: dict[Piece, int] = field(default_factory=dict)  # slides each piece runs


def plan_pieces(segments: Sequence[tuple[int, int]], max_duration: float | None,
                min_samples: int, report: ReadReport) -> list[Piece]:
    """Segments cut at ``max_duration`` s; pieces shorter than ``min_samples`` counted as
    short in ``report`` and left out."""
    pieces = []
    for start, stop in segments:
        size = int(max_duration * SAMPLE_RATE) if max_duration else stop - start
        for a in range(start, stop, size):
            b = min(a + size, stop)
            if b - a >= min_samples:
                pieces.append((a, b))
            else:
                report.short += 1
                report.short_seconds += (b - a) / SAMPLE_RATE
                log.info("skipped a %g-s piece: shorter than the %g s the search needs",
                         (b - a) / SAMPLE_RATE, min_samples / SAMPLE_RATE)
    return pieces


def plan_job(search: PieceSearch, paths: tuple[str, ...], out: Path) -> Plan:
    """Steps 1-4 of the module docstring."""
    read: ReadOptions = search.config.read
    slides: SlideConfig = search.config.slides
    report = ReadReport()
    strain = StrainSet(paths, search.wanted_detectors(), read)
    # before anything expensive: no segment shorter than the least any search setting needs
    segments = strain.segments(report, search.shortest_seconds())
    search.prepare(out, strain.detectors)
    pieces = plan_pieces(segments, read.max_duration, search.min_samples(), report)
    if not pieces:
        raise ValueError(f"{strain.files[0]}: no piece of strain is long enough for this "
                         f"search: it needs {search.min_samples() / SAMPLE_RATE:g} s "
                         f"({search.needs()}), the longest is "
                         f"{max(b - a for a, b in segments) / SAMPLE_RATE:g} s")
    if slides.wanted:
        slide_plan.check_step(slides.step, search.longest_signal()
                              + longest_light_travel(strain.detectors),
                              "the longest template or window, plus the light-travel time")
    count = slide_plan.slide_count(slides, [search.seconds(p) for p in pieces])
    plan = Plan(strain, pieces, count, report)
    plan.held = {p: slide_plan.slides_in(search.period(p), count, slides.step,
                                         len(strain.detectors)) for p in pieces}
    settings = {**search.settings(count), "detectors": list(strain.detectors),
                "segments": [[a / SAMPLE_RATE, (b - a) / SAMPLE_RATE] for a, b in pieces],
                "files": strain.identities()}
    record_settings(out / SEARCH_FILE, settings, search.record(), f"a {search.method} search",
                    SettingsMismatchError)
    return plan


def run_job(search: PieceSearch, strain: str | Path | Sequence[str | Path], out: str | Path,
            workers: int = 1, progress: bool = True) -> Path:
    """Search ``strain`` (files or folders) into ``out`` and rank it (module docstring)."""
    out = Path(out)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    paths = tuple(str(p) for p in ([strain] if isinstance(strain, str | Path) else strain))
    rank, world = int(os.environ.get("RANK", "0")), devices.world_size()
    claim_dir(out, search.kind, rank=rank)
    plan = plan_job(search, paths, out)
    (out / "segments").mkdir(exist_ok=True)
    mine = [p for i, p in enumerate(plan.pieces) if i % world == rank]
    todo = [p for p in mine if not _settled(search, out, p, plan.held[p])]
    seconds = {p: (p[1] - p[0]) / SAMPLE_RATE for p in mine}
    total = sum(seconds.values())
    log.info("%s search of %g s (%s) in %d piece(s) into %s: %d to search, %d worker(s)",
             search.method, total, " ".join(plan.strain.detectors), len(mine), out, len(todo),
             workers)
    with tqdm(total=total, initial=total - sum(seconds[p] for p in todo), unit="s",
              desc=f"{search.method} search", disable=not progress) as bar:
        for record in _search_pieces(search, plan, out, todo, workers, bar):
            if "bad" in record:
                write_json_atomic(bad_marker(out, tuple(record["piece"])), record)
    if all(_settled(search, out, p, plan.held[p]) for p in plan.pieces):
        rank_job(search, out, plan.pieces, plan.count, plan.held, plan.report,
                 plan.strain.detectors, plan.strain.identities(), plan.strain.streams)
    else:
        log.info("%s: pieces of other ranks are still missing; the last rank to finish ranks",
                 out)
    return out


def _settled(search: PieceSearch, out: Path, piece: Piece, held: int) -> bool:
    """Whether a piece needs no more work: searched, or skipped for bad strain."""
    return bad_marker(out, piece).is_file() or search.done(out, piece, held)


# Worker state: the search and its strain, once per process.
_WORKER: dict[str, Any] = {}


def _start(search: PieceSearch, plan: Plan) -> None:
    strain = plan.strain
    _WORKER.update(search=search, held=plan.held,
                   strain=cached_strain_set(tuple(map(str, strain.files)), strain.detectors,
                                            strain.options))
    search.start_worker()


def _start_pool(search: PieceSearch, plan: Plan) -> None:
    ignore_interrupt()
    _start(search, plan)


def _search_piece(job: tuple[Path, Piece], progress: Progress | None = None) -> dict[str, Any]:
    """Read, check and score one piece; what the job records of it."""
    out, piece = job
    a, b = piece
    seconds = (b - a) / SAMPLE_RATE
    strain: StrainSet = _WORKER["strain"]
    try:
        data = strain.conditioned(a, b)
    except BadSegmentError as error:
        if not strain.options.skip_bad:
            raise
        log.warning("skipped: %s", error)
        return {"piece": [a, b], "bad": str(error), "seconds": seconds}
    _WORKER["search"].score(out, piece, data, _WORKER["held"][piece], progress)
    return {"piece": [a, b], "seconds": seconds}


def _search_pieces(search: PieceSearch, plan: Plan, out: Path, todo: list[Piece], workers: int,
                   bar: tqdm) -> Iterator[dict[str, Any]]:
    jobs = [(out, p) for p in todo]
    if workers <= 1 or len(jobs) <= 1:
        _start(search, plan)
        for job in jobs:
            before = bar.n
            record = _search_piece(job, bar.update)
            bar.update(record["seconds"] - (bar.n - before))  # what the piece did not report
            yield record
        return
    context = multiprocessing.get_context()
    with context.Pool(min(workers, len(jobs)), initializer=_start_pool,
                      initargs=(search, plan)) as pool:
        for record in pool.imap_unordered(_search_piece, jobs):
            bar.update(record["seconds"])
            yield record


def _skipped(out: Path, pieces: Sequence[Piece]) -> list[dict[str, Any]]:
    """The records of the pieces skipped for bad strain, in time order."""
    return [json.loads(bad_marker(out, p).read_text()) for p in pieces
            if bad_marker(out, p).is_file()]


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    tables = [t for t in tables if len(t)]
    if not tables:
        return pd.DataFrame({"time": [], "stat": [], "var": [], "slide": []})
    return pd.concat(tables, ignore_index=True)


def rank_job(search: PieceSearch, out: Path, pieces: Sequence[Piece], count: int,
             held: dict[Piece, int], report: ReadReport, detectors: tuple[str, ...],
             files: dict[str, str], streams: Sequence[str]) -> dict[str, Any]:
    """Step 6 of the module docstring: the trigger files and ``result.json``; returns the
    record written."""
    skipped = _skipped(out, pieces)
    bad = {tuple(s["piece"]) for s in skipped}
    report.bad, report.bad_seconds = len(skipped), sum(s["seconds"] for s in skipped)
    report.problems = [s["bad"] for s in skipped]
    analysed = [p for p in pieces if p not in bad]
    if not analysed:
        raise NothingAnalysedError(
            f"{out}: nothing analysed: every one of the {len(pieces)} piece(s) "
            f"({report.bad_seconds:g} s) was skipped for bad strain (first: "
            f"{skipped[0]['bad']}); see {bad_marker(out, pieces[0]).parent}")
    parts = [search.triggers(out, p, held[p]) for p in analysed]
    seconds = float(sum(t.seconds for t in parts))
    background = float(sum(t.slides * t.seconds for t in parts))
    run = max(t.slides for t in parts)
    spans = np.array([t.analysed for t in parts]).reshape(-1, 2)
    attrs = {"search": search.method, "detectors": " ".join(detectors),
             "slide_step": search.config.slides.step,
             "strain": _digest(files), **({"stream": " ".join(streams)} if streams else {})}
    outputs: dict[str, Any] = {}
    for statistic in search.statistics:
        every = _concat([t.tables[statistic] for t in parts])
        zero, slid = every[every["slide"] == 0], every[every["slide"] > 0]
        stat_attrs = attrs | {"statistic": statistic}
        path = write_trigger_file(out / f"zerolag-{statistic}.hdf", zero,
                                  stat_attrs | {"duration": seconds, "slides": 0}, spans)
        outputs[statistic] = {"zerolag": path.name, "n_zerolag": len(zero)}
        if count:
            path = write_trigger_file(out / f"slides-{statistic}.hdf", slid,
                                      stat_attrs | {"duration": background, "slides": run}, spans)
            outputs[statistic] |= {"slides": path.name, "n_slides": len(slid)}
    record = {"search": search.method, "config": search.config.to_dict(),
              "detectors": list(detectors),
              "strain": {"files": len(files), "identity": attrs["strain"],
                         "streams": list(streams)},
              "analysed_seconds": seconds,
              "segments": len(analysed),
              "skipped": {"pieces": len(skipped), "seconds": report.bad_seconds,
                          "reasons": report.problems},
              "slides": {"requested": count, "count": run, "step": search.config.slides.step,
                         "background_seconds": background,
                         "per_segment": [t.slides for t in parts]},
              "outputs": outputs, "read_report": asdict(report), **search.summary(),
              "versions": library_versions()}
    write_json_atomic(out / RESULT_FILE, record)
    if skipped:
        log.warning("%s: %d piece(s), %g s, skipped for bad strain and left out of the "
                    "analysed time", out, len(skipped), report.bad_seconds)
    log.info("%s: %g s analysed; %d slide(s) run (%d requested) = %.3g s of background", out,
             seconds, run, count, background)
    return record


def _digest(files: dict[str, str]) -> str:
    """One identity of all strain files searched: their content identities, hashed."""
    from runtime.provenance import config_hash

    return config_hash({"files": sorted(files.values())})
