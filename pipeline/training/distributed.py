"""torchrun / DistributedDataParallel plumbing: process group, device, and cross-rank gathers.

Run ``torchrun --nproc_per_node N pipeline train ...``: torchrun sets ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``; without them everything here degrades to a single process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from runtime import devices

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""

    rank: int  # global rank, 0 writes every file
    world_size: int  # number of processes
    local_rank: int  # rank on this machine (picks the GPU)
    device: torch.device  # the device this process trains on

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0 (the one that logs and writes)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether a process group with more than one member is running."""
        return self.world_size > 1


def init_distributed(device_name: str = "auto", benchmark: bool = False) -> DistContext:
    """Join the torchrun process group if there is one (NCCL on GPUs, gloo on CPUs).

    The device is this rank's (``runtime.devices.resolve_device``), made current and
    initialised before anything else touches CUDA; ``benchmark`` turns on cuDNN's algorithm
    search for training's fixed batch shape.
    """
    world_size = devices.world_size()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = devices.local_rank()
    device = devices.resolve_device(device_name, local_rank, world_size)
    devices.prepare(device, benchmark=benchmark)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        logger.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend,
                    device)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def shutdown(context: DistContext) -> None:
    """Leave the process group (if this process joined one)."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistContext) -> None:
    """Wait for every rank (no-op in a single process)."""
    if context.distributed:
        dist.barrier()


def all_gather_objects(obj: Any, context: DistContext) -> list[Any]:
    """Every rank's ``obj`` in rank order (picklable objects of any size)."""
    if not context.distributed:
        return [obj]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def all_reduce_sum(values: list[float], context: DistContext) -> list[float]:
    """Element-wise sum of ``values`` over ranks (float64 on the CPU for gloo, device for NCCL)."""
    if not context.distributed:
        return list(values)
    device = context.device if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def broadcast_buffers(model: nn.Module, context: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP syncs buffers at the start of each forward, so after the last training step each rank
    holds its own statistics; validation and checkpoints must use one model, rank 0's.
    """
    if not context.distributed:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)
