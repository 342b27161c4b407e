"""Where work runs: one device per process, and every CUDA-only step behind one small seam.

``resolve_device`` turns ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into the device of this
process. Under ``torchrun`` each process takes ``cuda:LOCAL_RANK`` (read from the environment,
as torchrun sets it), so ranks never pile onto GPU 0; an explicit ``cuda:N`` with more than one
process would put every rank on the same GPU and is refused.

The CUDA-only steps (``prepare``, ``synchronize``, ``to_host``, ``full_float32``,
``reset_peak_memory``, ``peak_memory``, ``supports_bfloat16``) are here and nowhere else: each
is a no-op (or a CPU answer) for a CPU device, so the code that calls them runs, and is
tested, on a machine without a GPU.
``cuda_available`` is the one question asked of the hardware; tests replace it to exercise the
resolution rules a GPU machine would follow.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def cuda_available() -> bool:
    """Whether this process can use a CUDA GPU."""
    import torch

    return torch.cuda.is_available()


def local_rank() -> int:
    """This process's rank on its machine (torchrun's ``LOCAL_RANK``; 0 without torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def gpu_count() -> int:
    """GPUs this process sees."""
    import torch

    return torch.cuda.device_count()


def world_size() -> int:
    """Processes in the job (torchrun's ``WORLD_SIZE``; 1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(name: str, rank: int | None = None, processes: int | None = None
                   ) -> torch.device:
    """The device of this process for ``name`` (``DEVICE_CHOICES``).

    ``auto`` is ``cuda:<rank>`` when a GPU is present, else ``cpu``; ``cuda`` is
    ``cuda:<rank mod GPUs>``: more processes than GPUs share them in turn (``torchrun
    --nproc_per_node 4`` on one GPU gives a search four processes' CPU cores for its PSD and
    window work). ``rank`` and ``processes`` default to torchrun's ``LOCAL_RANK`` and
    ``WORLD_SIZE``. Raises ``ValueError`` for an unknown device, for CUDA without a GPU and
    for ``cuda:N`` shared by several processes.
    """
    import torch

    rank = local_rank() if rank is None else rank
    processes = world_size() if processes is None else processes
    if name == "auto":
        name = "cuda" if cuda_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: use {DEVICE_CHOICES}") from error
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ValueError(f"unsupported device {name!r}: use {DEVICE_CHOICES}")
    if not cuda_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if device.index is None:
        return torch.device("cuda", rank % max(gpu_count(), 1))
    if processes > 1:
        raise ValueError(f"device {name!r} with {processes} processes would put every rank on "
                         f"GPU {device.index}; pass --device cuda (each process then takes "
                         "cuda:LOCAL_RANK) or set CUDA_VISIBLE_DEVICES")
    return device


def prepare(device: torch.device, benchmark: bool = False) -> None:
    """Make ``device`` this process's current GPU and initialise CUDA on it (no-op on a CPU).

    Done before anything asks CUDA's allocator about the device (peak-memory statistics raise
    "did you call init?" otherwise). ``benchmark`` lets cuDNN pick the fastest convolution
    algorithms for repeated input shapes (training's fixed batch shape).
    """
    if device.type != "cuda":
        return
    import torch

    torch.cuda.init()
    torch.cuda.set_device(device)
    if benchmark:
        torch.backends.cudnn.benchmark = True


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work (a timing point); no-op on a CPU."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak of allocated GPU memory (CUDA initialised first); no-op on a CPU."""
    if device.type == "cuda":
        import torch

        prepare(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> int | None:
    """Peak bytes of GPU tensors since ``reset_peak_memory``; None on a CPU."""
    if device.type != "cuda":
        return None
    import torch

    return int(torch.cuda.max_memory_allocated(device))


def supports_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: every CPU torch supports; a GPU of
    compute capability 8.0 (Ampere) or newer. Older GPUs only emulate it, slowly."""
    if device.type != "cuda":
        return True
    import torch

    return torch.cuda.get_device_capability(device) >= (8, 0)


def to_host(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """``tensors`` copied to the CPU with a single wait for the GPU: each copy is queued
    without blocking (into pinned memory, where it can overlap), then one synchronise. On a
    CPU the tensors themselves."""
    if not tensors or tensors[0].device.type != "cuda":
        return list(tensors)
    import torch

    host = []
    for tensor in tensors:
        pinned = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        host.append(pinned.copy_(tensor, non_blocking=True))
    synchronize(tensors[0].device)
    return host


@contextlib.contextmanager
def full_float32(device: torch.device) -> Iterator[None]:
    """Within the block, float32 convolutions and matrix products on ``device`` use full
    float32, not TensorFloat-32 (cuDNN allows TF32 by default: 10 mantissa bits, about what
    float16 storage keeps, so a cache built on a GPU and resumed on a CPU would mix two
    roundings). No-op on a CPU."""
    if device.type != "cuda":
        yield
        return
    import torch

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
