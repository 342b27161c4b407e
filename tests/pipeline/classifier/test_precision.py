"""How a batch meets a model: autocast with float32 logits, memory format, the dtype per GPU."""

from __future__ import annotations

import pytest
import torch

from models import create_model
from pipeline.classifier.precision import Float32Linear, Precision, amp_dtype_for, float32_head
from runtime import devices


def test_bfloat16_becomes_float16_where_a_gpu_only_emulates_it(monkeypatch) -> None:
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(devices, "supports_bfloat16", lambda device: False)  # e.g. a V100, T4
    assert amp_dtype_for("bfloat16", cuda) == "float16"
    assert amp_dtype_for("float16", cuda) == "float16"
    monkeypatch.setattr(devices, "supports_bfloat16", lambda device: True)  # A100, H100
    assert amp_dtype_for("bfloat16", cuda) == "bfloat16"
    with pytest.raises(ValueError, match="amp dtype must be one of"):
        amp_dtype_for("float8", cuda)


def test_the_training_config_resolves_the_dtype_per_device(monkeypatch) -> None:
    from pipeline.training.config import TrainConfig

    monkeypatch.setattr(devices, "supports_bfloat16", lambda device: device.type != "cuda")
    resolved = TrainConfig(cache="x", in_memory=False).resolve(torch.device("cuda", 0))
    assert resolved.amp and resolved.channels_last and resolved.amp_dtype == "float16"
    cpu = TrainConfig(cache="x", in_memory=False).resolve(torch.device("cpu"))
    assert not cpu.amp and cpu.amp_dtype == "bfloat16"


@pytest.mark.parametrize("name", ["resnet16", "mobilenetv3_small_050"])
def test_logits_keep_float32_resolution_under_autocast(name) -> None:
    """bfloat16 logits keep 8 mantissa bits: 2,000 logits collapse to a few hundred values,
    and ranking then meets ties. With the head in float32 they stay distinct."""
    torch.manual_seed(0)
    model = create_model(name, in_chans=3, num_classes=1).eval()
    images = torch.randn(2000, 3, 16, 24)
    precision = Precision(torch.device("cpu"), torch.bfloat16)
    with torch.inference_mode(), precision.autocast():
        plain = model(images).view(-1)
    float32_head(model)
    assert isinstance(precision.prepare_model(model), torch.nn.Module)
    with torch.inference_mode(), precision.autocast():
        exact = model(images).view(-1)
    assert exact.dtype == torch.float32
    assert len(torch.unique(plain.float())) < 1000 < 1990 < len(torch.unique(exact))
    weights = model.state_dict()
    assert not any("head.head" in key or "fc.fc" in key for key in weights)  # names unchanged


def test_the_head_swap_keeps_the_weights_and_their_names() -> None:
    model = create_model("resnet16", in_chans=3, num_classes=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    float32_head(float32_head(model))  # twice: still one swap
    assert isinstance(model.fc, Float32Linear)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_batches_arrive_float32_in_the_chosen_format() -> None:
    half = torch.randn(4, 3, 8, 10).half()
    for channels_last in (False, True):
        x = Precision(torch.device("cpu"), None, channels_last).to_device(half)
        assert x.dtype == torch.float32
        assert x.is_contiguous(memory_format=torch.channels_last) == channels_last
    inference = Precision.for_inference(torch.device("cpu"))
    assert inference.amp_dtype is None and inference.channels_last  # a CPU: full float32
