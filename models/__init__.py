"""gwspec models: one registry for our ResNets (resnet16 ... resnet152) and every timm model.

Every model maps a batch of spectrogram images (B, in_chans, F, T) to logits (B, num_classes)
and starts from random weights, or from ImageNet's or a local file's with ``pretrained``
(see ``models.pretrained``).

Example::

    import torch
    from models import create_model, list_models, resnet_name

    model = create_model("resnet18", in_chans=3, num_classes=1).eval()  # ImageNet stem
    logits = model(torch.randn(2, 3, 69, 129))  # (2, 1)
    create_model(resnet_name(34))  # the same as create_model("resnet34")
    create_model("efficientnet_b0", in_chans=1)  # any timm name works too
    create_model("resnet16", pretrained="imagenet")  # resnet18's ImageNet weights where shared
    list_models("resnet*")  # ours first, then timm's

Our ResNets take a ``stem`` option (see ``models.stems.STEMS``; default ``DEFAULT_STEM``);
timm models take timm's own keyword options.

The names below are imported on first use (PEP 562), so ``from models.stems import STEMS``
costs no torch import: a command line can list the stems before it needs a model.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {  # public name -> module holding it
    "UnknownModelError": "._registry",
    "check_model_name": "._registry",
    "create_model": "._registry",
    "is_model": "._registry",
    "list_models": "._registry",
    "register_model": "._registry",
    "resnet_name": ".resnet",
    "DEFAULT_STEM": ".stems",
    "STEMS": ".stems",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first use; our ResNets register before any
    registry function runs."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _EXPORTS[name] == "._registry":
        importlib.import_module(".resnet", __name__)  # registers resnet16 ... resnet152
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
