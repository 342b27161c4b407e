"""The training recipe: typed dataclasses, saved resolved next to every run.

Free of heavy imports (torch is imported inside the methods that need it), so ``pipeline train
--help`` reads its defaults at once. ``pipeline.training.loop`` acts on them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass
class AugmentConfig:
    """Which augmentations to apply to training batches, and how strongly."""

    swap_ligo: bool = True  # exchange H1 <-> L1 images
    swap_prob: float = 0.5  # probability of the swap per sample
    time_shift: bool = True  # roll along time, the same for all detectors
    max_time_shift: int = 4  # largest shift in time bins (4 of 129 bins ~ 62 ms)
    time_mask: bool = False  # mask one band of time bins per sample
    time_mask_width: int = 8  # largest masked band, time bins
    freq_mask: bool = False  # mask one band of frequency bins per sample
    freq_mask_width: int = 6  # largest masked band, frequency bins


SNR_DISTRIBUTIONS = ("uniform", "powerlaw", "curriculum")


@dataclass
class MixConfig:
    """How training images are made anew from a mixing pool (``pipeline.training.mixing``)."""

    snr: str = "uniform"  # network SNR of a signal: uniform in [snr_min, snr_max]; powerlaw
    # (density ~ snr^-snr_index, as aframe draws); curriculum (uniform, the lower bound falling
    # from snr_max to snr_min over curriculum_epochs: loud signals first)
    snr_min: float = 2.0  # the simulator's default range
    snr_max: float = 16.0
    snr_index: float = 3.0  # power law's exponent
    curriculum_epochs: int = 3  # epochs the curriculum's lower bound takes to fall
    detector_spread: float = 1.0  # each detector's sensitivity to a signal drawn log-uniform in
    # [1/x, 1] (1: equal detectors, as the simulator's); the network SNR is set after it
    signal_fraction: float = 0.5  # share of images holding a signal

    def validate(self) -> None:
        from runtime.checks import in_range, positive, whole

        if self.snr not in SNR_DISTRIBUTIONS:
            raise ValueError(f"mix snr {self.snr!r}: expected one of "
                             f"{', '.join(SNR_DISTRIBUTIONS)}")
        if not 0 < positive("mix snr min", self.snr_min) <= positive("mix snr max",
                                                                     self.snr_max):
            raise ValueError(f"mix snr range [{self.snr_min}, {self.snr_max}] is empty")
        positive("mix snr index", self.snr_index)
        whole("mix curriculum epochs", self.curriculum_epochs, 1)
        in_range("mix detector spread", self.detector_spread, 1.0, 1e3)
        in_range("mix signal fraction", self.signal_fraction, 0.0, 1.0)


# Settings that may change between a run and its --resume without changing the result's recipe.
RUNTIME_FIELDS = frozenset(
    {"cache", "out", "resume", "device", "workers", "progress", "compile", "patience"}
)


@dataclass
class TrainConfig:
    """Everything ``pipeline.training.loop.fit`` needs; ``resolve()`` fills the automatic
    choices."""

    cache: str = ""  # directory of a labelled spectrogram cache (preprocess build-cqt)
    model: str = "resnet34"  # any models.list_models() name
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {"stem": "small"}
    pretrained: str = ""  # "" random init | "imagenet" | path of a state dict (models.pretrained)
    folds: int = 5  # stratified K-fold split of the cache
    fold: int = 0  # which fold is the validation set, 0 <= fold < folds
    epochs: int = 10  # upper bound; early stopping may end sooner
    batch_size: int = 64  # per process (torchrun multiplies it by the world size)
    lr: float = 1e-3  # AdamW peak learning rate, reached after the warm-up
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    warmup_epochs: float = 1.0  # linear warm-up length, then cosine decay to min_lr (per step)
    min_lr: float = 1e-6  # learning rate at the end of the cosine
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    seed: int = 0  # fixes the fold split, model init, data order and augmentations
    device: str = "auto"  # auto (cuda if available) | cpu | cuda | cuda:N
    amp: bool | None = None  # autocast mixed precision; None: on for CUDA, off for CPU
    amp_dtype: str = "bfloat16"  # bfloat16 | float16 (float16 adds a GradScaler); bfloat16 is
    # resolved to float16 on GPUs that only emulate it (compute capability < 8.0)
    channels_last: bool | None = None  # NHWC memory format; None: on for CUDA, off for CPU
    compile: bool = False  # torch.compile the model
    workers: int | None = None  # DataLoader worker processes; None: min(8, CPUs per process)
    in_memory: bool | None = None  # hold the images in RAM (float16); None: when they fit
    patience: int = 3  # stop after this many epochs without a better val AUC; 0 never stops
    out: str = ""  # run directory; empty: runs/<model>-fold<fold>
    resume: bool = False  # continue from out/last.pt
    progress: bool = True  # tqdm progress bars (rank 0 only)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # training-batch augmentations
    pool: str = ""  # a mixing pool of the cache's data (preprocess pool): training images are
    # then made anew every step from its noise and signals (pipeline.training.mixing); the
    # cache's validation fold still validates
    mix: MixConfig = field(default_factory=MixConfig)  # how, with a pool

    def resolve(self, device: torch.device, world_size: int = 1) -> TrainConfig:
        """A copy with every automatic choice made for ``device`` and ``world_size`` processes."""
        data = asdict(self)
        data["augment"] = AugmentConfig(**data["augment"])
        data["mix"] = MixConfig(**data["mix"])
        cuda = device.type == "cuda"
        data["device"] = str(device)
        data["amp"] = cuda if self.amp is None else self.amp
        if data["amp"]:  # bfloat16 only where the device computes it natively
            from pipeline.classifier.precision import amp_dtype_for

            data["amp_dtype"] = amp_dtype_for(self.amp_dtype, device)
        data["channels_last"] = cuda if self.channels_last is None else self.channels_last
        if self.workers is None:
            data["workers"] = min(8, max(1, (os.cpu_count() or 1) // world_size))
        if self.in_memory is None:  # decided once and saved, so a resume reads the same way
            data["in_memory"] = auto_in_memory(self.cache, world_size)
        if not self.out:
            data["out"] = os.path.join("runs", f"{self.model}-fold{self.fold}")
        return TrainConfig(**data)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting outside its range."""
        if not self.cache:
            raise ValueError("no cache given: pass the directory of a spectrogram cache")
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        if not 0 <= self.fold < self.folds:
            raise ValueError(
                f"fold {self.fold} is outside 0..{self.folds - 1} (--folds {self.folds})"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip < 0 or self.patience < 0:
            raise ValueError("lr must be positive; weight_decay, grad_clip, patience >= 0")
        if self.amp_dtype not in ("bfloat16", "float16"):
            raise ValueError(f"amp_dtype must be bfloat16 or float16, got {self.amp_dtype!r}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        self.mix.validate()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        data = dict(data)
        if "augment" in data:
            data["augment"] = AugmentConfig(**data["augment"])
        if "mix" in data:
            data["mix"] = MixConfig(**data["mix"])
        return cls(**data)


def auto_in_memory(cache: str, world_size: int) -> bool | None:
    """Whether ``world_size`` copies of the whole cache fit in RAM; None if it is unreadable
    (``build_loaders`` then decides, or reports the bad cache)."""
    from pipeline.training.data import cache_nbytes, choose_in_memory
    from preprocess.cache import CacheError

    try:
        return choose_in_memory(cache_nbytes(cache), world_size)
    except CacheError:
        return None


def recipe_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Differences between two training configurations outside ``RUNTIME_FIELDS``:
    ``"key: saved -> current"``, nested keys named with dots."""
    from runtime.provenance import settings_differences

    keep = (set(saved) | set(current)) - RUNTIME_FIELDS
    return settings_differences({k: v for k, v in saved.items() if k in keep},
                                {k: v for k, v in current.items() if k in keep})


def check_resume_compatible(
    checkpoint: dict[str, Any], config: dict[str, Any], world_size: int, path: str | Path
) -> None:
    """Raise ``ValueError`` naming every training setting that differs from the checkpoint's.

    Resuming must reproduce an uninterrupted run, so only runtime settings (device, workers,
    progress, compile, patience, paths) may change.
    """
    diffs = recipe_differences(checkpoint["config"], config)
    saved_world = checkpoint.get("world_size", 1)
    if saved_world != world_size:
        diffs.append(f"world_size: {saved_world!r} -> {world_size!r}")
    if diffs:
        raise ValueError(f"{path}: cannot resume, settings differ from the checkpoint's "
                         f"(checkpoint -> now): {'; '.join(diffs)}")
