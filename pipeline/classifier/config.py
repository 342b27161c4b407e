"""How trained classifiers are run on a cache and combined (``pipeline predict``)."""

from __future__ import annotations

from dataclasses import dataclass

ENSEMBLE_METHODS = ("mean", "rank")


@dataclass
class PredictConfig:
    """How checkpoints are run and combined."""

    ensemble: str = "mean"  # "mean" of probabilities or "rank": mean of ranks scaled to [0, 1]
    tta: bool = False  # also predict with H1 <-> L1 exchanged and average the probabilities
    batch_size: int = 64  # images per forward pass
    device: str = "auto"  # auto (cuda:LOCAL_RANK when there is a GPU, else cpu), cpu, cuda[:N]
    num_workers: int = 0  # DataLoader worker processes
    amp: bool | None = None  # autocast (bfloat16, float16 where emulated); None: on for CUDA
    channels_last: bool | None = None  # NHWC memory format; None: on (faster on CPUs too)
