"""Training throughput: the real cache DataLoader against tensors already in memory.

Usage: ``python bench/train_throughput.py [--n-images 4096] [--batch-size 64] [--steps 30]``.
Writes a random cache (default image size 3x69x129) into a temporary directory, then for each
model (ResNet18, ResNet34) prints training images/s fed by ``pipeline.data.build_loaders`` and
by the same batches held on the device (the compute limit); their ratio is the data path's
efficiency (target >= 0.95). On the CPU it also compares the default memory format with
channels_last and with torch.compile (which needs a working C compiler; failures are reported).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from models import create_model
from pipeline.augment import AugmentConfig, BatchAugment
from pipeline.config import TrainConfig
from pipeline.data import build_loaders
from pipeline.distributed import DistContext, resolve_device
from pipeline.train import Precision, build_optimisation, train_one_epoch
from preprocess.cache import write_cache


class Limited:
    """The first ``steps`` batches of an iterable, with a length (as train_one_epoch expects)."""

    def __init__(self, batches: Iterable, steps: int):
        self.batches, self.steps = batches, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.batches), self.steps)


def random_cache(root: Path, n: int, shape: tuple[int, int, int]) -> Path:
    """A cache of ``n`` random float16 images with alternating targets."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((n, *shape), dtype=np.float32).astype(np.float16)
    write_cache(root, images, [f"{i:08x}" for i in range(n)], np.arange(n) % 2,
                config={"benchmark": True, "shape": list(shape)})
    return root


def images_per_second(model_name: str, batches: Iterable, steps: int, config: TrainConfig,
                      precision: Precision, compile_model: bool = False) -> float:
    """Train ``steps`` batches after ``steps // 3 + 1`` warm-up batches; images per second."""
    torch.manual_seed(0)
    model = create_model(model_name, **config.model_kwargs)
    fmt = torch.channels_last if precision.channels_last else torch.preserve_format
    model.to(precision.device, memory_format=fmt)
    optimizer, scheduler, scaler = build_optimisation(model, config, steps, precision)
    net = torch.compile(model) if compile_model else model
    context = DistContext(0, 1, 0, precision.device)
    augment = BatchAugment(config.augment)
    run = dict(precision=precision, augment=augment, grad_clip=config.grad_clip, global_step=0,
               context=context)
    train_one_epoch(net, Limited(batches, steps // 3 + 1), optimizer, scheduler, scaler, **run)
    stats = train_one_epoch(net, Limited(batches, steps), optimizer, scheduler, scaler, **run)
    return stats.images / stats.seconds


def in_memory_batches(loader: Iterable, steps: int, device: torch.device) -> list:
    """``steps`` batches taken from ``loader`` once and kept on ``device`` (cycled)."""
    first = [(x.to(device), y.to(device), ids) for x, y, ids in Limited(loader, steps)]
    return list(itertools.islice(itertools.cycle(first), 2 * steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=4096, help="images in the random cache")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--image-shape", type=int, nargs=3, default=(3, 69, 129))
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet34"])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    device = resolve_device(args.device)
    base = TrainConfig(cache="-", batch_size=args.batch_size, folds=5, amp=args.amp,
                       workers=args.workers, augment=AugmentConfig()).resolve(device)
    precision = Precision(device, torch.bfloat16 if base.amp else None, bool(base.channels_last))
    print(f"device {device}, images {tuple(args.image_shape)}, batch {args.batch_size}, "
          f"{args.steps} steps, workers {base.workers}, amp {base.amp}, "
          f"channels_last {base.channels_last}, torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = random_cache(Path(tmp) / "cache", args.n_images, tuple(args.image_shape))
        loaders = build_loaders(cache, folds=5, fold=0, seed=0, batch_size=args.batch_size,
                                workers=int(base.workers), pin_memory=device.type == "cuda")
        steps = min(args.steps, len(loaders.train))
        resident = in_memory_batches(loaders.train, steps, device)
        print(f"{'model':<10} {'loader img/s':>13} {'memory img/s':>13} {'ratio':>6}")
        for name in args.models:
            config = replace(base, model=name)
            fed = images_per_second(name, loaders.train, steps, config, precision)
            limit = images_per_second(name, resident, steps, config, precision)
            print(f"{name:<10} {fed:>13.1f} {limit:>13.1f} {fed / limit:>6.3f}")
        if device.type == "cpu":
            cpu_variants(args.models, resident, steps, base)


def cpu_variants(models: list[str], resident: list, steps: int, base: TrainConfig) -> None:
    """Compute-limit images/s on the CPU: default, channels_last, torch.compile."""
    cpu = torch.device("cpu")
    print(f"{'model':<10} {'default':>10} {'chan_last':>10} {'compile':>10}")
    for name in models:
        config = replace(base, model=name)
        default = images_per_second(name, resident, steps, config, Precision(cpu))
        nhwc = images_per_second(name, resident, steps, config, Precision(cpu, None, True))
        try:
            rate = images_per_second(name, resident, steps, config, Precision(cpu), True)
            compiled = f"{rate:.1f}"
        except Exception as error:  # inductor needs a C++ toolchain; report, do not stop
            compiled = f"failed ({type(error).__name__}: {str(error).splitlines()[0][:80]})"
        print(f"{name:<10} {default:>10.1f} {nhwc:>10.1f} {compiled:>10}")


if __name__ == "__main__":
    main()
