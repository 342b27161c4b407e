"""How training steps are set up: optimiser, schedule and gradient scaler.

``build_optimisation`` makes AdamW with a per-step warm-up + cosine schedule (timm) and the
GradScaler that float16 autocast needs (``pipeline.classifier.precision`` decides the
autocast dtype).
"""

from __future__ import annotations

import torch
from timm.scheduler import CosineLRScheduler
from torch import nn

from pipeline.classifier.precision import Precision
from pipeline.training.config import TrainConfig


def build_optimisation(
    model: nn.Module, config: TrainConfig, steps_per_epoch: int, precision: Precision
) -> tuple[torch.optim.Optimizer, CosineLRScheduler, torch.amp.GradScaler]:
    """AdamW, per-step linear warm-up then cosine (timm), and a GradScaler for float16 AMP."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    total = config.epochs * steps_per_epoch
    warmup = min(round(config.warmup_epochs * steps_per_epoch), max(total - 1, 0))
    scheduler = CosineLRScheduler(
        optimizer,
        t_initial=max(total - warmup, 1),
        lr_min=config.min_lr,
        warmup_t=warmup,
        warmup_lr_init=config.lr * 0.01,
        warmup_prefix=True,
        t_in_epochs=False,
    )
    scaler = torch.amp.GradScaler(precision.device.type,
                                  enabled=precision.amp_dtype == torch.float16)
    return optimizer, scheduler, scaler
