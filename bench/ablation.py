"""Ablations on one simulated data set: whitening, augmentations and the ResNet stem.

Simulates once, builds a whitened and (if asked for) a raw CQT cache, trains one model per
variant with everything else equal (same fold, seed, epochs), predicts the test set and prints
ROC AUC, the best validation AUC, efficiency at network SNR 8 and 12 and training time:

    python bench/ablation.py --n-train 4000 --n-test 1000 --epochs 5 \\
        --variants baseline no-whiten no-augment masks stem-small_t2

Re-running with the same ``--out`` reuses the data, the caches and finished runs.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from pipeline.classifier.config import PredictConfig
from pipeline.classifier.predict import predict
from pipeline.evaluate.config import EvaluateConfig
from pipeline.evaluate.metrics import evaluate
from pipeline.training.config import AugmentConfig, TrainConfig
from pipeline.training.loop import fit
from preprocess.build import build_cache
from preprocess.config import BuildOptions, WhitenConfig
from preprocess.layout import read_labels
from preprocess.simulate import SimulationConfig, simulate

NO_AUGMENT = AugmentConfig(swap_ligo=False, time_shift=False)
VARIANTS: dict[str, dict] = {  # name -> whiten, model_kwargs, augment
    "baseline": {},
    "no-whiten": {"whiten": False},
    "no-augment": {"augment": NO_AUGMENT},
    "masks": {"augment": AugmentConfig(time_mask=True, freq_mask=True)},
    "swap-only": {"augment": AugmentConfig(time_shift=False)},
    "stem-small_t2": {"model_kwargs": {"stem": "small_t2"}},
    "stem-small": {"model_kwargs": {"stem": "small"}},
}


def caches(out: Path, data: Path, whiten: bool) -> tuple[Path, Path]:
    """Train and test caches of ``data``, whitened or raw (built once, then reused)."""
    root = out / ("cache" if whiten else "cache-raw")
    config = WhitenConfig(whiten=whiten)
    options = BuildOptions(progress=False)
    build_cache(data, "train", root / "train", whiten=config, options=options)
    build_cache(data, "test", root / "test", whiten=config, options=options,
                psd_from=root / "train" if whiten else None)
    return root / "train", root / "test"


def run_variant(name: str, out: Path, data: Path, args: argparse.Namespace) -> dict:
    """Train one variant and score its test predictions; returns one table row."""
    spec = VARIANTS[name]
    train_cache, test_cache = caches(out, data, spec.get("whiten", True))
    run_dir = out / "runs" / name
    config = TrainConfig(
        cache=str(train_cache), model=args.model,
        model_kwargs=spec.get("model_kwargs", {"stem": "imagenet"}), epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, out=str(run_dir), in_memory=True,
        patience=0, progress=False, augment=spec.get("augment", AugmentConfig()),
        resume=(run_dir / "last.pt").is_file(),
    )
    start = time.perf_counter()
    result = fit(config)
    seconds = time.perf_counter() - start
    frame = predict(test_cache, "test", [result.best_path], PredictConfig(tta=True), data=data,
                    progress=False)
    report = evaluate({name: frame}, read_labels(data / "test_labels.csv"),
                      pd.read_csv(data / "injections.csv", dtype={"id": str}), EvaluateConfig())
    method = report["methods"][name]
    at_snr = (method.get("efficiency") or {}).get("efficiency_at_snr") or {}
    return {"variant": name, "test_auc": method["auc"], "best_val_auc": result.best_auc,
            "best_epoch": result.best_epoch, "eff@snr8": at_snr.get("8"),
            "eff@snr12": at_snr.get("12"), "train_s": round(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=["baseline", "no-whiten", "no-augment"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--out", default="runs/ablation")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    out = Path(args.out)
    data = out / "data"
    if not (data / "simulation.json").is_file():
        sim = SimulationConfig(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
        simulate(sim, data, overwrite=True, progress=False)
    rows = [run_variant(name, out, data, args) for name in args.variants]
    table = pd.DataFrame(rows).set_index("variant")
    print(f"\nablation: n_train={args.n_train} n_test={args.n_test} epochs={args.epochs} "
          f"model={args.model} seed={args.seed}")
    print(table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"))


if __name__ == "__main__":
    main()
