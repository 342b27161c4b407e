"""One registry for our ResNets and every timm model."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn
from torchvision.models.resnet import ResNet

import models
from models import (
    UnknownModelError,
    _registry,
    create_model,
    is_model,
    list_models,
    register_model,
)

OURS = ["resnet16", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
TINY_TIMM = "mobilenetv3_small_050"


def test_list_models_ours_first_then_timm() -> None:
    names = list_models()
    assert names[: len(OURS)] == OURS
    assert list_models(include_timm=False) == OURS
    assert len(names) == len(set(names))  # timm's resnet18 etc. are not listed twice
    assert set(timm.list_models()) <= set(names)


def test_list_models_pattern() -> None:
    matched = list_models("resnet1*")
    assert matched[:4] == ["resnet16", "resnet18", "resnet101", "resnet152"]
    assert "resnet18d" in matched  # a timm name
    assert all(n.startswith("resnet1") for n in matched)
    assert list_models("mobilenetv3_small_0*") == timm.list_models("mobilenetv3_small_0*")
    assert list_models("no_such_model*") == []


def test_our_resnets_take_precedence_over_timm() -> None:
    model = create_model("resnet18")
    assert type(model) is ResNet  # torchvision's class, not timm's ResNet
    kernel = models.STEMS[models.DEFAULT_STEM].kernel
    assert model.conv1.kernel_size == (kernel, kernel)


@pytest.mark.parametrize("in_chans", [3, 1])
def test_timm_model_forward(in_chans: int) -> None:
    model = create_model(TINY_TIMM, in_chans=in_chans).eval()
    assert isinstance(model, timm.models.MobileNetV3)
    with torch.no_grad():
        out = model(torch.randn(2, in_chans, 69, 129))
    assert out.shape == (2, 1)
    assert torch.isfinite(out).all()


def test_kwargs_reach_timm() -> None:
    model = create_model(TINY_TIMM, num_classes=4, drop_rate=0.3)
    assert model.get_classifier().out_features == 4
    assert model.drop_rate == 0.3


def test_is_model() -> None:
    assert is_model("resnet16") and is_model(TINY_TIMM) and is_model("resnet18.a1_in1k")
    assert not is_model("resnt50")


@pytest.mark.parametrize("name", ["resnt50", "mobilenetv3_smal_050"])
def test_unknown_name_lists_close_matches(name: str) -> None:
    with pytest.raises(UnknownModelError) as info:
        create_model(name)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert f"unknown model {name!r}; closest valid names:" in message
    expected = {"resnt50": "resnet50", "mobilenetv3_smal_050": TINY_TIMM}[name]
    assert expected in message


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(UnknownModelError, match="no close match"):
        create_model("zzzzzzzzzzzzzzzz")


@pytest.mark.parametrize("name", ["resnet18", TINY_TIMM])
def test_pretrained_false_is_random_init(name: str) -> None:
    torch.manual_seed(0)
    first = create_model(name, pretrained=False).state_dict()
    torch.manual_seed(0)
    second = create_model(name).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)  # see test_pretrained.py


def test_register_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_model_entrypoints", dict(_registry._model_entrypoints))

    @register_model
    def linear_probe(*, in_chans: int = 3, num_classes: int = 1) -> nn.Module:
        head = nn.Linear(in_chans, num_classes)
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)

    assert list_models("linear_*") == ["linear_probe"]
    out = create_model("linear_probe", in_chans=2, num_classes=3)(torch.randn(4, 2, 8, 8))
    assert out.shape == (4, 3)
    with pytest.raises(ValueError, match="'linear_probe' is already registered"):
        register_model(linear_probe)
