"""Every GPU path of gwspec, end to end on a small simulated set, with the figures it reached.

On a machine with a CUDA GPU (under 10 minutes on one H100/H200):

  1. simulate ``--n-train`` + ``--n-test`` samples (CPU processes);
  2. ``build-cqt`` on the GPU (library call, and the command with ``--device cuda`` for the
     test split) against the CPU path on the same samples: samples/s of each;
  3. ``train`` (ResNet18, one epoch) in full float32, with AMP, AMP + channels_last and
     AMP + channels_last + ``torch.compile``: training and validation images/s, peak memory
     and the GPU utilisation kept while training (NVML through ``torch.cuda.utilization``,
     else ``nvidia-smi``, sampled every 0.2 s);
  4. ``predict --device cuda`` and ``--device auto`` (the default), with TTA: images/s;
  5. ``pipeline family --depths 18`` on the GPU (peak memory, inference rate);
  6. under ``torchrun`` with one process per GPU: ``preprocess build-cqt`` and
     ``pipeline train`` (each rank on cuda:LOCAL_RANK);
  7. ``pipeline demo --device cuda`` at a small size;
  8. the searches: ``simulate-stream`` (``--stream-minutes`` of H1 L1 V1, CPU processes),
     ``pipeline search --device cuda`` with time slides on its background (zero lag and per
     slide, seconds of strain per second, and the months of background per GPU-minute) and at
     zero lag on its foreground, two processes sharing one GPU under ``torchrun``, the
     matched-filter search on the CPU cores, ``evaluate-search`` of both, and a window's
     images made on the GPU against the same window's on the CPU (float16 steps).

Each step prints one line, or FAILED with the error's last line; the exit status is 1 when any
step failed. Without a GPU it says so and exits with status 2. ``--rehearse-on-cpu`` runs the
same steps on the CPU at a tiny size (figures meaningless), to check the script itself before
a GPU is lent.

    python bench/gpu_smoke.py --out /tmp/gpu-smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


class Utilisation:
    """Mean GPU utilisation (%) while the block runs: NVML via torch, else nvidia-smi."""

    def __init__(self, device_index: int, interval: float = 0.2):
        self.index, self.interval = device_index, interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self.source = "unmeasured"

    def _read(self) -> float | None:
        import torch

        try:
            value = torch.cuda.utilization(self.index)
            self.source = "nvml"
            return float(value)
        except Exception:  # pynvml missing: ask nvidia-smi
            pass
        try:
            done = subprocess.run(["nvidia-smi", "-i", str(self.index), "--query-gpu="
                                   "utilization.gpu", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=5)
            self.source = "nvidia-smi"
            return float(done.stdout.strip().splitlines()[0])
        except Exception:
            return None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            value = self._read()
            if value is not None:
                self.samples.append(value)

    def __enter__(self) -> Utilisation:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> str:
        if not self.samples:
            return "unmeasured"
        return f"{sum(self.samples) / len(self.samples):.0f}% ({self.source})"


def step(name: str, results: dict[str, Any], action: Callable[[], str]) -> None:
    """Run one smoke step; print its line, or FAILED with the last line of the error."""
    started = time.perf_counter()
    try:
        line = action()
        results[name] = {"ok": True, "line": line}
        print(f"[ok] {name} ({time.perf_counter() - started:.0f} s): {line}", flush=True)
    except Exception as error:  # a smoke test reports every failure and goes on
        last = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        results[name] = {"ok": False, "line": last}
        print(f"[FAILED] {name}: {type(error).__name__}: {last}", flush=True)


def run_cli(argv: list[str], timeout: float = 600, torchrun: int = 0) -> str:
    """Run a gwspec command in a new process; its stdout, or an error with its last lines."""
    if torchrun:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc_per_node", str(torchrun), "-m", *argv]
    else:
        command = [sys.executable, "-m", *argv]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError("\n".join(done.stderr.strip().splitlines()[-3:]))
    return done.stdout


DEVICE = "cuda"  # "cpu" when rehearsing


def build_rates(data: Path, out: Path, n_cpu: int) -> str:
    """Samples/s of build_cache on the GPU (every training sample) and on the CPU (the first
    ``n_cpu``, same settings): one process each, the page cache warm."""
    import pandas as pd

    from preprocess.build import build_cache
    from preprocess.config import BuildOptions

    subset = out / "cpu-data"
    if not subset.exists():  # the first n_cpu samples as a data set of their own
        shutil.copytree(data, subset, ignore=shutil.ignore_patterns("test"))
        labels = pd.read_csv(subset / "training_labels.csv", dtype={"id": str})
        labels.head(n_cpu).to_csv(subset / "training_labels.csv", index=False)
        keep = set(labels["id"].head(n_cpu))
        for path in (subset / "train").rglob("*.npy"):
            if path.stem not in keep:
                path.unlink()
    rates = {}
    for device, source, target in ((DEVICE, data, out / "train"),
                                   ("cpu", subset, out / "train-cpu")):
        shutil.rmtree(target, ignore_errors=True)
        started = time.perf_counter()
        report = build_cache(source, "train", target,
                             options=BuildOptions(device=device, progress=False))
        rates[device] = report.manifest.n_samples / (time.perf_counter() - started)
    return (f"GPU {rates[DEVICE]:.0f} samples/s, CPU {rates['cpu']:.0f} samples/s "
            f"({rates[DEVICE] / rates['cpu']:.1f}x), end to end with the PSD estimate")


def train_variant(cache: Path, out: Path, amp: bool, channels_last: bool,
                  compile_model: bool) -> str:
    """One epoch of ResNet18 on the GPU: images/s, validation images/s, peak memory, use."""
    import torch

    from pipeline.family.costs import PeakMemory
    from pipeline.training.config import TrainConfig
    from pipeline.training.loop import fit

    shutil.rmtree(out, ignore_errors=True)
    config = TrainConfig(cache=str(cache), model="resnet18", epochs=1, batch_size=128,
                         device=DEVICE, amp=amp, channels_last=channels_last,
                         compile=compile_model, out=str(out), progress=False, workers=4)
    device = torch.device(DEVICE, 0) if DEVICE == "cuda" else torch.device("cpu")
    with PeakMemory(device) as peak, Utilisation(0) as use:
        result = fit(config)
    row = result.history[-1]
    infer = _infer_rate(result.best_path, cache, amp, channels_last, compile_model)
    return (f"train {row['images_per_s']:.0f} img/s, infer {infer:.0f} img/s, epoch "
            f"{row['epoch_seconds']:.1f} s, peak {peak.mib:.0f} MiB, GPU use while training "
            f"{use.mean}, val AUC {row['val_auc']:.3f}")


def _infer_rate(checkpoint: Path, cache: Path, amp: bool, channels_last: bool,
                compile_model: bool) -> float:
    """Images/s of the trained model alone, run as trained (``pipeline.family.costs``), on up to
    five batches of 256 cached images already on the GPU."""
    import torch

    from pipeline.classifier.checkpoint import load_model_from_checkpoint
    from pipeline.classifier.precision import Precision, amp_dtype_for
    from pipeline.family.costs import inference_rate
    from preprocess.dataset import SpectrogramCache

    device = torch.device(DEVICE, 0) if DEVICE == "cuda" else torch.device("cpu")
    model, _ = load_model_from_checkpoint(checkpoint)
    dtype = getattr(torch, amp_dtype_for("bfloat16", device)) if amp else None
    precision = Precision(device, dtype, channels_last)
    precision.prepare_model(model)
    if compile_model:
        model = torch.compile(model)
    n = min(5 * 256, SpectrogramCache(cache).manifest.n_samples)
    data = SpectrogramCache(cache, indices=range(n), in_memory=True, dtype=torch.float16)
    batches = [data.__getitems__(list(range(k, min(k + 256, n)))).images
               for k in range(0, n, 256)]
    return inference_rate(model, batches, precision)


def predict_rate(cache: Path, checkpoint: Path, out: Path, device: str) -> str:
    """``pipeline predict --device DEVICE --tta`` on the test cache: images/s end to end."""
    from preprocess.cache import read_manifest

    n = read_manifest(cache).n_samples
    started = time.perf_counter()
    run_cli(["pipeline.cli", "predict", "--cache", str(cache), "--checkpoint", str(checkpoint),
             "--device", device, "--tta", "--batch-size", "256", "--num-workers", "4",
             "--out", str(out), "--no-progress"])
    seconds = time.perf_counter() - started
    used = json.loads(out.with_suffix(".json").read_text())["config"]["device"]
    return (f"--device {used}: {n} images (x2 views) in {seconds:.1f} s with the start-up = "
            f"{n / seconds:.0f} images/s")


MONTH = 30 * 86400.0


def network_search(stream: Path, checkpoint: Path, out: Path, slides: int,
                   torchrun: int = 0) -> str:
    """``pipeline search`` on ``stream`` with ``slides`` slides: its speed and background."""
    started = time.perf_counter()
    run_cli(["pipeline.cli", "search", "--strain", str(stream), "--checkpoint", str(checkpoint),
             "--out", str(out), "--slides", str(slides), "--device", DEVICE, "--no-progress"],
            torchrun=torchrun, timeout=1200)
    minutes = (time.perf_counter() - started) / 60
    result = json.loads((out / "result.json").read_text())
    speed, background = result["speed"], result["slides"]["background_seconds"]
    line = (f"{result['analysed_seconds']:.0f} s searched, {result['slides']['count']} slides: "
            f"{background / MONTH:.3f} months of background in {minutes:.1f} min = "
            f"{background / MONTH / minutes:.2f} months per GPU-minute (the last rank's "
            f"figures: zero lag {speed.get('zerolag_realtime_factor', 0):.0f}x real time")
    slide = speed.get("slide_realtime_factor")
    return line + (f", a slide {slide:.0f}x)" if slide else ")")


def image_equality(stream: Path, checkpoint: Path) -> str:
    """One piece's window images made on the GPU and on the CPU, in float16 steps."""
    import numpy as np
    import torch

    from pipeline.classifier.checkpoint import checkpoint_recipe, load_checkpoint
    from pipeline.search.network.windows import segment_images, window_starts
    from preprocess.images import ImageMaker
    from preprocess.psd.running import FixedPSD
    from preprocess.stream.config import ReadOptions
    from preprocess.stream.readers import StrainSet

    saved = load_checkpoint(checkpoint)
    recipe, psd = checkpoint_recipe(saved), np.asarray(saved["cache_psd"], dtype=np.float64)
    strain = StrainSet([str(stream)], recipe.detectors, ReadOptions(min_duration=None))
    a, b = strain.segments(shortest=8.0)[0]
    data = strain.checked(a, min(b, a + 64 * 2048))
    starts = window_starts(data.shape[-1], 4096, 1024)
    fixed = FixedPSD(recipe.whiten.frequencies, psd)
    made = {device: segment_images(data, starts, fixed, ImageMaker(recipe, psd,
                                                                   torch.device(device)),
                                   update=16 * 2048).cpu().float().numpy()
            for device in (DEVICE, "cpu")}
    gpu, cpu = made[DEVICE], made["cpu"]
    step_size = np.spacing(np.abs(cpu).astype(np.float16)).astype(np.float32)
    steps = np.abs(gpu - cpu) / np.maximum(step_size, np.float32(2.0**-24))
    return (f"{len(starts)} windows: |GPU - CPU| at most {steps.max():.1f} float16 steps "
            f"(99.9th percentile {np.percentile(steps, 99.9):.1f}); equal within one step: "
            f"{(steps <= 1).mean():.5f} of the pixels")


