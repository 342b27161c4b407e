"""How training steps are set up: precision and memory format, optimiser and schedule.

``Precision`` decides how a batch meets the model (autocast dtype, channels_last);
``build_optimisation`` makes AdamW with a per-step warm-up + cosine schedule (timm) and the
GradScaler that float16 autocast needs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from timm.scheduler import CosineLRScheduler
from torch import nn

from pipeline.config import TrainConfig


@dataclass
class Precision:
    """How batches meet the model: autocast dtype (None = full precision) and memory format."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for the forward pass (a no-op without AMP)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def to_device(self, images: torch.Tensor) -> torch.Tensor:
        """Move a batch (B, 3, F, T) to the device, then make it float32 in the chosen memory
        format (the loaders serve float16: half the bytes to copy, converted on the device)."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        images = images.to(self.device, non_blocking=True)
        return images.to(torch.float32, memory_format=fmt)


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
