"""The network search job over streams: segments, windows, slides, resume, then triggers.

``run_network_search(strain, checkpoints, out, config)``:

1. Claims ``out`` (kind ``network-search``), rebuilds the models (``network.NetworkModels``)
   and reads the strain files of their detectors (``preprocess.stream.StrainSet``: gwspec,
   MLGWSC-1 or GWOSC layouts) into segments of at most ``max_duration`` s.
2. ``search.json`` records the settings that make the scores (checkpoints, windows, PSD,
   slides) and the segments; a folder whose record differs is refused, naming each
   difference.
3. Each segment: its windows' images are made once (``windows.segment_images``, whitened by
   the running PSD of the data around), then scored at every slide it holds
   (``network.slide_logits``), in chunks of slides written atomically to
   ``segments/<gps>-<seconds>/scores-<first>-<last>.npy`` ``(slides, W)`` float32: a run killed
   at any point resumes with the chunks not yet written (their images made again). Under
   ``torchrun`` each rank takes every ``world_size``-th segment; the last to finish ranks.
4. Ranking (cheap, redone on every run with any ``integrate``, ``cluster_window``, ``var``):
   per slide, each window's score averaged over ``integrate`` consecutive windows, then the
   loudest within ``cluster_window`` s kept (``coinc.cluster``); a trigger's time is its
   first detector's window start plus the middle of the training's merger range. The
   zero-lag triggers go to ``zerolag-network.hdf``, the slides' to ``slides-network.hdf``
   (MLGWSC-1 trigger files, with CSVs), and ``result.json`` records the configuration, the
   background time reached and the speed (seconds of strain per second).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.search import slides as slide_plan
from pipeline.search.coinc import cluster
from pipeline.search.config import NetworkSearchConfig
from pipeline.search.network import NetworkModels, slide_logits
from pipeline.search.triggers import write_trigger_file
from pipeline.search.windows import TrainingPSD, WindowPSD, segment_images, window_starts
from preprocess import devices
from preprocess.images import ImageMaker
from preprocess.outputs import claim_dir
from preprocess.provenance import (
    atomic_path,
    config_hash,
    library_versions,
    record_settings,
    write_json_atomic,
)
from preprocess.stream.config import SAMPLE_RATE, ReadOptions
from preprocess.stream.errors import BadSegmentError, SettingsMismatchError, StreamError
from preprocess.stream.readers import ReadReport, StrainSet

log = logging.getLogger(__name__)

KIND = "network-search"
SEARCH_FILE, RESULT_FILE = "search.json", "result.json"
METHOD = "network"
Piece = tuple[int, int]  # samples [a, b) at 2048 Hz from GPS 0


def piece_dir(out: Path, piece: Piece) -> Path:
    a, b = piece
    return out / "segments" / f"{a / SAMPLE_RATE:.0f}-{(b - a) / SAMPLE_RATE:g}"


def slide_chunks(count: int, size: int) -> list[tuple[int, int]]:
    """Slides ``0 .. count`` (0 the zero lag) in chunks ``[first, last]`` of ``size``."""
    return [(k, min(k + size - 1, count)) for k in range(0, count + 1, size)]


def chunk_path(out: Path, piece: Piece, chunk: tuple[int, int]) -> Path:
    return piece_dir(out, piece) / f"scores-{chunk[0]:05d}-{chunk[1]:05d}.npy"


def _plan(strain: StrainSet, config: NetworkSearchConfig, report: ReadReport) -> list[Piece]:
    """Common segments cut at ``max_duration``; pieces too short for a PSD and one window
    counted as short."""
    size = int(config.max_duration * SAMPLE_RATE)
    shortest = int(max(8.0, config.window_seconds) * SAMPLE_RATE)
    pieces = []
    for start, stop in strain.segments(report):
        for a in range(start, stop, size):
            b = min(a + size, stop)
            if b - a >= shortest:
                pieces.append((a, b))
            else:
                report.short += 1
                report.short_seconds += (b - a) / SAMPLE_RATE
    if not pieces:
        raise ValueError("no segment is long enough for a network search (8 s at least)")
    return pieces


def _settings(config: NetworkSearchConfig, network: NetworkModels, detectors: tuple[str, ...],
              pieces: list[Piece], files: Sequence[str]) -> dict[str, Any]:
    """What the stored scores depend on (``search.json``)."""
    scoring = {k: v for k, v in config.to_dict().items() if k not in NetworkSearchConfig.RANKING}
    return {"scoring": scoring, "checkpoints": network.checkpoints,
            "image_recipe": config_hash({k: v for k, v in network.cache_config.items()
                                         if k != "psd_sha256"}),
            "detectors": list(detectors),
            "segments": [[a / SAMPLE_RATE, (b - a) / SAMPLE_RATE] for a, b in pieces],
            "files": list(files)}


def _record(out: Path, settings: dict[str, Any]) -> None:
    """Write ``search.json``, or refuse a folder whose one differs (every difference named)."""
    record_settings(out / SEARCH_FILE, settings, {}, "a network search", SettingsMismatchError)


def run_network_search(strain: str | Path | Sequence[str | Path],
                       checkpoints: Sequence[str | Path], out: str | Path,
                       config: NetworkSearchConfig | None = None,
                       progress: bool = True) -> Path:
    """Score ``strain`` with the models of ``checkpoints`` into ``out`` and rank it (see the
    module docstring); returns ``out``."""
    config = config or NetworkSearchConfig()
    out = Path(out)
    paths = tuple(str(p) for p in ([strain] if isinstance(strain, str | Path) else strain))
    rank, world = int(os.environ.get("RANK", "0")), devices.world_size()
    claim_dir(out, KIND, rank=rank)
    device = devices.resolve_device(config.device)
    from pipeline.precision import Precision

    network = NetworkModels.load(checkpoints, Precision.for_inference(device, config.amp))
    if config.tta:
        network.check_tta()
    options = ReadOptions(dq_bits=config.dq_bits, min_duration=config.min_duration,
                          max_duration=config.max_duration, skip_bad=config.skip_bad)
    report = ReadReport()
    strain_set = StrainSet(paths, network.detectors, options)
    detectors = strain_set.detectors
    if detectors != network.detectors:
        raise StreamError(strain_set.files[0], f"holds detectors {' '.join(detectors)}; the "
                          f"model reads {' '.join(network.detectors)}")
    config.check_slides(len(detectors))
    pieces = _plan(strain_set, config, report)
    _record(out, _settings(config, network, detectors, pieces, paths))
    count = slide_plan.slide_count(config.slides, [(b - a) / SAMPLE_RATE for a, b in pieces])
    mine = [p for i, p in enumerate(pieces) if i % world == rank]
    total = sum(b - a for a, b in mine) / SAMPLE_RATE
    speed: dict[str, float] = {"strain_seconds": 0.0, "image_seconds": 0.0,
                               "zerolag_seconds": 0.0, "slide_seconds": 0.0, "slides": 0}
    with tqdm(total=total, unit="s", desc="network search", disable=not progress) as bar:
        for piece in mine:
            _score_piece(out, piece, strain_set, network, config, count, speed)
            bar.update((piece[1] - piece[0]) / SAMPLE_RATE)
    if all(_complete(out, p, config, count, len(detectors)) for p in pieces):
        rank_network_search(out, config, pieces, count, detectors, report, speed)
    else:
        log.info("%s: other ranks' segments are still missing; the last to finish ranks", out)
    return out


def _windows(piece: Piece, config: NetworkSearchConfig) -> np.ndarray:
    a, b = piece
    return window_starts(b - a, config.window_samples, config.stride_samples)


def _slides_held(piece: Piece, config: NetworkSearchConfig, count: int, n_detectors: int) -> int:
    """Slides this piece runs: as many of ``1 .. count`` as its windows hold."""
    span = len(_windows(piece, config)) * config.stride
    return slide_plan.slides_in(span, count, config.slides.step, n_detectors)


def _complete(out: Path, piece: Piece, config: NetworkSearchConfig, count: int,
              n_detectors: int) -> bool:
    held = _slides_held(piece, config, count, n_detectors)
    return all(chunk_path(out, piece, c).is_file()
               for c in slide_chunks(held, config.slides_per_file))


def _score_piece(out: Path, piece: Piece, strain: StrainSet, network: NetworkModels,
                 config: NetworkSearchConfig, count: int, speed: dict[str, float]) -> None:
    """Images of one piece (once), then every missing chunk of its slides."""
    held = _slides_held(piece, config, count, len(network.detectors))
    todo = [c for c in slide_chunks(held, config.slides_per_file)
            if not chunk_path(out, piece, c).is_file()]
    if not todo:
        return
    a, b = piece
    try:
        data = strain.checked(a, b)  # (D, n) strain
    except BadSegmentError as error:
        if not config.skip_bad:
            raise
        log.warning("skipped: %s", error)
        return
    started = time.perf_counter()
    whiten = network.whiten
    psd = (TrainingPSD(network.training_psd, whiten) if config.psd == "training"
           else WindowPSD(data, whiten, config.psd_span, config.psd_placement))
    maker = ImageMaker(psd.at(0, min(data.shape[-1], whiten.n_time)), whiten, network.cqt,
                       network.precision.device, network.normalize, len(network.detectors))
    starts = _windows(piece, config)
    images = segment_images(data, starts, psd, maker, int(config.psd_update * SAMPLE_RATE),
                            where=str(piece_dir(out, piece)))
    speed["image_seconds"] += time.perf_counter() - started
    speed["strain_seconds"] += (b - a) / SAMPLE_RATE
    step = int(round(config.slides.step / config.stride))
    for first, last in todo:
        started = time.perf_counter()
        scores = slide_logits(images, range(first, last + 1), step, network, config.batch_size,
                              config.tta)
        seconds = time.perf_counter() - started
        if first == 0:
            speed["zerolag_seconds"] += seconds / (last - first + 1)
            speed["slide_seconds"] += seconds * (last - first) / (last - first + 1)
        else:
            speed["slide_seconds"] += seconds
        speed["slides"] += last - max(first, 1) + 1
        path = chunk_path(out, piece, (first, last))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, scores, allow_pickle=False)


def integrate(scores: np.ndarray, windows: int) -> np.ndarray:
    """Each window's score averaged with the next ``windows - 1`` (cyclically, as slides
    are): ``(S, W)`` -> ``(S, W)``; 1 leaves them as they are."""
    if windows <= 1:
        return scores
    total = np.zeros_like(scores, dtype=np.float64)
    for k in range(windows):
        total += np.roll(scores, -k, axis=-1)
    return (total / windows).astype(np.float32)


def piece_triggers(out: Path, piece: Piece, config: NetworkSearchConfig, count: int,
                   n_detectors: int) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Clustered triggers ``time, stat, var, slide`` of one piece over all its slides, and
    the GPS span its triggers can lie in."""
    held = _slides_held(piece, config, count, n_detectors)
    scores = np.concatenate([np.load(chunk_path(out, piece, c), allow_pickle=False)
                             for c in slide_chunks(held, config.slides_per_file)])  # (S, W)
    scores = integrate(scores, config.integrate)
    starts = _windows(piece, config)
    gps = piece[0] / SAMPLE_RATE + starts / SAMPLE_RATE + config.merger_offset  # (W,)
    frames = []
    for slide, row in enumerate(scores):
        keep = cluster(gps, row.astype(np.float64), config.cluster_window)
        frames.append(pd.DataFrame({"time": gps[keep], "stat": row[keep].astype(np.float64),
                                    "var": config.var, "slide": slide}))
    span = (float(gps[0] - config.var), float(gps[-1] + config.var))
    return pd.concat(frames, ignore_index=True), span


