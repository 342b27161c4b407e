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
"""

from . import resnet as resnet  # registers resnet16 ... resnet152
from ._registry import (
    UnknownModelError,
    check_model_name,
    create_model,
    is_model,
    list_models,
    register_model,
)
from .resnet import resnet_name
from .stems import DEFAULT_STEM, STEMS

__all__ = [
    "DEFAULT_STEM",
    "STEMS",
    "UnknownModelError",
    "check_model_name",
    "create_model",
    "is_model",
    "list_models",
    "register_model",
    "resnet_name",
]
