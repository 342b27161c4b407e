"""How trained classifiers are run on a cache and combined (``pipeline predict``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

ENSEMBLE_METHODS = ("mean", "rank")


@dataclass
class PredictConfig:
    """How checkpoints are run and combined."""

    ensemble: str = "mean"  # "mean" of probabilities or "rank": mean of ranks scaled to [0, 1]
    tta: bool = False  # also predict with H1 <-> L1 exchanged and average the probabilities
    batch_size: int | None = None  # images per forward pass; None: 64 on a CPU, 256 on a GPU
    device: str = "auto"  # auto (cuda:LOCAL_RANK when there is a GPU, else cpu), cpu, cuda[:N]
    num_workers: int | None = None  # DataLoader reader processes; None: none on a CPU (the
    # model is the bottleneck there), min(4, cores) on a GPU (which reads faster than one)
    amp: bool | None = None  # autocast (bfloat16, float16 where emulated); None: on for CUDA
    channels_last: bool | None = None  # NHWC memory format; None: on (faster on CPUs too)

    def for_device(self, device_type: str) -> PredictConfig:
        """A copy with the automatic batch size and reader count chosen for ``device_type``."""
        cuda = device_type == "cuda"
        batch = self.batch_size if self.batch_size is not None else (256 if cuda else 64)
        workers = self.num_workers if self.num_workers is not None else (
            min(4, os.cpu_count() or 1) if cuda else 0)
        return replace(self, batch_size=batch, num_workers=workers)