def rank_network_search(out: Path, config: NetworkSearchConfig, pieces: list[Piece],
                        count: int, detectors: tuple[str, ...], report: ReadReport,
                        speed: dict[str, float]) -> dict[str, Any]:
    """The zero-lag and slide trigger files and ``result.json`` (module docstring)."""
    tables, spans, held = [], [], []
    for piece in pieces:
        if not (piece_dir(out, piece)).is_dir():
            continue  # a bad piece skipped with skip_bad
        table, span = piece_triggers(out, piece, config, count, len(detectors))
        tables.append(table)
        spans.append(span)
        held.append(_slides_held(piece, config, count, len(detectors)))
    everything = pd.concat(tables, ignore_index=True)
    analysed = np.array(spans).reshape(-1, 2)
    seconds = [len(_windows(p, config)) * config.stride for p in pieces]
    background = float(sum(k * s for k, s in zip(held, seconds, strict=False)))
    attrs = {"statistic": "network", "search": METHOD, "detectors": " ".join(detectors),
             "slide_step": config.slides.step}
    zero = everything[everything["slide"] == 0]
    write_trigger_file(out / "zerolag-network.hdf", zero,
                       attrs | {"duration": float(sum(seconds)), "slides": 0}, analysed)
    outputs = {"zerolag": "zerolag-network.hdf", "n_zerolag": len(zero)}
    if count:
        slid = everything[everything["slide"] > 0]
        write_trigger_file(out / "slides-network.hdf", slid,
                           attrs | {"duration": background, "slides": count}, analysed)
        outputs |= {"slides": "slides-network.hdf", "n_slides": len(slid)}
    record = {"config": config.to_dict(), "analysed_seconds": float(sum(seconds)),
              "segments": len(tables),
              "slides": {"count": count, "step": config.slides.step,
                         "background_seconds": background, "per_segment": held},
              "outputs": outputs, "read_report": asdict(report), "speed": _speed(speed),
              "versions": library_versions()}
    write_json_atomic(out / RESULT_FILE, record)
    log.info("%s: %d zero-lag triggers over %.0f s; %d slides, %.3g s of background", out,
             len(zero), sum(seconds), count, background)
    return record


