"""Quality benchmark: the trained network against the matched filter on the same test set.

Runs the demo chain (simulate -> CQT caches -> train -> predict -> matched filter -> evaluate)
at a chosen size and prints, in one run, ROC AUC, TPR at FPR 1e-2 and detection efficiency at
network SNR 8, 10 and 12 for the model and the matched filter, and their ratios.

    python bench/quality.py --n-train 20000 --n-test 4000 --epochs 10 --depth 18

Re-running with the same ``--out`` resumes (completed steps are skipped).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from models import resnet_name
from pipeline.demo.chain import run_chain
from pipeline.demo.config import ChainConfig


def efficiency_at(method: dict, snr: float) -> float | None:
    """Efficiency at ``snr``, interpolated between efficiency-bin centres."""
    bins = (method.get("efficiency") or {}).get("bins") or []
    if not bins:
        return None
    centres = [(b["snr_low"] + b["snr_high"]) / 2 for b in bins]
    return float(np.interp(snr, centres, [b["efficiency"] for b in bins]))


def rows(report: dict, snrs: tuple[float, ...]) -> dict[str, dict[str, float | None]]:
    """Per method: AUC, TPR at the efficiency FPR and efficiency at each SNR."""
    table = {}
    for name, method in report["methods"].items():
        row: dict[str, float | None] = {"roc_auc": method["auc"]}
        for entry in method.get("tpr_at_fpr", []):
            row[f"tpr@fpr={entry['fpr']:g}"] = entry.get("tpr")
        for snr in snrs:
            row[f"eff@snr{snr:g}"] = efficiency_at(method, snr)
        table[name] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--depth", type=int, default=18, help="ResNet depth (16..152)")
    parser.add_argument("--model", default=None, help="any registered model (overrides --depth)")
    parser.add_argument("--stem", default="imagenet", help="ResNet stem")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--detectors", nargs="+", default=["H1", "L1", "V1"],
                        help="simulated detectors, e.g. H1 L1 (the model's input channels)")
    parser.add_argument("--out", default="runs/quality")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    model = args.model or resnet_name(args.depth)
    kwargs = {"stem": args.stem} if model.startswith("resnet") else {}
    config = ChainConfig(
        out=args.out, n_train=args.n_train, n_test=args.n_test, seed=args.seed, model=model,
        model_kwargs=kwargs, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        device=args.device, progress=False, detectors=tuple(args.detectors),
    )
    start = time.perf_counter()
    summary = run_chain(config)
    report = json.loads(Path(summary["report"]).read_text())
    snrs = (8.0, 10.0, 12.0)
    table = rows(report, snrs)
    names = sorted(table, key=lambda name: name == "matched_filter")  # the model(s) first
    columns = list(table[names[0]])
    elapsed = time.perf_counter() - start
    print(f"\nquality: n_train={args.n_train} n_test={args.n_test} epochs={args.epochs} "
          f"model={model} {kwargs} detectors={' '.join(args.detectors)} ({elapsed:.0f} s; "
          f"steps {summary['steps_s']})")
    print(f"{'metric':<16}" + "".join(f"{n:>18}" for n in names) + f"{'model/mf':>10}")
    for column in columns:
        values = [table[n][column] for n in names]
        cells = "".join(f"{v:>18.3f}" if v is not None else f"{'-':>18}" for v in values)
        ratio = (values[0] / values[1]) if None not in values[:2] and values[1] else None
        print(f"{column:<16}{cells}{ratio:>10.3f}" if ratio else f"{column:<16}{cells}{'-':>10}")


if __name__ == "__main__":
    main()
