"""ResNet16 to ResNet152, built from torchvision's own ``ResNet``, ``BasicBlock``, ``Bottleneck``.

Only the stem differs from torchvision: ``conv1`` and ``maxpool`` are swapped for one of
``models.stems.STEMS`` so that small spectrograms such as (3, 69, 129) keep their resolution.
With ``stem="imagenet"``, ``in_chans=3`` and ``num_classes=1000`` each model has exactly the
parameters of torchvision's builder of the same name. The depth table lives only in the
builders' literals below; every builder takes the keyword options of ``_resnet``.
"""

from __future__ import annotations

import re
from typing import Any

from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from ._registry import list_models, register_model
from .stems import DEFAULT_STEM, make_stem


def _resnet(
    block: type[BasicBlock | Bottleneck],
    layers: list[int],
    *,
    in_chans: int = 3,
    num_classes: int = 1,
    stem: str = DEFAULT_STEM,
    **kwargs: Any,
) -> ResNet:
    """torchvision's ResNet with stem ``stem``: (B, in_chans, F, T) -> logits (B, num_classes).

    ``stem`` is a key of ``models.stems.STEMS``; ``kwargs`` go to torchvision's ``ResNet``
    (e.g. ``zero_init_residual=True``).
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    model = ResNet(block, layers, num_classes=num_classes, **kwargs)
    # Swapped after construction, with torchvision's init; bn1 gives the stem width (64).
    model.conv1, model.maxpool = make_stem(stem, in_chans, model.bn1.num_features)
    return model


@register_model
def resnet16(**kwargs: Any) -> ResNet:
    """ResNet16: BasicBlock [2, 2, 2, 1], a ResNet18 with one block fewer in the last stage.

    Neither torchvision nor timm defines it. It has 16 weighted layers, counted like the others:
    stem conv + 2 * (2 + 2 + 2 + 1) block convs + fc = 1 + 14 + 1.
    """
    return _resnet(BasicBlock, [2, 2, 2, 1], **kwargs)


@register_model
def resnet18(**kwargs: Any) -> ResNet:
    """ResNet18: BasicBlock [2, 2, 2, 2]."""
    return _resnet(BasicBlock, [2, 2, 2, 2], **kwargs)


@register_model
def resnet34(**kwargs: Any) -> ResNet:
    """ResNet34: BasicBlock [3, 4, 6, 3]."""
    return _resnet(BasicBlock, [3, 4, 6, 3], **kwargs)


@register_model
def resnet50(**kwargs: Any) -> ResNet:
    """ResNet50: Bottleneck [3, 4, 6, 3]."""
    return _resnet(Bottleneck, [3, 4, 6, 3], **kwargs)


@register_model
def resnet101(**kwargs: Any) -> ResNet:
    """ResNet101: Bottleneck [3, 4, 23, 3]."""
    return _resnet(Bottleneck, [3, 4, 23, 3], **kwargs)


@register_model
def resnet152(**kwargs: Any) -> ResNet:
    """ResNet152: Bottleneck [3, 8, 36, 3]."""
    return _resnet(Bottleneck, [3, 8, 36, 3], **kwargs)


def resnet_name(depth: int) -> str:
    """Registered name of the ResNet with ``depth`` weighted layers, e.g. 50 -> ``"resnet50"``."""
    names = list_models("resnet*", include_timm=False)
    depths = sorted(int(m[1]) for n in names if (m := re.fullmatch(r"resnet(\d+)", n)))
    if depth not in depths:
        valid = ", ".join(map(str, depths))
        raise ValueError(f"no ResNet of depth {depth!r}; valid depths: {valid}")
    return f"resnet{depth}"
