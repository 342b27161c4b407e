"""Training throughput: the real cache DataLoaders against tensors already in memory.

Usage: ``python bench/train_throughput.py [--n-images 2048] [--batch-size 16] [--steps 3]``.
Writes a random cache (default image size 3x69x129) into a temporary directory, then prints

  * loader: images/s of the training DataLoader exactly as ``pipeline.training.data.build_loaders``
    builds it, in memory (float16 index gathers, no workers) and lazy (HDF5 contiguous runs,
    ``--workers`` processes), from a warm page cache, batches moved to the device;
  * training: for each model (ResNet18, ResNet34) and stem (ImageNet and "small"), images/s
    fed by each loader and by the same batches held on the device (the compute limit); the
    ratio is the data path's efficiency (target >= 0.95);
  * on the CPU: the compute limit with the default memory format, channels_last and
    torch.compile (which needs a working C compiler; failures are reported, not raised).

The default run takes a few minutes on two CPU cores; the CPU figures are the compute-bound
case (the model is far slower than the reader), the GPU the interesting one.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from models import create_model
from pipeline.classifier.precision import Precision
from pipeline.training.augment import BatchAugment
from pipeline.training.config import AugmentConfig, TrainConfig
from pipeline.training.data import FoldLoaders, build_loaders
from pipeline.training.distributed import DistContext
from pipeline.training.loop import train_one_epoch
from pipeline.training.optimisation import build_optimisation
from preprocess.cache import write_cache
from runtime.devices import resolve_device


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
                config={"benchmark": True, "shape": list(shape)}, shard_size=1024)
    return root


def loader_rate(loaders: FoldLoaders, precision: Precision, epochs: int) -> float:
    """Images/s of the training loader over ``epochs`` epochs (after a warm-up epoch), each
    batch moved to the device as float32 as training does."""
    count, started = 0, 0.0
    for epoch in range(epochs + 1):
        if epoch == 1:
            count, started = 0, time.perf_counter()
        loaders.train_sampler.set_epoch(epoch)
        for images, targets, _ids in loaders.train:
            precision.to_device(images)
            targets.to(precision.device, non_blocking=True)
            count += len(images)
    if precision.device.type == "cuda":
        torch.cuda.synchronize(precision.device)
    return count / (time.perf_counter() - started)


def images_per_second(config: TrainConfig, batches: Iterable, steps: int, precision: Precision,
                      compile_model: bool = False) -> float:
    """Train ``steps`` batches after ``steps // 2 + 1`` warm-up batches; images per second."""
    torch.manual_seed(0)
    model = create_model(config.model, **config.model_kwargs)
    fmt = torch.channels_last if precision.channels_last else torch.preserve_format
    model.to(precision.device, memory_format=fmt)
    optimizer, scheduler, scaler = build_optimisation(model, config, 2 * steps, precision)
    net = torch.compile(model) if compile_model else model
    run = dict(precision=precision, augment=BatchAugment(config.augment),
               grad_clip=config.grad_clip, global_step=0,
               context=DistContext(0, 1, 0, precision.device), progress=False)
    train_one_epoch(net, Limited(batches, steps // 2 + 1), optimizer, scheduler, scaler, **run)
    stats = train_one_epoch(net, Limited(batches, steps), optimizer, scheduler, scaler, **run)
    return stats.images / stats.seconds


def resident_batches(loader: Iterable, steps: int, precision: Precision) -> list:
    """``steps`` batches taken from ``loader`` once and kept on the device as float32 (cycled),
    so training on them measures the model alone."""
    first = [(precision.to_device(x), y.to(precision.device), ids)
             for x, y, ids in Limited(loader, steps)]
    return list(itertools.islice(itertools.cycle(first), 2 * steps))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=2048, help="images in the random cache")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--loader-epochs", type=int, default=2, help="timed loader epochs")
    parser.add_argument("--image-shape", type=int, nargs=3, default=(3, 69, 129))
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet34"])
    parser.add_argument("--stem", nargs="+", default=["imagenet", "small"],
                        help="input stems of our ResNets")
    parser.add_argument("--workers", type=int, default=None, help="lazy loader workers")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--variant-stems", nargs="*", default=["imagenet"],
                        help="stems of the CPU default / channels_last / compile comparison "
                             "(none: skip it; our stride-1 stem is ~15x slower on a CPU)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = resolve_device(args.device)
    base = TrainConfig(cache="-", batch_size=args.batch_size, folds=5, amp=args.amp,
                       workers=args.workers, augment=AugmentConfig()).resolve(device)
    precision = Precision(device, torch.bfloat16 if base.amp else None, bool(base.channels_last))
    print(f"device {device}, images {tuple(args.image_shape)}, batch {args.batch_size}, "
          f"{args.steps} steps, lazy workers {base.workers}, amp {base.amp}, "
          f"channels_last {base.channels_last}, torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = random_cache(Path(tmp) / "cache", args.n_images, tuple(args.image_shape))
        loaders = {
            mode: build_loaders(cache, folds=5, fold=0, seed=0, batch_size=args.batch_size,
                                workers=int(base.workers), in_memory=mode == "memory",
                                pin_memory=device.type == "cuda")
            for mode in ("memory", "lazy")
        }
        print(f"\n{'loader':<8} {'workers':>7} {'images/s':>10}")
        for mode, fold in loaders.items():
            rate = loader_rate(fold, precision, args.loader_epochs)
            print(f"{mode:<8} {fold.train.num_workers:>7} {rate:>10.0f}")

        steps = min(args.steps, len(loaders["memory"].train) // 2)
        resident = resident_batches(loaders["memory"].train, steps, precision)
        configs = [replace(base, model=name, model_kwargs={"stem": stem})
                   for name in args.models for stem in args.stem]
        print(f"\n{'model':<9} {'stem':<9} {'memory':>8} {'lazy':>8} {'tensors':>8} "
              f"{'ratio mem':>9} {'ratio lazy':>10}   (training images/s)")
        for config in configs:
            fed = {mode: images_per_second(config, fold.train, steps, precision)
                   for mode, fold in loaders.items()}
            limit = images_per_second(config, resident, steps, precision)
            print(f"{config.model:<9} {config.model_kwargs['stem']:<9} {fed['memory']:>8.1f} "
                  f"{fed['lazy']:>8.1f} {limit:>8.1f} {fed['memory'] / limit:>9.3f} "
                  f"{fed['lazy'] / limit:>10.3f}")
        variants = [c for c in configs if c.model_kwargs["stem"] in args.variant_stems]
        if device.type == "cpu" and variants:
            cpu_variants(variants, resident, steps)


def cpu_variants(configs: list[TrainConfig], resident: list, steps: int) -> None:
    """Compute-limit images/s on the CPU: default, channels_last, torch.compile."""
    cpu = torch.device("cpu")
    print(f"\n{'model':<9} {'stem':<9} {'default':>8} {'chan_last':>9} {'compile':>8}"
          "   (training images/s on tensors, CPU)")
    for config in configs:
        default = images_per_second(config, resident, steps, Precision(cpu))
        nhwc = images_per_second(config, resident, steps, Precision(cpu, None, True))
        try:
            compiled = f"{images_per_second(config, resident, steps, Precision(cpu), True):.1f}"
        except Exception as error:  # inductor needs a C++ toolchain; report, do not stop
            compiled = f"failed ({type(error).__name__}: {str(error).splitlines()[0][:60]})"
        print(f"{config.model:<9} {config.model_kwargs['stem']:<9} {default:>8.1f} "
              f"{nhwc:>9.1f} {compiled:>8}")


if __name__ == "__main__":
    main()
