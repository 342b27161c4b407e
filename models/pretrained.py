"""Initialisation from pretrained weights: ImageNet (torchvision / timm) or a local state dict.

``create_model(name, pretrained=...)`` takes the same ``pretrained`` for every model, as in timm:

- ``False`` or ``""``: random initialisation;
- ``True`` or ``"imagenet"``: ImageNet weights. Our ResNets take torchvision's (``resnet16``
  takes ``resnet18``'s for the layers they share); timm models take timm's own;
- a path: a local file saved with ``torch.save``: a state dict, or a dict holding one under
  ``model`` (a gwspec checkpoint) or ``state_dict``.

Only tensors whose name and shape match the model are copied; the rest of the model keeps its
random initialisation. The one-output head (``fc``) never matches ImageNet's 1000 classes, and a
stem other than ``imagenet`` never matches its 7x7 ``conv1``; the log says what was loaded and
what was skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
import torchvision
from torch import nn

log = logging.getLogger(__name__)

IMAGENET = "imagenet"
# Our ResNets without a torchvision counterpart, and the torchvision model they borrow from.
IMAGENET_DONORS = {"resnet16": "resnet18"}
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DDP and torch.compile wrappers


@dataclass
class LoadReport:
    """What ``load_matching`` did with a state dict."""

    loaded: list[str] = field(default_factory=list)  # copied into the model
    skipped: list[str] = field(default_factory=list)  # in the source only, or of another shape
    missing: list[str] = field(default_factory=list)  # in the model only: random init kept

    def summary(self) -> str:
        """One line: counts, and the layers skipped and kept random (``layer4.1.* (12)``)."""
        return (f"loaded {len(self.loaded)} tensors; skipped {_layers(self.skipped)}; "
                f"kept random {_layers(self.missing)}")


def _layers(keys: list[str]) -> str:
    """Tensor names grouped by their layer, e.g. ``layer4.1.* (12), fc.* (2)``."""
    groups: dict[str, int] = {}
    for key in keys:
        parts = key.split(".")
        layer = ".".join(parts[: -2 if len(parts) >= 4 else -1])
        groups[layer] = groups.get(layer, 0) + 1
    return ", ".join(f"{g}.* ({n})" for g, n in groups.items()) or "none"


def pretrained_source(pretrained: bool | str | Path | None) -> str:
    """``""`` (random init), ``"imagenet"`` or a file path, from any accepted ``pretrained``."""
    if pretrained is None or pretrained is False:
        return ""
    if pretrained is True:
        return IMAGENET
    return str(pretrained)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a local weights file (``weights_only`` load), wrapper prefixes stripped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such pretrained weights file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable weights file ({type(error).__name__})") from error
    if isinstance(data, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)} \
        if isinstance(data, Mapping) else {}
    if not tensors:
        raise ValueError(f"{path}: holds no state dict (a mapping of names to tensors)")
    return {_strip(k): v for k, v in tensors.items()}


def _strip(key: str) -> str:
    while key.startswith(_WRAPPER_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def load_matching(model: nn.Module, state: Mapping[str, torch.Tensor]) -> LoadReport:
    """Copy the tensors of ``state`` whose name and shape match ``model``'s; report the rest."""
    own = model.state_dict()
    report = LoadReport()
    for key, value in state.items():
        if key in own and own[key].shape == value.shape:
            report.loaded.append(key)
        else:
            report.skipped.append(key)
    report.missing = [k for k in own if k not in set(report.loaded)]
    model.load_state_dict({k: state[k] for k in report.loaded}, strict=False)
    return report


def imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """torchvision's default ImageNet weights for our ResNet ``name`` (downloaded once, cached)."""
    donor = IMAGENET_DONORS.get(name, name)
    try:
        weights = torchvision.models.get_model_weights(donor).DEFAULT
    except ValueError as error:
        raise ValueError(f"no torchvision ImageNet weights for {name!r}") from error
    try:
        return weights.get_state_dict(progress=False)
    except Exception as error:  # URLError, OSError, hash mismatch: the download failed
        raise ValueError(f"ImageNet weights for {name!r} ({weights.url}) could not be had: "
                         f"{type(error).__name__}: {error}") from error


def timm_imagenet(name: str, in_chans: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """timm model ``name`` with timm's pretrained weights (timm adapts the stem and the head)."""
    try:
        return timm.create_model(name, pretrained=True, in_chans=in_chans,
                                 num_classes=num_classes, **kwargs)
    except Exception as error:  # no weights for the name, or the download failed
        first = (str(error).splitlines() or [""])[0]
        raise ValueError(f"ImageNet weights for timm model {name!r} could not be had: "
                         f"{type(error).__name__}: {first}") from error


def initialise(model: nn.Module, name: str, source: str) -> LoadReport:
    """Load ``source`` (``"imagenet"`` for our ResNets, or a file path) into ``model``."""
    state = imagenet_state_dict(name) if source == IMAGENET else read_state_dict(source)
    report = load_matching(model, state)
    if not report.loaded:
        raise ValueError(f"{source}: no tensor matches model {name!r} (first key "
                         f"{next(iter(state))!r})")
    log.info("%s initialised from %s: %s", name, source, report.summary())
    return report
