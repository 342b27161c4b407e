"""Sizes and choices of the end-to-end demo (``pipeline demo``); light, for ``--help``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


@dataclass
class RealConfig:
    """``pipeline demo --real``: GW150914 in the shipped GWOSC files (``pipeline.demo.real``)."""

    out: str = "demo/gw150914"  # everything goes under this directory
    strain: tuple[str, ...] = ()  # strain files; empty: the shipped GWOSC files (checked)
    checkpoint: str = ""  # an H1-L1 model: the network search and the 2-s sample's score too
    workers: int = 1  # matched-filter processes (30 s of strain: one is enough)
    progress: bool = True  # tqdm bars

    @property
    def root(self) -> Path:
        return Path(self.out)

