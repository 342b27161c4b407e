"""The network search over streams: what it adds to the search job (``search.job``).

``run_network_search(strain, checkpoints, out, config)`` runs ``NetworkSearch`` through the job,
which reads the strain, cuts the pieces, records the settings, skips or stops at bad strain,
resumes, and ranks. What is the network's own:

- the models (``models.NetworkModels``: an ensemble of checkpoints of one image recipe), on the
  device resolved here; ``search.json`` records the device and the precision the scores were
  made in (a folder begun on a CPU refuses to be resumed in bfloat16 on a GPU), not the batch
  size, which changes no score;
- a piece: its windows' images made once (``windows.segment_images``, whitened by the running
  PSD of the data around), then scored at every slide it holds (``models.slide_logits``) in
  chunks of slides written atomically to ``segments/<gps>-<seconds>/scores-<first>-<last>.npy``
  ``(slides, W)`` float32: a run killed at any point resumes with the chunks not yet written.
  Scores that are not finite (a damaged checkpoint) stop the search in one line;
- its triggers: per slide, each window's score averaged over ``integrate`` consecutive windows,
  then the loudest within ``cluster_window`` s kept (``triggers.cluster``); a trigger's time is
  its first detector's window start plus the middle of the training's merger range. The
  analysed time is the time the windows cover (``windows.covered_seconds``). Ranking settings
  may change between runs (``rank_again``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.search import slides as slide_plan
from pipeline.search.job import (
    RESULT_FILE,
    SEARCH_FILE,
    Piece,
    PieceTriggers,
    Progress,
    piece_name,
    rank_job,
    run_job,
)
from pipeline.search.network.config import NetworkSearchConfig
from pipeline.search.network.models import NetworkModels, slide_logits
from pipeline.search.network.windows import (
    covered_seconds,
    segment_images,
    window_psd,
    window_starts,
)
from pipeline.search.triggers import cluster
from preprocess.psd.running import on_grid
from preprocess.stream.config import SAMPLE_RATE
from preprocess.stream.errors import StreamError
from preprocess.stream.readers import ReadReport
from runtime import devices
from runtime.provenance import atomic_path, config_hash, file_identity

log = logging.getLogger(__name__)

STATISTIC = "network"


def slide_chunks(count: int, size: int) -> list[tuple[int, int]]:
    """Slides ``0 .. count`` (0 the zero lag) in chunks ``[first, last]`` of ``size``."""
    return [(k, min(k + size - 1, count)) for k in range(0, count + 1, size)]


def integrate(scores: np.ndarray, windows: int) -> np.ndarray:
    """Each window's score averaged with the next ``windows - 1`` (cyclically, as slides
    are): ``(S, W)`` -> ``(S, W)``; 1 leaves them as they are."""
    if windows <= 1:
        return scores
    total = np.zeros_like(scores, dtype=np.float64)
    for k in range(windows):
        total += np.roll(scores, -k, axis=-1)
    return (total / windows).astype(np.float32)


class NetworkSearch:
    """The network's part of a search job (``job.PieceSearch``); ``network`` None ranks a
    finished folder again without the models."""

    kind, method = "network-search", "network"
    statistics = (STATISTIC,)

    def __init__(self, config: NetworkSearchConfig, network: NetworkModels | None):
        self.config, self.network = config, network
        self.speed: dict[str, float] = {"strain_seconds": 0.0, "image_seconds": 0.0,
                                        "zerolag_seconds": 0.0, "slide_seconds": 0.0,
                                        "slides": 0}

    @property
    def _network(self) -> NetworkModels:
        if self.network is None:
            raise RuntimeError("no models loaded: this search only ranks")
        return self.network

    def wanted_detectors(self) -> tuple[str, ...]:
        return self._network.detectors

    def prepare(self, out: Path, detectors: tuple[str, ...]) -> None:
        if detectors != self._network.detectors:
            raise StreamError(out, f"the strain holds detectors {' '.join(detectors)}; the "
                              f"model reads {' '.join(self._network.detectors)}")
        if self.config.tta:
            self._network.check_tta()
        if self.config.slides.wanted:
            self.config.step_windows  # noqa: B018 (refuses a step of no whole strides)
        self.config = replace(self.config, detectors=detectors)

    def shortest_seconds(self) -> float:
        return max(8.0, self.config.window_seconds)

    def min_samples(self) -> int:
        """A window, and 8 s for a running PSD."""
        return int(self.shortest_seconds() * SAMPLE_RATE)

    def needs(self) -> str:
        return "a window, and four 2-s windows for the running PSD"

    def longest_signal(self) -> float:
        return self.config.window_seconds

    def _windows(self, piece: Piece) -> np.ndarray:
        a, b = piece
        return window_starts(b - a, self.config.window_samples, self.config.stride_samples)

    def seconds(self, piece: Piece) -> float:
        return covered_seconds(len(self._windows(piece)), self.config.window_seconds,
                               self.config.stride)

    def period(self, piece: Piece) -> float:
        return len(self._windows(piece)) * self.config.stride  # windows slide cyclically

    def settings(self, count: int) -> dict[str, Any]:
        """What the stored scores depend on: the scoring settings, the device and precision
        they are made in, the checkpoints (by content) and their image recipe."""
        excluded = NetworkSearchConfig.RANKING | NetworkSearchConfig.RUNTIME
        precision = self._network.precision
        return {"scoring": {k: v for k, v in self.config.to_dict().items()
                            if k not in excluded},
                "device": precision.device.type,
                "precision": str(precision.amp_dtype or "float32").removeprefix("torch."),
                "checkpoints": {str(Path(c).resolve()): file_identity(c)
                                for c in self._network.checkpoints},
                "image_recipe": config_hash(self._network.recipe.record())}

    def record(self) -> dict[str, Any]:
        return {"batch_size": self.config.batch_size}

    def _dir(self, out: Path, piece: Piece) -> Path:
        return out / "segments" / piece_name(piece)

    def _chunk(self, out: Path, piece: Piece, chunk: tuple[int, int]) -> Path:
        return self._dir(out, piece) / f"scores-{chunk[0]:05d}-{chunk[1]:05d}.npy"

    def done(self, out: Path, piece: Piece, held: int) -> bool:
        return all(self._chunk(out, piece, c).is_file()
                   for c in slide_chunks(held, self.config.slides_per_file))

    def start_worker(self) -> None:
        """Nothing: the models are loaded once, in this process."""

    def score(self, out: Path, piece: Piece, data: np.ndarray, held: int,
              progress: Progress | None) -> None:
        """Images of one piece (once), then every missing chunk of its slides."""
        todo = [c for c in slide_chunks(held, self.config.slides_per_file)
                if not self._chunk(out, piece, c).is_file()]
        if not todo:
            return
        network, config = self._network, self.config
        started = time.perf_counter()
        psd = window_psd(data, config.psd, network.recipe, network.training_psd)
        from preprocess.images import ImageMaker

        whiten = network.recipe.whiten
        first = on_grid(psd.frequencies, psd.at(0, min(data.shape[-1], whiten.n_time)),
                        whiten.frequencies)
        maker = ImageMaker(network.recipe, first, network.precision.device)
        images = segment_images(data, self._windows(piece), psd, maker,
                                int(config.psd_update * SAMPLE_RATE), batch=config.batch_size,
                                where=str(self._dir(out, piece)))
        self.speed["image_seconds"] += time.perf_counter() - started
        self.speed["strain_seconds"] += (piece[1] - piece[0]) / SAMPLE_RATE
        for first_slide, last in todo:
            started = time.perf_counter()
            scores = slide_logits(images, range(first_slide, last + 1), config.step_windows
                                  if held else 0, network, config.batch_size, config.tta)
            bad = ~np.isfinite(scores)
            if bad.any():
                raise ValueError(f"{', '.join(network.checkpoints)}: {int(bad.sum())} window "
                                 f"score(s) of {self._dir(out, piece).name} are not finite "
                                 "(NaN or infinite weights?); nothing of this piece was saved")
            seconds = time.perf_counter() - started
            zero = 1 if first_slide == 0 else 0
            self.speed["zerolag_seconds"] += seconds * zero / (last - first_slide + 1)
            self.speed["slide_seconds"] += seconds * (1 - zero / (last - first_slide + 1))
            self.speed["slides"] += last - max(first_slide, 1) + 1
            path = self._chunk(out, piece, (first_slide, last))
            with atomic_path(path, scores.nbytes) as tmp, open(tmp, "wb") as handle:
                np.save(handle, scores, allow_pickle=False)

    def triggers(self, out: Path, piece: Piece, held: int) -> PieceTriggers:
        """Clustered triggers ``time, stat, var, slide`` of one piece over all its slides."""
        config = self.config
        scores = np.concatenate([np.load(self._chunk(out, piece, c), allow_pickle=False)
                                 for c in slide_chunks(held, config.slides_per_file)])  # (S, W)
        scores = integrate(scores, config.integrate)
        starts = self._windows(piece)
        gps = piece[0] / SAMPLE_RATE + starts / SAMPLE_RATE + config.merger_offset  # (W,)
        frames = []
        for slide, row in enumerate(scores):
            keep = cluster(gps, row.astype(np.float64), config.cluster_window)
            frames.append(pd.DataFrame({"time": gps[keep], "stat": row[keep].astype(np.float64),
                                        "var": config.var, "slide": slide}))
        span = (float(gps[0] - config.var), float(gps[-1] + config.var))
        return PieceTriggers({STATISTIC: pd.concat(frames, ignore_index=True)}, span,
                             self.seconds(piece), held)

    def summary(self) -> dict[str, Any]:
        """Seconds of strain per second of this run: images, zero lag, and per slide."""
        speed = self.speed
        strain = speed["strain_seconds"]
        if not strain:
            return {"speed": {}}
        zero = speed["image_seconds"] + speed["zerolag_seconds"]
        per_slide = speed["slide_seconds"] / speed["slides"] if speed["slides"] else None
        return {"speed": {
            "strain_seconds": strain, "zerolag_realtime_factor": strain / max(zero, 1e-9),
            "images_realtime_factor": strain / max(speed["image_seconds"], 1e-9),
            "slide_realtime_factor": None if per_slide is None else strain / max(per_slide,
                                                                                  1e-9)}}


def run_network_search(strain: str | Path | Sequence[str | Path],
                       checkpoints: Sequence[str | Path], out: str | Path,
                       config: NetworkSearchConfig | None = None,
                       progress: bool = True) -> Path:
    """Score ``strain`` with the models of ``checkpoints`` into ``out`` and rank it (see the
    module docstring); returns ``out``."""
    config = config or NetworkSearchConfig()
    device = devices.resolve_device(config.device)
    devices.prepare(device, benchmark=True)  # the same window and batch shapes throughout
    from pipeline.classifier.precision import Precision

    network = NetworkModels.load(checkpoints, Precision.for_inference(device, config.amp))
    return run_job(NetworkSearch(config, network), strain, out, progress=progress)


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
    search = NetworkSearch(config, None)
    pieces = [(int(round(s * SAMPLE_RATE)), int(round((s + d) * SAMPLE_RATE)))
              for s, d in settings["segments"]]
    count, detectors = previous["slides"]["requested"], tuple(settings["detectors"])
    held = {p: slide_plan.slides_in(search.period(p), count, config.slides.step,
                                    len(detectors)) for p in pieces}
    return rank_job(search, out, pieces, count, held, ReadReport(), detectors,
                    settings["files"], previous["strain"]["streams"])
