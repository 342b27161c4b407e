"""One device per process, and the CUDA-only steps behind one seam that runs on a CPU."""

from __future__ import annotations

import pytest
import torch

from preprocess.config import BuildOptions
from runtime import devices


@pytest.fixture
def gpus(monkeypatch):
    """Pretend CUDA is present: only the resolution rules run, nothing touches a GPU."""
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    monkeypatch.setattr(devices, "gpu_count", lambda: 4)
    return monkeypatch


def test_each_rank_takes_its_own_gpu(gpus) -> None:
    gpus.setenv("LOCAL_RANK", "3")
    gpus.setenv("WORLD_SIZE", "4")
    assert devices.resolve_device("auto") == torch.device("cuda", 3)
    assert devices.resolve_device("cuda") == torch.device("cuda", 3)
    with pytest.raises(ValueError, match="with 4 processes would put every rank on GPU 1"):
        devices.resolve_device("cuda:1")
    assert devices.resolve_device("cpu") == torch.device("cpu")
    gpus.setenv("WORLD_SIZE", "1")
    assert devices.resolve_device("cuda:1") == torch.device("cuda", 1)  # one process: its choice


def test_more_processes_than_gpus_share_them_in_turn(gpus) -> None:
    """``torchrun --nproc_per_node 4`` on one GPU (more CPU cores for a search's PSD and
    windows): every rank on cuda:0, not an invalid device ordinal."""
    gpus.setenv("WORLD_SIZE", "4")
    gpus.setattr(devices, "gpu_count", lambda: 1)
    for rank in range(4):
        gpus.setenv("LOCAL_RANK", str(rank))
        assert devices.resolve_device("auto") == torch.device("cuda", 0)
    gpus.setattr(devices, "gpu_count", lambda: 2)
    assert devices.resolve_device("cuda") == torch.device("cuda", 1)  # rank 3 of 2 GPUs


def test_build_and_train_resolve_alike(gpus) -> None:
    """build-cqt under torchrun: rank 3 builds on cuda:3 (it used to take cuda, i.e. GPU 0),
    the GPU training's process of the same local rank trains on."""
    from pipeline.training.distributed import init_distributed
    from preprocess.build import build_device

    gpus.setenv("LOCAL_RANK", "3")
    options = BuildOptions(device="cuda", rank=3, world_size=4)
    assert build_device(options) == torch.device("cuda", 3)
    prepared = []
    gpus.setattr(devices, "prepare", lambda device, benchmark=False: prepared.append(device))
    context = init_distributed("auto")  # WORLD_SIZE unset: one process, no process group
    assert context.device == torch.device("cuda", 3) == prepared[0]


def test_without_a_gpu_cuda_is_refused_and_auto_is_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        devices.resolve_device("cuda")
    for bad in ("tpu", "gpu0", "meta"):
        with pytest.raises(ValueError, match="use auto, cpu, cuda or cuda:N"):
            devices.resolve_device(bad)


def test_the_cuda_seam_is_a_no_op_on_a_cpu() -> None:
    cpu = torch.device("cpu")
    x, y = torch.randn(3, 4), torch.arange(5)
    assert all(a is b for a, b in zip(devices.to_host(x, y), (x, y), strict=True))
    devices.prepare(cpu, benchmark=True)
    devices.synchronize(cpu)
    devices.reset_peak_memory(cpu)
    assert devices.peak_memory(cpu) is None and devices.supports_bfloat16(cpu)
    with devices.full_float32(cpu):
        assert torch.backends.cudnn.allow_tf32  # untouched on a CPU


def test_peak_memory_initialises_cuda_before_asking_its_allocator(monkeypatch) -> None:
    """The single-GPU family failed every member: reset_peak_memory_stats ran before anything
    had initialised CUDA. The seam now initialises and selects the device first."""
    from pipeline.family.costs import PeakMemory

    calls = []
    for name in ("init", "set_device", "reset_peak_memory_stats", "max_memory_allocated"):
        monkeypatch.setattr(torch.cuda, name,
                            lambda *args, _name=name, **kw: calls.append(_name) or 2**20)
    with PeakMemory(torch.device("cuda", 0)) as peak:
        pass
    assert calls == ["init", "set_device", "reset_peak_memory_stats", "max_memory_allocated"]
    assert peak.mib == 1.0 and peak.kind == "cuda_max_allocated"


def test_tf32_is_off_while_a_cache_is_built(monkeypatch) -> None:
    before = torch.backends.cudnn.allow_tf32
    with devices.full_float32(torch.device("cuda", 0)):
        assert not torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cudnn.allow_tf32 == before
