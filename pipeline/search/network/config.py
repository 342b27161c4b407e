"""The network search's settings (light, for ``--help``): windows, PSD, slides, inference and
the ranking of window scores into triggers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.search.config import SlideConfig
from preprocess.psd.config import PSDConfig
from preprocess.stream.config import SAMPLE_RATE, ReadOptions, check_detectors
from runtime.checks import finite, positive, whole
from runtime.provenance import jsonable


def _read_default() -> ReadOptions:
    # segments as short as the search can analyse; pieces of 1024 s (their images in memory)
    return ReadOptions(min_duration=None, max_duration=1024.0)


@dataclass(frozen=True)
class NetworkSearchConfig:
    """One network search over streams (``pipeline.search.network.search``).

    ``RANKING`` names the settings applied to stored scores at the end of every run (they may
    change between runs of one folder); ``RUNTIME`` those that change no score (the device
    and precision are recorded as resolved, not as asked); the others make the scores.
    """

    RANKING = frozenset({"integrate", "cluster_window", "var", "merger_offset"})
    RUNTIME = frozenset({"batch_size", "device", "amp"})

    window_seconds: float = 2.0  # s: the model's window (its training samples' length)
    stride: float = 0.5  # s between window starts (chosen by measurement: bench/search.py)
    psd: PSDConfig = field(default_factory=PSDConfig)  # running (the training estimator over
    # the data around each block of windows), training (the training cache's PSD) or a file
    psd_update: float = 16.0  # s: the running PSD is estimated anew every this many seconds
    slides: SlideConfig = field(default_factory=SlideConfig)  # step: a multiple of stride
    slides_per_file: int = 16  # slides scored and stored together (the unit of resuming)
    batch_size: int = 256  # windows per forward pass
    device: str = "auto"  # auto (cuda:LOCAL_RANK when there is a GPU), cpu, cuda[:N]
    amp: bool | None = None  # autocast (None: on for CUDA); scores stay float32
    tta: bool = False  # also score with H1 <-> L1 exchanged and average
    integrate: int = 1  # windows each score is averaged over (1: none)
    cluster_window: float = 8.0  # s: the loudest trigger within this keeps the others out
    merger_offset: float = 1.55  # s from a window's start to the trigger time: the middle of
    # the training simulator's merger range (1.2-1.9 s)
    var: float = 0.6  # s: MLGWSC-1's var, half that range plus half a stride
    detectors: tuple[str, ...] = ()  # read from the model; here only for the record
    read: ReadOptions = field(default_factory=_read_default)  # DQ bits, segment lengths

    def __post_init__(self) -> None:
        object.__setattr__(self, "detectors", tuple(self.detectors))
        for name, kind in (("slides", SlideConfig), ("psd", PSDConfig), ("read", ReadOptions)):
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, kind(**getattr(self, name)))
        check_detectors(self.detectors)
        for name in ("stride", "window_seconds", "psd_update", "cluster_window", "var"):
            positive(name.replace("_", " "), getattr(self, name))
        if not 0 <= finite("merger offset", self.merger_offset) <= self.window_seconds:
            raise ValueError(f"merger offset must lie in the window (0-{self.window_seconds:g} "
                             f"s), got {self.merger_offset}")
        if self.psd.span < 8:
            raise ValueError(f"psd span must be at least 8 s (four 2-s windows), got "
                             f"{self.psd.span:g}")
        for name in ("integrate", "batch_size", "slides_per_file"):
            whole(name.replace("_", " "), getattr(self, name), 1)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * SAMPLE_RATE))

    @property
    def stride_samples(self) -> int:
        return int(round(self.stride * SAMPLE_RATE))

    @property
    def step_windows(self) -> int:
        """Windows per slide step; ``ValueError`` unless the step is whole strides."""
        ratio = self.slides.step / self.stride
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(f"slide step {self.slides.step:g} s must be a whole number of "
                             f"strides ({self.stride:g} s)")
        return int(round(ratio))

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkSearchConfig:
        return cls(**data)