def _speed(speed: dict[str, float]) -> dict[str, float]:
    """Seconds of strain per second of this run: images, zero lag, and per slide."""
    strain = speed.get("strain_seconds", 0.0)
    if not strain:
        return {}
    zero = speed["image_seconds"] + speed["zerolag_seconds"]
    per_slide = speed["slide_seconds"] / speed["slides"] if speed.get("slides") else None
    return {"strain_seconds": strain, "zerolag_realtime_factor": strain / max(zero, 1e-9),
            "images_realtime_factor": strain / max(speed["image_seconds"], 1e-9),
            "slide_realtime_factor": None if per_slide is None else strain / max(per_slide,
                                                                                  1e-9)}


def rank_again(out: str | Path, **ranking: Any) -> dict[str, Any]:
    """Rank a finished search folder again with other ranking settings (``integrate``,
    ``cluster_window``, ``var``, ``merger_offset``): the stored scores are reused, nothing is
    scored again. Returns the new ``result.json`` record."""
    out = Path(out)
    unknown = set(ranking) - NetworkSearchConfig.RANKING
    if unknown:
        raise ValueError(f"not ranking settings: {', '.join(sorted(unknown))}")
    settings = json.loads((out / SEARCH_FILE).read_text())
    previous = json.loads((out / RESULT_FILE).read_text())
    config = replace(NetworkSearchConfig.from_dict(previous["config"]), **ranking)
    pieces = [(int(round(s * SAMPLE_RATE)), int(round((s + d) * SAMPLE_RATE)))
              for s, d in settings["segments"]]
    return rank_network_search(out, config, pieces, previous["slides"]["count"],
                               tuple(settings["detectors"]), ReadReport(), {})
