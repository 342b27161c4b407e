"""Every ``pipeline`` command's configuration: typed dataclasses, saved resolved with results.

Free of heavy imports (torch, scipy, sklearn, lalsimulation are imported inside the methods
that need them), so the command line reads its defaults and answers ``--help`` at once. The
modules that act on a configuration import it from here:

- ``AugmentConfig``, ``TrainConfig``: ``pipeline.augment``, ``pipeline.train``
- ``FamilyConfig``: ``pipeline.family``; ``PredictConfig``: ``pipeline.predict``
- ``EvaluateConfig``: ``pipeline.evaluate``; ``ChainConfig``: ``pipeline.demo``
- ``BankConfig``, ``MatchedFilterConfig``: ``pipeline.search.bank``, ``pipeline.search.snippet``
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preprocess.layout import N_TIME, SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np
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


# Settings that may change between a run and its --resume without changing the result's recipe.
RUNTIME_FIELDS = frozenset(
    {"cache", "out", "resume", "device", "workers", "progress", "compile", "patience"}
)


@dataclass
class TrainConfig:
    """Everything ``pipeline.train.fit`` needs; ``resolve()`` fills the automatic choices."""

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

    def resolve(self, device: torch.device, world_size: int = 1) -> TrainConfig:
        """A copy with every automatic choice made for ``device`` and ``world_size`` processes."""
        data = asdict(self)
        data["augment"] = AugmentConfig(**data["augment"])
        cuda = device.type == "cuda"
        data["device"] = str(device)
        data["amp"] = cuda if self.amp is None else self.amp
        if data["amp"]:  # bfloat16 only where the device computes it natively
            from pipeline.precision import amp_dtype_for

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
        return cls(**data)


def auto_in_memory(cache: str, world_size: int) -> bool | None:
    """Whether ``world_size`` copies of the whole cache fit in RAM; None if it is unreadable
    (``build_loaders`` then decides, or reports the bad cache)."""
    from pipeline.data import cache_nbytes, choose_in_memory
    from preprocess.cache import CacheError

    try:
        return choose_in_memory(cache_nbytes(cache), world_size)
    except CacheError:
        return None


def dict_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """``"key: saved -> current"`` for each differing key; nested dicts flattened with dots."""
    from preprocess.provenance import settings_differences

    return settings_differences(saved, current, prefix)


def recipe_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Differences between two configuration dicts outside ``RUNTIME_FIELDS``."""
    keep = set(saved) | set(current)
    keep -= RUNTIME_FIELDS
    return dict_differences(
        {k: v for k, v in saved.items() if k in keep},
        {k: v for k, v in current.items() if k in keep},
    )


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