def searches(work: Path, checkpoint: Path, minutes: int, gpus: int) -> dict[str, Any]:
    """Step 8: the searches (module docstring)."""
    results: dict[str, Any] = {}
    stream = work / "stream"
    step("preprocess simulate-stream (CPU)", results, lambda: run_cli(
        ["preprocess.cli", "simulate-stream", "--out", str(stream), "--duration",
         str(minutes * 60), "--no-progress"]) or "written")
    slides = max(1, int(minutes * 60 / 8 / 2) - 1)
    step(f"pipeline search --device {DEVICE} ({slides} slides)", results,
         lambda: network_search(stream / "background", checkpoint, work / "net-bg", slides))
    step("pipeline search on the foreground (zero lag)", results,
         lambda: network_search(stream / "foreground", checkpoint, work / "net-fg", 0))
    step(f"torchrun x2 pipeline search on {'one GPU' if gpus == 1 else 'the GPUs'}", results,
         lambda: network_search(stream / "background", checkpoint, work / "net-bg-2", slides,
                                torchrun=2))
    for kind, extra in (("background", ["--slides", str(slides)]), ("foreground", [])):
        step(f"pipeline baseline matched-filter-search ({kind}, CPU)", results,
             lambda k=kind, e=extra: run_cli(
                 ["pipeline.cli", "baseline", "matched-filter-search", "--strain",
                  str(stream / k), "--out", str(work / f"mf-{k}"), *e, "--no-progress"],
                 timeout=1800).strip().splitlines()[-1])
    step("pipeline evaluate-search", results, lambda: run_cli(
        ["pipeline.cli", "evaluate-search", "--foreground",
         str(work / "net-fg" / "zerolag-network.hdf"),
         str(work / "mf-foreground" / "zerolag-newsnr.hdf"), "--background",
         str(work / "net-bg" / "slides-network.hdf"),
         str(work / "mf-background" / "slides-newsnr.hdf"), "--names", "network",
         "MF-newsnr", "--injections", str(stream / "injections.hdf"), "--out",
         str(work / "search-report")]) or (work / "search-report" / "table.md").read_text())
    step(f"search images {DEVICE} vs cpu", results,
         lambda: image_equality(stream / "foreground", checkpoint))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-cpu", type=int, default=500, help="samples the CPU build times")
    parser.add_argument("--stream-minutes", type=int, default=30,
                        help="minutes of H1 L1 V1 strain the searches run on")
    parser.add_argument("--skip", nargs="*", default=[], metavar="STEP",
                        help="steps to leave out: compile, torchrun, demo, family, search")
    parser.add_argument("--rehearse-on-cpu", action="store_true",
                        help="run every step on the CPU at a tiny size (checks the script)")
    args = parser.parse_args()
    import torch

    global DEVICE
    if args.rehearse_on_cpu:
        DEVICE = "cpu"
        args.n_train, args.n_test, args.n_cpu, args.stream_minutes = 400, 100, 100, 2
    elif not torch.cuda.is_available():
        print("gpu_smoke: no CUDA GPU is visible here (torch.cuda.is_available() is False); "
              "run it on a machine with one", file=sys.stderr)
        return 2
    import logging

    logging.basicConfig(level=logging.WARNING)
    gpus = torch.cuda.device_count() if DEVICE == "cuda" else 2
    if DEVICE == "cuda":
        print(f"{gpus} x {torch.cuda.get_device_name(0)}, capability "
              f"{torch.cuda.get_device_capability(0)}, torch {torch.__version__}, "
              f"{os.cpu_count()} CPU cores", flush=True)
    work = Path(args.out) if args.out else Path(os.environ.get("TMPDIR", "/tmp")) / "gpu-smoke"
    work.mkdir(parents=True, exist_ok=True)
    data, results = work / "data", {}

    from preprocess.simulate import SimulationConfig, simulate

    if not (data / "simulation.json").is_file():
        simulate(SimulationConfig(n_train=args.n_train, n_test=args.n_test, seed=0), data,
                 overwrite=True, progress=False)
    caches = work / "cache"
    step("build-cqt (library, cuda vs cpu)", results,
         lambda: build_rates(data, caches, args.n_cpu))
    step("preprocess build-cqt --device cuda (test split)", results, lambda: run_cli(
        ["preprocess.cli", "build-cqt", "--data", str(data), "--split", "test", "--out",
         str(caches / "test"), "--psd-from", str(caches / "train"), "--device", DEVICE,
         "--no-progress"]) or "built")
    variants = [("float32", False, False, False), ("amp", True, False, False),
                ("amp + channels_last", True, True, False),
                ("amp + channels_last + compile", True, True, True)]
    for name, amp, channels_last, compile_model in variants:
        if compile_model and "compile" in args.skip:
            continue
        step(f"train ResNet18 ({name})", results, lambda a=amp, c=channels_last,
             k=compile_model, n=name: train_variant(caches / "train", work / "runs" /
                                                    n.replace(" ", ""), a, c, k))
    best = work / "runs" / "amp+channels_last" / "best.pt"
    for device in (DEVICE, "auto"):
        step(f"pipeline predict --device {device}", results,
             lambda d=device: predict_rate(caches / "test", best, work / f"sub-{d}.csv", d))
    if "family" not in args.skip:
        step("pipeline family --depths 18 (one GPU)", results, lambda: run_cli(
            ["pipeline.cli", "family", "--cache", str(caches / "train"), "--out",
             str(work / "family"), "--depths", "18", "--epochs", "1", "--device", DEVICE,
             "--amp", "--channels-last", "--test-cache", str(caches / "test"), "--labels",
             str(data / "test_labels.csv"), "--no-progress"]).strip().splitlines()[2])
    if "torchrun" not in args.skip:
        step(f"torchrun x{gpus} preprocess build-cqt", results, lambda: run_cli(
            ["preprocess.cli", "build-cqt", "--data", str(data), "--split", "train", "--out",
             str(caches / "train-ddp"), "--device", DEVICE, "--no-progress"],
            torchrun=gpus) or "built")
        step(f"torchrun x{gpus} pipeline train --amp --channels-last", results, lambda: run_cli(
            ["pipeline.cli", "train", "--cache", str(caches / "train"), "--depth", "18",
             "--epochs", "1", "--device", DEVICE, "--amp", "--channels-last", "--out",
             str(work / "runs" / "ddp"), "--no-progress"], torchrun=gpus).strip())
    if "demo" not in args.skip:
        step("pipeline demo --device cuda", results, lambda: run_cli(
            ["pipeline.cli", "demo", "--out", str(work / "demo"), "--n-train", "2000",
             "--n-test", "500", "--epochs", "2", "--device", DEVICE, "--no-progress"],
            timeout=900).strip().splitlines()[0])
    if "search" not in args.skip:
        results |= searches(work, best, args.stream_minutes, gpus)
    (work / "gpu_smoke.json").write_text(json.dumps(results, indent=2))
    failed = [name for name, r in results.items() if not r["ok"]]
    print(f"{len(results) - len(failed)} of {len(results)} steps ok"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
