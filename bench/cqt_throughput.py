"""Throughput of ``build-cqt`` against the per-sample approach, and of the cache reader.

Simulates ``--n`` training samples into a temporary directory, then prints:
  * build: samples/s of ``build_cache`` end to end (PSD estimate, reading, whitening, CQT,
    shards, manifest) next to the naive per-sample loop of public G2Net notebooks (load one
    .npy, whiten it, CQT it as a batch of one), and their ratio;
  * reader: images/s through DataLoaders configured as training would, from a warm page cache
    (HDF5 shards, aligned contiguous batches) and from memory; float32 (the default) and
    float16 (no CPU conversion; convert on the GPU).

    .venv/bin/python bench/cqt_throughput.py --n 2000
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from preprocess.build import BuildOptions, build_cache, resolve_device
from preprocess.cache import ContiguousBatchSampler, SpectrogramCache, collate_batch
from preprocess.cqt import CQT, CQTConfig
from preprocess.layout import load_sample, read_split, sample_path
from preprocess.simulate import SimulationConfig, simulate
from preprocess.whiten import WhitenConfig, taper, whitening_filter


def naive_rate(data: Path, psd: np.ndarray, n: int, device: torch.device) -> float:
    """Samples/s of the one-file-at-a-time loop (numpy whitening, CQT with a batch of 1)."""
    whiten = WhitenConfig()
    window, filt = taper(whiten), whitening_filter(psd, whiten)
    cqt = CQT(CQTConfig()).to(device)
    ids = read_split(data, "train")["id"].tolist()[:n]
    started = time.perf_counter()
    with torch.inference_mode():
        for sample_id in ids:
            x = load_sample(sample_path(data, "train", sample_id)) / whiten.raw_scale
            white = np.fft.irfft(np.fft.rfft(x * window) * filt, n=whiten.n_time)
            image = cqt(torch.from_numpy(white).float()[None].to(device))  # (1, 3, F, T)
            image.half().cpu().numpy()
    return len(ids) / (time.perf_counter() - started)


def reader_rate(loader: DataLoader, epochs: int = 3) -> float:
    """Images/s over ``epochs`` epochs after one warm-up epoch."""
    for _ in loader:
        pass
    count, started = 0, time.perf_counter()
    for _ in range(epochs):
        for images, _targets, _ids in loader:
            count += len(images)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="simulated training samples")
    parser.add_argument("--naive-n", type=int, default=200, help="samples timed for the naive loop")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--work-dir", default=None, help="keep data and cache here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        data, out = work / "data", work / "cache"
        started = time.perf_counter()
        simulate(SimulationConfig(n_train=args.n, n_test=1, seed=7), data, overwrite=True,
                 progress=False)
        print(f"simulated {args.n} samples in {time.perf_counter() - started:.0f} s")

        options = BuildOptions(device=args.device, batch_size=args.batch_size,
                               workers=args.workers, shard_size=1024, progress=False)
        started = time.perf_counter()
        report = build_cache(data, "train", out, options=options)
        build = args.n / (time.perf_counter() - started)
        naive = naive_rate(data, report.manifest.psd, min(args.naive_n, args.n), device)
        print(f"build-cqt ({device}, batch {args.batch_size}, {args.workers} workers): "
              f"{build:.0f} samples/s end to end; naive per-sample loop: {naive:.0f} samples/s; "
              f"ratio {build / naive:.1f}x")

        batch, workers = args.batch_size, args.workers
        rates = {}
        for dtype in (torch.float32, torch.float16):
            name = str(dtype).removeprefix("torch.")
            chunked = SpectrogramCache(out, dtype=dtype)
            sampler = ContiguousBatchSampler(chunked, batch, shuffle=True)
            rates[f"chunked HDF5, {name}, ContiguousBatchSampler shuffle, {workers} workers"] = (
                DataLoader(chunked, batch_sampler=sampler, num_workers=workers,
                           persistent_workers=workers > 0, collate_fn=collate_batch))
            memory = SpectrogramCache(out, in_memory=True, dtype=dtype)
            rates[f"in_memory, {name}, random batches of {batch}, 0 workers"] = DataLoader(
                memory, batch_size=batch, sampler=RandomSampler(memory), collate_fn=collate_batch)
        chunked = SpectrogramCache(out)
        rates[f"chunked HDF5, float32, random single-image reads, {workers} workers"] = DataLoader(
            chunked, batch_size=batch, shuffle=True, num_workers=workers,
            persistent_workers=workers > 0)
        for name, loader in rates.items():
            print(f"reader ({name}): {reader_rate(loader):.0f} images/s")


if __name__ == "__main__":
    main()