@dataclass
class FamilyConfig:
    """Which members to train on which folds, how, and what to score them on."""

    members: list[str]  # model names (models.create_model), trained in this order
    train: TrainConfig  # shared recipe; model, model_kwargs, fold, out, resume set per member
    out: str  # the family's directory
    folds: list[int] = field(default_factory=lambda: [0])  # validation folds to train
    resnet_kwargs: dict[str, Any] = field(default_factory=dict)  # our ResNets only, e.g. stem
    test_cache: str = ""  # a test cache to predict (optional)
    labels: str = ""  # its id,target labels: test AUC, TPR at fixed FPR (optional)
    injections: str = ""  # the simulator's injections.csv: efficiency vs SNR (optional)
    tta: bool = False  # LIGO-swap test-time augmentation for the test predictions
    inference_batches: int = 5  # validation batches timed for the inference rate
    reference: str = ""  # a reference detector's predictions on the test set (matched filter)
    reference_name: str = "matched filter"  # its name in the table and the plots

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent setting."""
        if not self.members:
            raise ValueError("no family members: give --depths or --model")
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"members repeat: {self.members}")
        from models import check_model_name
        from models.pretrained import IMAGENET

        for name in self.members:
            check_model_name(name)
        if not self.folds:
            raise ValueError("no fold to train")
        for fold in self.folds:
            replace(self.train, fold=fold).validate()
        if self.labels and not self.test_cache:
            raise ValueError("labels given without a test cache to score")
        if self.injections and not self.labels:
            raise ValueError("injections given without labels")
        if self.reference and not self.labels:
            raise ValueError("a reference detector's predictions given without labels")
        if self.reference and not Path(self.reference).is_file():
            raise FileNotFoundError(f"{self.reference}: no such predictions file")
        source = self.train.pretrained
        if source and source != IMAGENET and not Path(source).is_file():
            raise FileNotFoundError(f"{source}: no such pretrained weights file")
        if self.inference_batches < 1:
            raise ValueError(f"inference_batches must be >= 1, got {self.inference_batches}")


@dataclass
class EvaluateConfig:
    """How predictions are scored."""

    fpr: float = 1e-2  # false-positive rate at which the efficiency curve is measured
    fprs: tuple[float, ...] = (1e-1, 1e-2, 1e-3)  # FPRs at which the TPR is reported
    min_noise_per_fpr: float = 10.0  # claim an FPR f only with >= this / f noise samples
    snr_min: float = 2.0  # lower edge of the first efficiency bin (network optimal SNR)
    snr_max: float = 16.0  # upper edge of the last efficiency bin
    snr_bin_width: float = 2.0  # width of the efficiency bins
    confidence: float = 0.68  # confidence level of the binomial error bars (about 1 sigma)
    efficiency_levels: tuple[float, ...] = (0.5, 0.9)  # report the SNR where these are crossed
    efficiency_snrs: tuple[float, ...] = (8.0, 12.0)  # report the efficiency at these SNRs

    def snr_edges(self) -> np.ndarray:
        """Bin edges ``(B+1,)`` from ``snr_min`` to ``snr_max``."""
        if self.snr_bin_width <= 0 or self.snr_max <= self.snr_min:
            raise ValueError(
                f"bad SNR bins: min {self.snr_min}, max {self.snr_max}, width {self.snr_bin_width}"
            )
        import numpy as np

        n_bins = math.ceil((self.snr_max - self.snr_min) / self.snr_bin_width - 1e-9)
        return self.snr_min + self.snr_bin_width * np.arange(n_bins + 1)


@dataclass
class ChainConfig:
    """Sizes and choices of one end-to-end run; the defaults are the CPU demo."""

    out: str = "demo"  # everything goes under this directory
    n_train: int = 4000  # simulated training samples (one fold of them validates)
    n_test: int = 1000  # simulated test samples (labels hidden from the model)
    seed: int = 0  # simulation seed; training uses it too
    model: str = "resnet18"  # any models.list_models() name
    model_kwargs: dict[str, Any] = field(default_factory=lambda: {"stem": "imagenet"})
    epochs: int = 6  # training epochs (early stopping may end sooner)
    batch_size: int = 64  # training batch size
    lr: float = 1e-3  # AdamW peak learning rate
    tta: bool = True  # average predictions over the LIGO channel swap
    n_templates: int = 200  # matched-filter bank size
    detectors: tuple[str, ...] = ("H1", "L1", "V1")  # simulated detectors (images' channels)
    device: str = "auto"  # cpu, cuda or auto
    workers: int | None = None  # processes for simulation, matched filter and data loading
    progress: bool = True  # tqdm bars

    @property
    def root(self) -> Path:
        return Path(self.out)


def check_bank_prior(bank: Any) -> None:
    """``ValueError`` unless a bank's prior and placement settings are usable (the snippet
    bank's and the stream search's alike)."""
    if not 0 < bank.mass_min <= bank.mass_max:
        raise ValueError(f"bank mass range [{bank.mass_min}, {bank.mass_max}] is not valid")
    if bank.n_templates < 1 or bank.candidates_per_template < 1:
        raise ValueError("bank needs n_templates >= 1 and candidates_per_template >= 1")
    if not 0 <= bank.spin_max < 1:
        raise ValueError(f"bank spin_max must lie in [0, 1), got {bank.spin_max}")


@dataclass
class BankConfig:
    """The template family, its parameter range and how templates are placed."""

    n_templates: int = 200  # templates kept
    mass_min: float = 10.0  # Msun, detector frame: the simulator's component-mass prior
    mass_max: float = 50.0
    spin_max: float = 0.5  # aligned spins uniform in [-spin_max, spin_max]; 0 = non-spinning
    approximant: str = "IMRPhenomD"  # aligned-spin IMR model of lalsimulation
    f_lower: float = 20.0  # Hz: lowest frequency of the overlaps
    duration: float = 1.1  # s of template kept before the merger
    post_merger: float = 0.02  # s of template kept after the merger (ringdown)
    start_taper: float = 0.05  # s: half-Hann ramp at the cut start of a template
    candidates_per_template: int = 10  # candidates drawn per template kept
    seed: int = 0  # seed of the candidate draws

    def __post_init__(self) -> None:
        check_bank_prior(self)
        if not 0 < self.duration + self.post_merger < N_TIME / SAMPLE_RATE:
            raise ValueError("template duration + post_merger must be shorter than a sample")

    @property
    def pre_samples(self) -> int:
        """Samples kept before the merger."""
        return int(round(self.duration * SAMPLE_RATE))

    @property
    def post_samples(self) -> int:
        """Samples kept after the merger."""
        return int(round(self.post_merger * SAMPLE_RATE))


NOISE_LEVELS = ("auto", "recorded", "estimated", "nominal")  # see the module docstring


@dataclass
class MatchedFilterConfig:
    """The bank, the data conditioning and the coincidence windows of the baseline."""

    bank: BankConfig = field(default_factory=BankConfig)
    taper: float = 0.05  # s of cosine ramp at each end of a sample (Tukey window)
    highpass: float = 15.0  # Hz: zero-phase high-pass before tapering (0 = off), so that the
    # steep noise below the band (the seismic wall) does not leak into it through the taper
    delay_margin: float = 0.002  # s added to each light-travel window (timing error, rounding)
    chunk_size: int = 16  # samples per worker task
    noise_level: str = "auto"  # per-sample PSD scale: auto, recorded, estimated or nominal

    def __post_init__(self) -> None:
        if self.noise_level not in NOISE_LEVELS:
            raise ValueError(f"unknown noise level {self.noise_level!r}; expected one of "
                             f"{', '.join(NOISE_LEVELS)}")
