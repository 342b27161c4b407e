"""Throughput of ``build-cqt`` against the per-sample approach, and of the cache reader.

Simulates ``--n`` training samples into a temporary directory, then prints:
  * build: samples/s of ``build_cache`` end to end (PSD estimate, DataLoader workers reading
    files, whitening, CQT, float16 HDF5 shards, manifest) with each CQT algorithm
    (``--cqt-kernel``), next to the naive per-sample loop of the public
    G2Net notebooks (see ``naive_rate``), their ratios, and the CQT alone. The naive loop and
    the builds run under the same torch thread counts (``--threads``). On a CPU the CQT's
    multiply-adds bound both (one 2048-tap convolution, ~110 M per sample, in the notebooks;
    ~38 M with the default per-octave kernels), so batching gains little by itself; the
    batched build's other lever is a GPU, whose rate must be measured with
    ``--device cuda`` on a machine that has one (the naive loop stays on the CPU, as the
    notebooks ran it in their data loaders);
  * reader: images/s of the training DataLoader exactly as ``pipeline.training.data.build_loaders``
    builds it (float16; training converts on the device), in memory and lazy from a warm page
    cache, next to the naive random single-image float32 reads.

    .venv/bin/python bench/cqt_throughput.py --n 2000
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from nnAudio.features import CQT1992v2
from torch.utils.data import DataLoader

from pipeline.training.data import FoldLoaders, build_loaders
from preprocess.build import build_cache
from preprocess.config import ALGORITHMS, BuildOptions, CQTConfig
from preprocess.cqt import CQT
from preprocess.dataset import SpectrogramCache
from preprocess.layout import N_TIME, read_split, sample_path
from preprocess.simulate import SimulationConfig, simulate
from runtime.devices import resolve_device


def naive_rate(data: Path, n: int) -> float:
    """Samples/s of the public G2Net notebooks' per-sample loop, on the CPU.

    Per sample: ``np.load`` one file, ``np.hstack`` the 3 detectors into one 12288-sample
    series, divide by its maximum, ``torch.from_numpy`` and one call of a ``CQT1992v2(sr=2048,
    fmin=20, fmax=1024, hop_length=32)`` created once: one ``(1, 69, 385)`` image.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transform = CQT1992v2(sr=2048, fmin=20, fmax=1024, hop_length=32, verbose=False)
    ids = read_split(data, "train")["id"].tolist()[:n]
    started = time.perf_counter()
    with torch.inference_mode():
        for sample_id in ids:
            waves = np.hstack(np.load(sample_path(data, "train", sample_id)))
            waves = waves / np.max(waves)
            image = transform(torch.from_numpy(waves).float())  # (1, 69, 385)
            image.squeeze().numpy()
    return len(ids) / (time.perf_counter() - started)


def cqt_call_rate(config: CQTConfig, batch: int, seconds: float = 3.0) -> float:
    """Samples/s of the CQT alone on ``(batch, 3, 4096)`` noise, on the CPU."""
    cqt, x = CQT(config), torch.randn(batch, 3, N_TIME)
    count, started = 0, time.perf_counter()
    with torch.inference_mode():
        cqt(x)
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            cqt(x)
            count += batch
    return count / (time.perf_counter() - started)


def build_rate(data: Path, out: Path, n: int, algorithm: str, options: BuildOptions) -> float:
    """Samples/s of ``build_cache`` end to end into a fresh ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    build_cache(data, "train", out, CQTConfig(algorithm=algorithm), options=options)
    return n / (time.perf_counter() - started)


def compare_build(data: Path, out: Path, args: argparse.Namespace) -> None:
    """Print build-cqt rates (every CQT algorithm), the naive rate and their ratios.

    Each torch thread count of ``--threads`` is timed for the naive loop and the builds alike;
    the ratio compares the best build with the best naive loop. The default algorithm runs
    last so that ``out`` holds the default cache for the reader section.
    """
    best_naive, best_build = 0.0, (0.0, "")
    before = torch.get_num_threads()
    algorithms = [a for a in ALGORITHMS if a != CQTConfig.algorithm] + [CQTConfig.algorithm]
    for threads in args.threads:
        torch.set_num_threads(threads)
        naive = naive_rate(data, min(args.naive_n, args.n))
        best_naive = max(best_naive, naive)
        print(f"naive per-sample loop (cpu, {threads} torch threads): {naive:.0f} samples/s")
        device = resolve_device(args.device)
        options = BuildOptions(device=args.device, batch_size=args.batch_size,
                               workers=args.build_workers, threads=threads, shard_size=1024,
                               progress=False).for_device(device.type)
        setting = (f"{device}, batch {options.batch_size}, {options.workers} workers, "
                   f"{threads} torch threads")
        for algorithm in algorithms:
            alone = cqt_call_rate(CQTConfig(algorithm=algorithm), options.batch_size)
            build = build_rate(data, out, args.n, algorithm, options)
            best_build = max(best_build, (build, f"{algorithm}, {threads} threads"))
            print(f"  build-cqt --cqt-kernel {algorithm} ({setting}): {build:.0f} samples/s end "
                  f"to end, {build / naive:.1f}x naive; CQT alone on the cpu {alone:.0f} "
                  "samples/s")
    torch.set_num_threads(before)
    print(f"best build ({best_build[1]}) / best naive: {best_build[0] / best_naive:.1f}x")


def reader_rate(loaders: FoldLoaders | DataLoader, epochs: int = 3) -> float:
    """Images/s of a training loader over ``epochs`` epochs after one warm-up epoch."""
    loader = loaders.train if isinstance(loaders, FoldLoaders) else loaders
    count, started = 0, 0.0
    for epoch in range(epochs + 1):
        if epoch == 1:
            count, started = 0, time.perf_counter()
        if isinstance(loaders, FoldLoaders):
            loaders.train_sampler.set_epoch(epoch)
        for images, _targets, _ids in loader:
            count += len(images)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="simulated training samples")
    parser.add_argument("--naive-n", type=int, default=200, help="samples timed for the naive loop")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--build-workers", type=int, default=BuildOptions.workers,
                        help="build-cqt reader processes (default: build-cqt's for the device)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch thread counts, each timed for the build and the naive loop")
    parser.add_argument("--batch-size", type=int, default=BuildOptions.batch_size,
                        help="build-cqt batch (default: build-cqt's for the device); the "
                             "readers use 64 when not given")
    parser.add_argument("--work-dir", default=None, help="keep data and cache here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        data, out = work / "data", work / "cache"
        started = time.perf_counter()
        simulate(SimulationConfig(n_train=args.n, n_test=1, seed=7), data, overwrite=True,
                 progress=False)
        print(f"simulated {args.n} samples in {time.perf_counter() - started:.0f} s")

        compare_build(data, out, args)

        batch, workers = args.batch_size or 64, args.workers
        for in_memory in (True, False):
            loaders = build_loaders(out, folds=5, fold=0, seed=0, batch_size=batch,
                                    workers=workers, in_memory=in_memory)
            how = "in memory, random batches" if in_memory else "lazy HDF5, contiguous runs"
            print(f"reader (training DataLoader, {how}, float16, "
                  f"{loaders.train.num_workers} workers): {reader_rate(loaders):.0f} images/s")
        chunked = SpectrogramCache(out)
        baseline = DataLoader(chunked, batch_size=batch, shuffle=True, num_workers=workers,
                              persistent_workers=workers > 0)
        print(f"reader (baseline: float32 random single-image reads, {workers} workers): "
              f"{reader_rate(baseline):.0f} images/s")

if __name__ == "__main__":
    main()
