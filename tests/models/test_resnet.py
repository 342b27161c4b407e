"""ResNets built from torchvision's classes: parameter parity, stems, forward shapes."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from models import DEFAULT_STEM, STEMS, create_model, list_models, resnet_name

IMAGE = (3, 69, 129)  # (C, F, T) of the project's CQT spectrograms


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_imagenet_stem_matches_torchvision(depth: int) -> None:
    ours = create_model(f"resnet{depth}", in_chans=3, num_classes=1000, stem="imagenet")
    theirs = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    assert n_params(ours) == n_params(theirs)
    shapes = {k: v.shape for k, v in ours.state_dict().items()}
    assert shapes == {k: v.shape for k, v in theirs.state_dict().items()}


def test_resnet16_is_resnet18_minus_one_last_block() -> None:
    r16 = create_model("resnet16", num_classes=1000, stem="imagenet")
    r18 = create_model("resnet18", num_classes=1000, stem="imagenet")
    assert isinstance(r16, ResNet)
    assert [len(r16.get_submodule(f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 1]
    last_block = sum(p.numel() for p in r18.layer4[1].parameters())
    assert n_params(r18) - n_params(r16) == last_block
    weighted = [m for m in r16.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    downsample_convs = 3  # 1x1 shortcut convs of layer2..4, not counted as depth
    assert len(weighted) - downsample_convs == 16


@pytest.mark.parametrize("name", list_models(include_timm=False))
def test_every_registered_model_runs_forward(name: str) -> None:
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *IMAGE))
    assert out.shape == (2, 1)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("stem", "after_stem", "after_layer4"),
    [("imagenet", (18, 33), (3, 5)), ("small", (69, 129), (9, 17)), ("small_t2", (69, 65), (9, 9))],
)
def test_stem_feature_map_sizes(stem: str, after_stem: tuple, after_layer4: tuple) -> None:
    model = create_model("resnet18", stem=stem).eval()
    x = torch.randn(2, *IMAGE)
    with torch.no_grad():
        h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        assert h.shape == (2, 64, *after_stem)
        h = model.layer4(model.layer3(model.layer2(model.layer1(h))))
        assert h.shape == (2, 512, *after_layer4)
        assert model(x).shape == (2, 1)


def test_stem_set_and_default() -> None:
    assert set(STEMS) == {"imagenet", "small", "small_t2"}
    assert DEFAULT_STEM in STEMS
    default = create_model("resnet18")
    explicit = create_model("resnet18", stem=DEFAULT_STEM)
    assert default.conv1.kernel_size == explicit.conv1.kernel_size
    assert default.conv1.stride == explicit.conv1.stride


@pytest.mark.parametrize("stem", sorted(STEMS))
def test_one_input_channel(stem: str) -> None:
    model = create_model("resnet18", in_chans=1, stem=stem).eval()
    assert model.conv1.in_channels == 1
    with torch.no_grad():
        assert model(torch.randn(2, 1, *IMAGE[1:])).shape == (2, 1)


def test_stem_uses_torchvision_kaiming_init() -> None:
    conv = create_model("resnet18", in_chans=8, stem="small").conv1
    fan_out = conv.out_channels * math.prod(conv.kernel_size)
    expected = math.sqrt(2.0 / fan_out)  # kaiming normal, mode="fan_out", ReLU gain
    # the std of n normal draws errs by 1 / sqrt(2 n) of itself (~1 %): 5 standard errors;
    # torch's default init (kaiming uniform, a = sqrt(5), fan_in) would read 15 % higher
    error = 1 / math.sqrt(2 * conv.weight.numel())
    assert conv.weight.std().item() == pytest.approx(expected, rel=5 * error)
    assert conv.bias is None  # a BatchNorm follows


def test_kwargs_reach_torchvision_resnet() -> None:
    model = create_model("resnet18", zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert blocks and all(torch.all(b.bn2.weight == 0) for b in blocks)


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="unknown stem 'tiny'.*imagenet, small, small_t2"):
        create_model("resnet18", stem="tiny")
    with pytest.raises(ValueError, match="in_chans must be a positive integer"):
        create_model("resnet18", in_chans=0)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        create_model("resnet18", num_classes=0)


def test_resnet_name() -> None:
    assert [resnet_name(d) for d in (16, 18, 34, 50, 101, 152)] == [
        "resnet16", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"
    ]
    with pytest.raises(ValueError, match="depth 17; valid depths: 16, 18, 34, 50, 101, 152"):
        resnet_name(17)
