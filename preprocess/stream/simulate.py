"""The ``simulate-stream`` job: every chunk of a stream, in parallel, resumable, then its tables.

1. Claim the output folder (kind ``stream``) and resolve the plan: the segments (simulated from
   the configuration, or the real-noise files' common analysable time, checked piece by
   piece), and the detectors.
2. ``stream.json`` records the resolved configuration, the plan and library versions. A folder
   whose ``stream.json`` differs in configuration or plan is refused, naming each difference.
3. Each chunk missing its files is made by a worker (``chunk.make_chunk``) and written
   atomically, background then foreground: a chunk with its last file is complete, so an
   interrupted run resumes where it stopped. The files do not depend on the worker count.
4. The tables (``tables.py``), optionally the MLGWSC-1 strain files, then ``manifest.json``:
   its presence means the stream is complete.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from preprocess.stream.chunk import injection_columns, make_chunk
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.errors import BadSegmentError, SettingsMismatchError, StreamError
from preprocess.stream.glitches import COLUMNS as GLITCH_COLUMNS
from preprocess.stream.injections import check_edge, segment_injections
from preprocess.stream.layout import KINDS, chunk_name, write_chunk
from preprocess.stream.plan import (
    Chunk,
    Segment,
    chunks_of,
    segments_from_spans,
    simulated_segments,
)
from preprocess.stream.readers import ReadReport, StrainSet, cached_strain_set
from preprocess.stream.tables import write_outputs
from runtime.errors import ignore_interrupt
from runtime.outputs import claim_dir
from runtime.provenance import (
    config_hash,
    library_versions,
    record_settings,
    settings_differences,
    write_json_atomic,
)

logger = logging.getLogger(__name__)

STREAM_FILE = "stream.json"
MANIFEST_FILE = "manifest.json"
KIND = "stream"


def chunk_path(out: Path, config: StreamConfig, chunk: Chunk, kind: str) -> Path:
    return out / kind / chunk_name(kind, config.detectors, chunk.start, chunk.duration)


def real_noise_plan(config: StreamConfig) -> tuple[StreamConfig, list[Segment], ReadReport]:
    """Detectors, whole-second segments and what was skipped, from the real-noise files.

    Common segments are rounded inward to whole seconds and checked chunk by chunk: a bad
    chunk stops the job, or with ``skip_bad`` is left out (the segment splits there).
    """
    report = ReadReport()
    strain = StrainSet(config.real_noise, config.detectors or None, config.read)
    config = dataclasses.replace(config, detectors=strain.detectors)
    spans = []
    for a, b in strain.segments(report):
        first, last = -(-a // SAMPLE_RATE), b // SAMPLE_RATE
        for start in range(first, last, config.chunk_duration):
            stop = min(start + config.chunk_duration, last)
            try:
                strain.checked(start * SAMPLE_RATE, stop * SAMPLE_RATE)
            except BadSegmentError as error:
                if not config.read.skip_bad:
                    raise
                report.bad += 1
                report.bad_seconds += stop - start
                report.problems.append(str(error))
                logger.warning("skipped: %s", error)
                continue
            if spans and spans[-1][1] == start:
                spans[-1] = (spans[-1][0], stop)
            else:
                spans.append((start, stop))
    if not spans:
        raise StreamError(strain.files[0], "every segment was bad and skipped")
    return config, segments_from_spans(spans, config.duration), report


def resolve(config: StreamConfig) -> tuple[StreamConfig, list[Segment], dict[str, Any]]:
    """The configuration with its detectors resolved, the segments, and what to record."""
    if config.simulated:
        return config, simulated_segments(config), {}
    config, segments, report = real_noise_plan(config)
    return config, segments, {"read_report": dataclasses.asdict(report)}


def check_holds_injections(config: StreamConfig, segments: list[Segment]) -> None:
    """Refuse, before anything is written, a stream that asks for injections and has room for
    none (its foreground would equal its background)."""
    if config.has_injections and not any(segment_injections(config, s) for s in segments):
        longest = max((s.duration for s in segments), default=0)
        room = 2 * (config.injection_edge + config.injection_jitter)
        raise ValueError(f"no injection fits: the longest segment is {longest} s, and an "
                         f"injection's tc keeps {config.injection_edge:g} + "
                         f"{config.injection_jitter:g} s from each edge ({room:g} s in all); "
                         "lengthen --duration (or --segment-duration), or pass "
                         "--injection-spacing 0 for a stream of noise only")


def _settings(config: StreamConfig, segments: list[Segment]) -> dict[str, Any]:
    return {"config": config.to_dict(), "segments": [[s.start, s.duration] for s in segments]}


def _shown(key: str, value: Any) -> str:
    if key == "segments" and isinstance(value, list) and value:
        seconds = sum(duration for _, duration in value)
        return f"{len(value)} segment(s), {seconds} s from GPS {value[0][0]}"
    return repr(value)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted names of settings that differ between two nested dicts, with both values."""
    return settings_differences(old, new, render=lambda name, a, b: (
        f"{name}: folder has {_shown(name.split('.')[-1], a)}, requested "
        f"{_shown(name.split('.')[-1], b)}"))


