"""What a model costs: parameters, multiply-adds per image, inference rate and peak memory.

- Multiply-adds: torch's own ``FlopCounterMode`` on one image, halved (it counts a
  multiply-add as two FLOPs); convolutions and matrix products only, as the counter does.
- Inference rate: images per second of the model run as ``pipeline predict`` runs it (the same
  ``Precision``: autocast, memory format, float32 head, float16 batches converted on the
  device) on batches already in memory, the median over the batches after one warm-up batch.
- Peak memory (``PeakMemory``): on CUDA, ``torch.cuda.max_memory_allocated`` (tensors only, not
  the allocator's cache); on the CPU, the largest growth of this process's resident set size
  over its value at the start, sampled every ``interval`` seconds (DataLoader worker processes
  are not counted).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pipeline.classifier.precision import Precision
from runtime import devices

MIB = 2**20


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def multiply_adds(model: nn.Module, image_shape: Sequence[int]) -> int:
    """Multiply-adds of one forward pass of one image ``(C, F, T)`` (on the CPU, eval mode)."""
    model = model.to("cpu").eval()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, *image_shape))
    return counter.get_total_flops() // 2


@torch.inference_mode()
def inference_rate(model: nn.Module, batches: Sequence[torch.Tensor],
                   precision: Precision) -> float:
    """Images per second of ``model`` on ``batches`` ``[(B, C, F, T), ...]`` (float16, as the
    cache stores them) run with ``precision``: the median over the batches after the first,
    which warms up (robust to a busy machine's pauses)."""
    if not batches:
        raise ValueError("no batches to time")
    model = precision.prepare_model(model).eval()
    inputs = [b.to(precision.device) for b in batches]  # in device memory, as stored
    rates = []
    for x in inputs[:1] + inputs:  # the first batch twice: once to warm up, untimed
        start = time.perf_counter()
        with precision.autocast():
            model(precision.to_device(x))
        devices.synchronize(precision.device)
        rates.append(len(x) / max(time.perf_counter() - start, 1e-9))
    return float(np.median(rates[1:]))


def _rss_bytes() -> int | None:
    """Resident set size of this process (Linux ``/proc``), None where unavailable."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Context manager measuring peak memory in MiB (``.mib``) and what it is (``.kind``)."""

    def __init__(self, device: torch.device, interval: float = 0.05):
        self.device, self.interval = device, interval
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_rss_growth"
        self.mib: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = self._peak = 0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss_bytes() or 0)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            devices.reset_peak_memory(self.device)  # initialises CUDA on the device first
        elif (base := _rss_bytes()) is not None:
            self._base = self._peak = base
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.mib = (devices.peak_memory(self.device) or 0) / MIB
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, _rss_bytes() or 0)
            self.mib = (self._peak - self._base) / MIB
