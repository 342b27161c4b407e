"""The family of models trained, compared and ensembled on one cache (``pipeline family``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.training.config import TrainConfig


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
