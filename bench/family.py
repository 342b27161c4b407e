"""The ResNet family (and any timm model) compared on one simulated data set.

Simulates a data set, builds its whitened CQT caches, then runs ``pipeline family`` on them:
every member trains on the same fold(s) with the same seed, is scored on the labelled test
set, and the ensembles are fitted on the out-of-fold predictions. Prints the comparison table
(also written as ``OUT/family/family.md``), then runs the matched filter (``--n-templates``) on
the same test set and prints, per member and ensemble, the fraction of the matched filter's
sensitive distance it reaches: the matched filter's SNR at 50% efficiency over its own, at the
same false-positive rate (1e-2, or the smallest the test noise supports):

    python bench/family.py --n-train 4000 --n-test 1000 --epochs 6 --depths 16 18 34 50

Re-running with the same ``--out`` reuses the data, the caches and finished members.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from pipeline.bank.config import BankConfig
from pipeline.baseline.config import MatchedFilterConfig
from pipeline.baseline.matched_filter import run_matched_filter
from pipeline.commands.train import DEPTHS
from pipeline.evaluate.config import EvaluateConfig
from pipeline.evaluate.metrics import evaluate, read_predictions
from pipeline.family.config import FamilyConfig
from pipeline.family.report import markdown_table
from pipeline.family.run import member_names, run_family
from pipeline.training.config import TrainConfig
from preprocess.build import build_cache
from preprocess.config import BuildOptions
from preprocess.layout import read_labels
from preprocess.simulate import SimulationConfig, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--depths", type=int, nargs="*", choices=DEPTHS, default=[16, 18, 34])
    parser.add_argument("--model", nargs="*", default=[], help="timm models to add")
    parser.add_argument("--pretrained", default="", help="imagenet | PATH (default: random)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--all-folds", action="store_true")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-family")
    parser.add_argument("--n-templates", type=int, default=200,
                        help="matched-filter bank size (0: no matched filter)")
    parser.add_argument("--workers", type=int, default=2, help="matched-filter processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    out = Path(args.out)
    data, train_cache, test_cache = out / "data", out / "cache" / "train", out / "cache" / "test"
    start = time.perf_counter()
    if not (data / "simulation.json").is_file():
        sim = SimulationConfig(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
        simulate(sim, data, overwrite=True, progress=False)
    options = BuildOptions(device=args.device, progress=False)
    build_cache(data, "train", train_cache, options=options)
    build_cache(data, "test", test_cache, options=options, psd_from=train_cache)
    reference = matched_filter_scores(out, data, args) if args.n_templates > 0 else ""
    prepared = time.perf_counter()
    train = TrainConfig(cache=str(train_cache), epochs=args.epochs, batch_size=args.batch_size,
                        seed=args.seed, folds=args.folds, device=args.device,
                        pretrained=args.pretrained, patience=0, progress=False)
    config = FamilyConfig(
        members=member_names(args.depths, args.model), train=train, out=str(out / "family"),
        folds=list(range(args.folds)) if args.all_folds else [0], test_cache=str(test_cache),
        labels=str(data / "test_labels.csv"), injections=str(data / "injections.csv"),
        reference=str(reference),  # the matched filter: a row, and the line in every plot
    )
    result = run_family(config)
    done = time.perf_counter()
    print(f"\nfamily: n_train={args.n_train} n_test={args.n_test} epochs={args.epochs} "
          f"folds={config.folds} of {args.folds} seed={args.seed} pretrained={args.pretrained!r}"
          f"\ndata and caches {prepared - start:.0f} s, family {done - prepared:.0f} s\n")
    print(markdown_table(result.table))
    for name, reason in result.failures.items():
        print(f"{name} failed: {reason}")
    if args.n_templates > 0:
        print_distance_fractions(out, data, result.table, args)


def matched_filter_scores(out: Path, data: Path, args: argparse.Namespace) -> Path:
    """The matched filter's scores of the test set (computed once, reused by re-runs)."""
    path = out / "mf.csv"
    if not path.is_file():
        config = MatchedFilterConfig(bank=BankConfig(n_templates=args.n_templates))
        run_matched_filter(data, "test", path, config, workers=args.workers, progress=False)
    return path


def print_distance_fractions(out: Path, data: Path, table: pd.DataFrame,
                             args: argparse.Namespace) -> None:
    """Each row's fraction of the matched filter's sensitive distance: ``snr@50%`` of the
    matched filter over the row's."""
    path = matched_filter_scores(out, data, args)
    injections = pd.read_csv(data / "injections.csv", dtype={"id": str})
    report = evaluate({"matched_filter": read_predictions(path)},
                      read_labels(data / "test_labels.csv"), injections, EvaluateConfig())
    method = report["methods"]["matched_filter"]
    efficiency = method.get("efficiency") or {}
    mf_snr = (efficiency.get("snr_at_efficiency") or {}).get("0.5")
    if mf_snr is None:
        print(f"\nmatched filter: AUC {method['auc']:.4f}, never 50% efficient")
        return
    print(f"\nmatched filter ({args.n_templates} templates): AUC {method['auc']:.4f}, SNR at 50% "
          f"efficiency {mf_snr:.2f} at FPR {efficiency['fpr']:g}")
    for row in table.to_dict(orient="records"):
        snr = pd.to_numeric(row.get("snr@50%"), errors="coerce")
        if pd.notna(snr) and snr > 0:
            print(f"  {row['name']}: {mf_snr / snr:.1%} of the matched filter's sensitive "
                  "distance")


if __name__ == "__main__":
    main()
