"""Simulation throughput: samples per second with 1 and with 2 worker processes.

Usage: ``python bench/simulate_speed.py [--n 2000] [--approximant IMRPhenomPv2]``. Writes into a
temporary directory that is removed afterwards; also prints the per-stage cost of one sample.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from preprocess.simulate import SimulationConfig, simulate
from preprocess.simulate.noise import colored_noise
from preprocess.simulate.priors import draw_parameters
from preprocess.simulate.sample import noise_psds
from preprocess.simulate.waveform import polarizations, project


def stage_costs(config: SimulationConfig, repeats: int = 100) -> dict[str, float]:
    """Milliseconds per call of each stage of one signal sample."""
    rng = np.random.default_rng(0)
    psds = noise_psds(config)
    params = [draw_parameters(rng, config) for _ in range(repeats)]
    start = time.perf_counter()
    for _ in range(repeats):
        colored_noise(psds, rng)
    noise = time.perf_counter() - start
    start = time.perf_counter()
    waves = [polarizations(p, config.approximant, config.f_lower, 100.0) for p in params]
    waveform = time.perf_counter() - start
    start = time.perf_counter()
    for p, wave in zip(params, waves, strict=True):
        project(*wave, p, config.gps_time)
    projection = time.perf_counter() - start
    scale = 1e3 / repeats
    return {"noise": noise * scale, "waveform": waveform * scale, "projection": projection * scale}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="samples per run (train split)")
    parser.add_argument("--approximant", default="IMRPhenomPv2")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    config = SimulationConfig(n_train=args.n, n_test=0, seed=0, approximant=args.approximant)
    costs = stage_costs(config)
    print("per-stage ms: " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            out = Path(tmp) / f"w{workers}"
            start = time.perf_counter()
            simulate(config, out, workers=workers, progress=False)
            elapsed = time.perf_counter() - start
            size = sum(p.stat().st_size for p in out.rglob("*.npy")) / args.n
            print(
                f"{args.approximant} workers={workers}: {args.n} samples in {elapsed:.2f} s, "
                f"{args.n / elapsed:.0f} samples/s, {size / 1024:.1f} KiB/sample"
            )


if __name__ == "__main__":
    main()
