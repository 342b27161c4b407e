"""Pretrained initialisation: local state dicts, ImageNet weights (served locally), errors."""

from __future__ import annotations

import logging
from urllib.error import URLError

import pytest
import torch
from torchvision.models import ResNet18_Weights, resnet18

from models import create_model, pretrained
from models.pretrained import load_matching, read_state_dict

TINY_TIMM = "mobilenetv3_small_050"


@pytest.mark.parametrize("name", ["resnet16", TINY_TIMM])
def test_local_file_loads_exactly_the_saved_weights(name, tmp_path) -> None:
    torch.manual_seed(1)
    source = create_model(name)
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    torch.manual_seed(2)
    model = create_model(name, pretrained=str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    torch.manual_seed(2)
    fresh = create_model(name).state_dict()  # what the seed alone would have given
    assert not all(torch.equal(fresh[k], v) for k, v in source.state_dict().items())


def test_checkpoint_and_wrapped_state_dicts_are_read(tmp_path) -> None:
    state = create_model("resnet16").state_dict()
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 3},
               tmp_path / "ckpt.pt")
    read = read_state_dict(tmp_path / "ckpt.pt")
    assert set(read) == set(state)


class FakeImageNet:
    """Stands in for torchvision's download: a seeded 1000-class ResNet18's state dict."""

    def __init__(self) -> None:
        torch.manual_seed(7)
        self.state = resnet18(num_classes=1000).state_dict()
        self.asked: list[object] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Replace ``ResNet18_Weights.get_state_dict`` (no network in tests)."""
        def get_state_dict(weights, *args, **kwargs):
            self.asked.append(weights)
            return self.state

        monkeypatch.setattr(ResNet18_Weights, "get_state_dict", get_state_dict)


def test_resnet16_takes_resnet18_imagenet_weights_where_shared(monkeypatch, caplog) -> None:
    fake = FakeImageNet()
    fake.install(monkeypatch)
    with caplog.at_level(logging.INFO, logger="models.pretrained"):
        model = create_model("resnet16", pretrained="imagenet")
    assert fake.asked == [ResNet18_Weights.IMAGENET1K_V1]
    own = model.state_dict()
    shared = [k for k in fake.state if k in own and own[k].shape == fake.state[k].shape]
    assert "conv1.weight" in shared and "layer4.0.conv2.weight" in shared
    for key in shared:
        assert torch.equal(own[key], fake.state[key]), key
    assert not any(k.startswith("layer4.1.") for k in own)  # resnet16 lacks that block
    assert own["fc.weight"].shape == (1, 512)  # the one-output head keeps its random init
    assert "loaded 108 tensors; skipped layer4.1.* (12), fc.* (2); kept random fc.* (2)" \
        in caplog.text


def test_small_stem_skips_the_imagenet_stem(monkeypatch) -> None:
    fake = FakeImageNet()
    fake.install(monkeypatch)
    model = create_model("resnet18", pretrained=True, stem="small")
    report = load_matching(model, fake.state)
    assert "conv1.weight" in report.skipped and "conv1.weight" in report.missing
    assert torch.equal(model.state_dict()["layer1.0.conv1.weight"],
                       fake.state["layer1.0.conv1.weight"])


def test_download_failure_is_one_clear_line(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", offline)
    with pytest.raises(ValueError, match=r"ImageNet weights for 'resnet16' \(https://.*resnet18"
                                         r".*\) could not be had: URLError") as info:
        create_model("resnet16", pretrained="imagenet")
    assert "\n" not in str(info.value)

    def timm_offline(*args, **kwargs):
        raise RuntimeError("could not reach huggingface.co\nmore detail")

    monkeypatch.setattr(pretrained.timm, "create_model", timm_offline)
    with pytest.raises(ValueError, match=f"timm model '{TINY_TIMM}' could not be had: "
                                         "RuntimeError: could not reach huggingface.co$"):
        create_model(TINY_TIMM, pretrained="imagenet")


def test_bad_files_fail_clearly(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt: no such pretrained weights file"):
        create_model("resnet16", pretrained=str(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_text("not torch")
    with pytest.raises(ValueError, match="junk.pt: not a readable weights file"):
        create_model("resnet16", pretrained=str(tmp_path / "junk.pt"))
    torch.save({"epoch": 1}, tmp_path / "empty.pt")
    with pytest.raises(ValueError, match="empty.pt: holds no state dict"):
        create_model("resnet16", pretrained=str(tmp_path / "empty.pt"))
    torch.save({"head.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: no tensor matches model 'resnet16'"):
        create_model("resnet16", pretrained=str(tmp_path / "other.pt"))
