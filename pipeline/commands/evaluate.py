"""``pipeline evaluate``: score submission CSVs against labels; write report.json and plots."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.evaluate.config import EvaluateConfig
from runtime.checks import finite_float

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate``."""
    defaults = EvaluateConfig()
    parser = subparsers.add_parser(
        "evaluate",
        help="ROC AUC, TPR at fixed FPR and efficiency vs SNR of one or more prediction files",
        description=__doc__,
    )
    parser.add_argument("--predictions", type=Path, action="append", required=True,
                        help="submission-format CSV (id,target); repeat to compare methods")
    parser.add_argument("--name", action="append", default=None,
                        help="display name per --predictions, in the same order (default: stem)")
    parser.add_argument("--labels", type=Path, required=True, help="labelled id,target CSV")
    parser.add_argument("--injections", type=Path, default=None,
                        help="the simulator's injections.csv (enables the efficiency curve and, "
                             "when it records glitches or noise levels, the per-condition FPR "
                             "and efficiency, printed and in report.json)")
    parser.add_argument("--fpr", type=finite_float, default=defaults.fpr,
                        help="false-positive rate of the efficiency curve (default %(default)g)")
    parser.add_argument("--snr-bins", type=finite_float, nargs=3, metavar=("MIN", "MAX", "WIDTH"),
                        default=(defaults.snr_min, defaults.snr_max, defaults.snr_bin_width),
                        help="efficiency bins of network SNR (default %(default)s)")
    parser.add_argument("--min-noise-per-fpr", type=finite_float,
                        default=defaults.min_noise_per_fpr,
                        help="claim an FPR f only with at least this/f noise samples "
                             "(default %(default)g)")
    parser.add_argument("--out", type=Path, required=True, help="report directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the files, evaluate, write the report."""
    from pipeline.evaluate.metrics import condition_table, evaluate, read_predictions, write_report
    from preprocess.layout import read_csv, read_labels

    names = args.name or [path.stem for path in args.predictions]
    if len(names) != len(args.predictions):
        raise ValueError(f"{len(names)} --name for {len(args.predictions)} --predictions")
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be distinct, got {names}; use --name")
    if not 0 < args.fpr < 1:
        raise ValueError(f"--fpr must lie in (0, 1), got {args.fpr}")
    low, high, width = args.snr_bins
    config = EvaluateConfig(fpr=args.fpr, snr_min=low, snr_max=high, snr_bin_width=width,
                            min_noise_per_fpr=args.min_noise_per_fpr)
    predictions = {name: read_predictions(path) for name, path in zip(names, args.predictions,
                                                                       strict=True)}
    sources = {name: str(path) for name, path in zip(names, args.predictions, strict=True)}
    inputs = {"labels": str(args.labels)}
    injections = None
    if args.injections is not None:
        if not args.injections.is_file():
            raise FileNotFoundError(f"{args.injections}: injections file missing")
        injections = read_csv(args.injections, dtype={"id": str})
        inputs["injections"] = str(args.injections)
    report = evaluate(predictions, read_labels(args.labels), injections, config, sources, inputs)
    path = write_report(report, args.out)
    log.info("report written to %s", path)
    table = condition_table(report)
    if len(table):  # injections.csv records glitches or noise levels
        section = next(iter(report["methods"].values()))["noise_conditions"]
        fpr = "unclaimable" if section.get("fpr") is None else f"{section['fpr']:.3g}"
        print(f"per noise condition, at the threshold set on {section['threshold_noise']} noise "
              f"(FPR {fpr}):")
        print(table.set_index(["method", "condition"]).to_string(
            float_format=lambda v: f"{v:.3g}", na_rep="-"))
    return 0
