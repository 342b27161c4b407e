"""One model registry: gwspec's own builders first, then every timm model by name.

``register_model`` files a builder under its function name; ``create_model`` builds a registered
model or falls back to ``timm.create_model``, from random or pretrained weights
(``models.pretrained``); ``list_models`` lists both. Our names take precedence over timm's
(timm also has a ``resnet18``, with a different stem and init).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any

import timm
from torch import nn

from .pretrained import IMAGENET, initialise, pretrained_source, timm_imagenet

_model_entrypoints: dict[str, Callable[..., nn.Module]] = {}


class UnknownModelError(ValueError):
    """A model name that neither gwspec nor timm knows."""


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register ``fn`` as the builder of the model named ``fn.__name__``.

    A builder accepts ``in_chans``, ``num_classes`` and its own keyword options.
    """
    name = fn.__name__
    if name in _model_entrypoints:
        raise ValueError(f"model {name!r} is already registered")
    _model_entrypoints[name] = fn
    return fn


def list_models(pattern: str | None = None, *, include_timm: bool = True) -> list[str]:
    """Names ``create_model`` accepts: ours in registration order, then timm's (sorted).

    ``pattern`` is a shell-style wildcard (``fnmatch``), e.g. ``"resnet*"``, as in timm.
    """
    names = list(_model_entrypoints)
    if include_timm:
        names += [n for n in timm.list_models() if n not in _model_entrypoints]
    return names if pattern is None else fnmatch.filter(names, pattern)


def is_model(name: str) -> bool:
    """Whether ``create_model`` accepts ``name`` (timm names may carry a ``.tag``)."""
    return name in _model_entrypoints or timm.is_model(name)


def check_model_name(name: str) -> str:
    """Return ``name`` if ``create_model`` accepts it, else raise ``UnknownModelError``
    listing the closest valid names."""
    if is_model(name):
        return name
    close = difflib.get_close_matches(name, list_models(), n=5, cutoff=0.6)
    hint = f"closest valid names: {', '.join(close)}" if close else "no close match"
    raise UnknownModelError(f"unknown model {name!r}; {hint} (see models.list_models())")


def create_model(
    name: str, in_chans: int = 3, num_classes: int = 1, pretrained: bool | str = False,
    **kwargs: Any,
) -> nn.Module:
    """Build model ``name``: (B, in_chans, F, T) -> logits (B, num_classes).

    ``pretrained`` is ``False`` (random weights), ``True`` / ``"imagenet"`` or the path of a
    local state dict; see ``models.pretrained``. Extra ``kwargs`` go to the builder (e.g.
    ``stem="small"`` for our ResNets, ``drop_rate=0.2`` for timm models).
    """
    source = pretrained_source(pretrained)
    if name in _model_entrypoints:
        model = _model_entrypoints[name](in_chans=in_chans, num_classes=num_classes, **kwargs)
    else:
        check_model_name(name)
        if source == IMAGENET:
            return timm_imagenet(name, in_chans, num_classes, **kwargs)
        model = timm.create_model(
            name, pretrained=False, in_chans=in_chans, num_classes=num_classes, **kwargs
        )
    if source:
        initialise(model, name, source)
    return model