def _record_settings(out: Path, settings: dict[str, Any], extra: dict[str, Any]) -> None:
    """Write ``stream.json``, or check that the one there has the same settings."""
    path = out / STREAM_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        differences = _differences({k: old.get(k) for k in settings}, settings)
        if differences:
            raise SettingsMismatchError(f"{out}: holds a stream made with other settings; use "
                                        "another --out or delete it. " + "; ".join(differences))
        return
    record_settings(path, settings, {**extra, "config_hash": config_hash(settings["config"])},
                    "a stream", SettingsMismatchError)


def _is_done(out: Path, config: StreamConfig, chunk: Chunk) -> bool:
    last = "foreground" if config.has_injections else "background"
    return chunk_path(out, config, chunk, last).is_file()


def _strain_of(config: StreamConfig) -> StrainSet | None:
    if config.simulated:
        return None
    return cached_strain_set(config.real_noise, config.detectors, config.read)


def _run_chunk(config: StreamConfig, out: Path, chunk: Chunk) -> int:
    """Make and write one chunk's files; returns its seconds (for the progress bar)."""
    files = make_chunk(config, chunk, _strain_of(config))
    settings = config.to_dict()
    columns = injection_columns(config)
    for kind, data in zip(KINDS, files, strict=True):
        if data is not None:
            write_chunk(chunk_path(out, config, chunk, kind), data, settings, config.dtype,
                        GLITCH_COLUMNS, columns)
    return chunk.duration


def _worker(args: tuple[StreamConfig, Path, Chunk]) -> int:
    return _run_chunk(*args)


def _done_seconds(config: StreamConfig, out: Path, chunks: list[Chunk],
                  workers: int) -> Iterator[int]:
    if workers == 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield _run_chunk(config, out, chunk)
        return
    with multiprocessing.get_context().Pool(min(workers, len(chunks)),
                                            initializer=ignore_interrupt) as pool:
        yield from pool.imap_unordered(_worker, [(config, out, c) for c in chunks])


def simulate_stream(config: StreamConfig, out: str | Path, *, workers: int | None = None,
                    mlgwsc: bool = False, progress: bool = True) -> Path:
    """Write (or resume) the stream of ``config`` into ``out``; returns ``out``.

    ``workers`` defaults to the CPU count and does not change the files; ``mlgwsc`` also
    writes the background and foreground in the MLGWSC-1 layout.
    """
    out = Path(out)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    check_edge(config)
    claim_dir(out, KIND)
    config, segments, extra = resolve(config)
    check_holds_injections(config, segments)
    settings = _settings(config, segments)
    _record_settings(out, settings, extra)
    wanted = mlgwsc and not (out / "mlgwsc" / "background.hdf").is_file()
    if (out / MANIFEST_FILE).is_file() and not wanted:
        logger.info("%s: the stream is complete; nothing to do", out)
        return out
    chunks = chunks_of(segments, config.chunk_duration)
    pending = [c for c in chunks if not _is_done(out, config, c)]
    total = sum(c.duration for c in chunks)
    logger.info("stream of %d s in %d chunk(s) into %s: %d to make, %d worker(s)", total,
                len(chunks), out, len(pending), workers)
    with tqdm(total=total, initial=total - sum(c.duration for c in pending), unit="s",
              disable=not progress, desc="simulate-stream") as bar:
        for seconds in _done_seconds(config, out, pending, workers):
            bar.update(seconds)
    summary = write_outputs(out, config, chunks, mlgwsc)
    write_json_atomic(out / MANIFEST_FILE, summary | extra | {"versions": library_versions()})
    return out
