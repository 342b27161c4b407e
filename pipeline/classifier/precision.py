"""How a batch meets a model: device, autocast dtype, memory format and float32 logits.

One ``Precision`` serves training, validation, prediction and the family's timing, so a model
is timed as it is run. ``Precision.to_device`` copies a float16 batch from (pinned) host
memory without waiting (``non_blocking``) and converts it on the device, once, to float32 in
the chosen memory format: the augmentations (``pipeline.training.augment``) keep that format.

Under autocast the classifier head would return its logits in the autocast dtype (bfloat16
keeps 8 mantissa bits: 20,000 validation logits collapse to ~1,900 distinct values), and
ranking by tied logits changes the best checkpoint, ``oof.csv`` and the stacking ensemble.
``float32_head`` makes the final linear layer compute in float32 whatever the autocast, at no
cost worth measuring: the logits keep float32's resolution, its weights and their names stay.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch
from torch import nn

from runtime import devices

log = logging.getLogger(__name__)

AMP_DTYPES = ("bfloat16", "float16")


def amp_dtype_for(requested: str, device: torch.device) -> str:
    """``requested`` unless it is bfloat16 on a GPU that only emulates it (compute capability
    below 8.0): float16 there, which such GPUs compute natively (with a GradScaler)."""
    if requested not in AMP_DTYPES:
        raise ValueError(f"amp dtype must be one of {', '.join(AMP_DTYPES)}, got {requested!r}")
    if requested == "bfloat16" and not devices.supports_bfloat16(device):
        log.info("%s computes bfloat16 only by emulation; using float16 autocast", device)
        return "float16"
    return requested


@dataclass
class Precision:
    """How batches meet the model: autocast dtype (None = full precision) and memory format."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False

    @classmethod
    def for_inference(cls, device: torch.device, amp: bool | None = None,
                      channels_last: bool | None = None) -> Precision:
        """Prediction's precision: autocast (bfloat16, or float16 where bfloat16 is emulated)
        on a GPU by default, full float32 on a CPU; channels_last on both (the convolutions'
        preferred layout: ResNet18 inference 1.4x faster on the 2-core CPU, the same sums in
        another order)."""
        amp = device.type == "cuda" if amp is None else amp
        dtype = getattr(torch, amp_dtype_for("bfloat16", device)) if amp else None
        return cls(device, dtype, True if channels_last is None else channels_last)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for the forward pass (a no-op without AMP)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def to_device(self, images: torch.Tensor) -> torch.Tensor:
        """Move a batch (B, C, F, T) to the device without a host wait, then make it float32 in
        the chosen memory format (loaders serve float16: half the bytes to copy, converted on
        the device). The copy overlaps only from pinned memory, which the loaders use on CUDA."""
        images = images.to(self.device, non_blocking=True)
        return images.to(torch.float32, memory_format=self.memory_format)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """``model`` on the device, in the memory format, with a float32 head (in place)."""
        float32_head(model)
        return model.to(self.device, memory_format=self.memory_format)


class Float32Linear(nn.Linear):
    """``nn.Linear`` computing in float32 under any autocast (same parameters and names)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return nn.functional.linear(x.float(), self.weight.float(),
                                        None if self.bias is None else self.bias.float())


def classifier(model: nn.Module) -> nn.Module | None:
    """The final layer that makes the logits: timm's ``get_classifier()``, or ``fc`` of
    torchvision's ResNet (ours); None when neither exists."""
    if hasattr(model, "get_classifier"):
        return model.get_classifier()
    return getattr(model, "fc", None)


def float32_head(model: nn.Module) -> nn.Module:
    """Make ``model``'s final linear layer compute in float32 (see the module doc); returns
    ``model``. A head that is not one ``nn.Linear`` is left as it is, with a log line."""
    head = classifier(model)
    if isinstance(head, nn.Linear):
        head.__class__ = Float32Linear  # same parameters, state_dict keys and init
    elif not isinstance(head, Float32Linear):
        log.info("%s: head %s is not one linear layer; its logits follow autocast",
                 type(model).__name__, type(head).__name__)
    return model
