"""G2Net samples cut from continuous strain: a real event (or any GPS time), for predict.

``cut_samples(strain, out, CutConfig(times=(...)))`` reads strain files of any layout the stream
readers take (GWOSC, MLGWSC-1, gwspec streams; resampled to 2048 Hz) and writes 2-s samples in
the G2Net layout, as the ``test`` split of ``out``:

- **events**: for each GPS time ``T`` asked for, the 2 s starting ``merger_offset`` s before it
  (1.55 s by default: the middle of the training simulator's merger range, so the merger sits
  where the models learned it), on the 2048-Hz grid;
- **noise**: every ``noise_stride`` s over the detectors' common analysable time, the 2-s
  windows wholly outside ``guard`` s of every time asked for: the real-noise score distribution
  a model's event score is ranked against.

Written: ``test/a/b/c/<id>.npy`` ``(D, 4096)`` float64 strain (ids ``event0000``...,
``noise00000``...), ``sample_submission.csv`` (every id), ``cut.csv`` (``id``, ``kind`` event or
noise, ``gps_start``, ``gps`` the time asked for), and ``cut.json`` (the configuration, the
detectors, the strain files' content identities, the library versions). The detectors are
read by ``build-cqt`` from ``cut.json`` as from a simulated set's ``simulation.json``.

The PSD a sample is whitened with is then estimated from the data around it, as a search does:
``preprocess build-cqt --data OUT --split test --psd-from-split`` takes the training
estimator (gated median) over the cut samples, events and noise windows alike, whose median is
barely moved by one event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from preprocess.layout import N_TIME, sample_path
from preprocess.stream.config import SAMPLE_RATE, ReadOptions
from preprocess.stream.errors import gps_time
from preprocess.stream.readers import ReadReport, StrainSet
from runtime.checks import non_negative, positive
from runtime.outputs import claim_dir
from runtime.provenance import atomic_path, library_versions, write_json_atomic

log = logging.getLogger(__name__)

KIND = "cut"
RECORD = "cut.json"


@dataclass(frozen=True)
class CutConfig:
    """Which 2-s samples are cut, and from which strain."""

    times: tuple[float, ...] = ()  # GPS times of the events (one sample each)
    merger_offset: float = 1.55  # s from a sample's start to the time asked for
    noise_stride: float = 2.0  # s between noise windows' starts (0: no noise windows)
    guard: float = 4.0  # s: no noise window comes this close to a time asked for
    detectors: tuple[str, ...] = ()  # empty: every detector the files hold
    read: ReadOptions = field(default_factory=lambda: ReadOptions(min_duration=2.0,
                                                                  max_duration=None))

    def __post_init__(self) -> None:
        object.__setattr__(self, "times", tuple(float(t) for t in self.times))
        object.__setattr__(self, "detectors", tuple(self.detectors))
        if isinstance(self.read, dict):
            object.__setattr__(self, "read", ReadOptions(**self.read))
        for t in self.times:
            positive("gps", t)
        if not 0 <= non_negative("merger offset", self.merger_offset) <= N_TIME / SAMPLE_RATE:
            raise ValueError(f"merger offset must lie in the 2-s sample, got {self.merger_offset}")
        non_negative("noise stride", self.noise_stride)
        non_negative("guard", self.guard)
        if not self.times and not self.noise_stride:
            raise ValueError("nothing to cut: give --gps times or a --noise-stride")


def _starts(strain: StrainSet, config: CutConfig, report: ReadReport) -> list[tuple[str, int,
                                                                                   float]]:
    """``(kind, first output tick, time asked for)`` of every sample, in time order."""
    segments = strain.segments(report)
    inside = [(a, b) for a, b in segments]
    length = N_TIME
    samples = []
    for t in config.times:
        first = int(round((t - config.merger_offset) * SAMPLE_RATE))
        if not any(a <= first and first + length <= b for a, b in inside):
            raise ValueError(f"GPS {gps_time(t)}: its 2 s ({first / SAMPLE_RATE:.3f}-"
                             f"{(first + length) / SAMPLE_RATE:.3f}) do not lie in the "
                             f"analysable time of {strain.files[0]} and the other files")
        samples.append(("event", first, t))
    if config.noise_stride:
        stride = int(round(config.noise_stride * SAMPLE_RATE))
        guard = config.guard * SAMPLE_RATE
        for a, b in inside:
            for first in range(a, b - length + 1, stride):
                if all(first + length <= (t * SAMPLE_RATE - guard) or
                       first >= (t * SAMPLE_RATE + guard) for t in config.times):
                    samples.append(("noise", first, np.nan))
    return sorted(samples, key=lambda s: (s[1], s[0]))


def cut_samples(strain: str | Path | Sequence[str | Path], out: str | Path,
                config: CutConfig) -> Path:
    """Cut and write the samples of ``config`` from ``strain`` into ``out`` (module doc)."""
    import pandas as pd

    out = claim_dir(out, KIND)
    paths = [strain] if isinstance(strain, str | Path) else list(strain)
    report = ReadReport()
    data = StrainSet(paths, config.detectors or None, config.read)
    samples = _starts(data, config, report)
    rows, counts = [], {"event": 0, "noise": 0}
    for kind, first, t in samples:
        sample_id = f"{kind}{counts[kind]:0{4 if kind == 'event' else 5}d}"
        counts[kind] += 1
        array = data.conditioned(first, first + N_TIME)  # (D, 4096): checked, high-passed
        path = sample_path(out, "test", sample_id)
        with atomic_path(path, array.nbytes) as tmp, open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        rows.append({"id": sample_id, "kind": kind, "gps_start": first / SAMPLE_RATE, "gps": t})
    frame = pd.DataFrame(rows)
    with atomic_path(out / "cut.csv") as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(out / "sample_submission.csv") as tmp:
        frame.assign(target=0.5)[["id", "target"]].to_csv(tmp, index=False)
    write_json_atomic(out / RECORD, {
        "config": asdict(config), "detectors": list(data.detectors),
        "files": data.identities(), "samples": counts, "read_report": asdict(report),
        "versions": library_versions()})
    log.info("%s: %d event and %d noise sample(s) of %s cut", out, counts["event"],
             counts["noise"], " ".join(data.detectors))
    return out
