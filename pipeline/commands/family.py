"""``pipeline family``: train a family of models alike on one cache, ensemble and compare them.

Every member trains with the same options, folds and seed, one after another; re-running the
same command resumes member by member. Under ``torchrun`` each member trains with DDP.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pipeline.commands.train import DEPTHS, add_training_options, training_config
from pipeline.family.config import FamilyConfig
from pipeline.training.config import TrainConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``family``."""
    d = TrainConfig()
    p = subparsers.add_parser("family", help="train, ensemble and compare a family of models",
                              description=__doc__.splitlines()[0])
    p.add_argument("--cache", required=True, help="spectrogram cache directory (labelled split)")
    p.add_argument("--out", required=True, help="the family's directory, e.g. runs/family")
    p.add_argument("--depths", type=int, nargs="+", choices=DEPTHS, default=None,
                   help="ResNet depths (default: all six, unless only --model is given)")
    p.add_argument("--model", nargs="+", default=[], metavar="NAME",
                   help="other registered models, e.g. efficientnet_b0")
    p.add_argument("--folds", type=int, default=d.folds, help="stratified K-fold splits")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--fold", type=int, default=d.fold, help="validation fold, 0..folds-1")
    which.add_argument("--all-folds", action="store_true",
                       help="train every fold: out-of-fold predictions cover the whole cache")
    p.add_argument("--test-cache", default="", help="test cache to predict and score")
    p.add_argument("--labels", default="", help="the test cache's id,target labels")
    p.add_argument("--injections", default="", help="the simulator's injections.csv "
                                                     "(efficiency against SNR)")
    p.add_argument("--tta", action="store_true", help="LIGO-swap TTA for the test predictions")
    p.add_argument("--reference", default="", metavar="CSV",
                   help="a reference detector's predictions on the test set (e.g. pipeline "
                        "baseline matched-filter's): a row of the table and the line every "
                        "plot measures the family against")
    p.add_argument("--reference-name", default="matched filter", help="its name")
    add_training_options(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> FamilyConfig:
    """The ``FamilyConfig`` the command line describes."""
    from pipeline.family.run import member_names

    depths = args.depths if args.depths is not None else ([] if args.model else DEPTHS)
    train = training_config(args, folds=args.folds, fold=args.fold)
    return FamilyConfig(
        members=member_names(depths, args.model), train=train, out=args.out,
        folds=list(range(args.folds)) if args.all_folds else [args.fold],
        resnet_kwargs={"stem": args.stem} if args.stem else {}, test_cache=args.test_cache,
        labels=args.labels, injections=args.injections, tta=args.tta,
        reference=args.reference, reference_name=args.reference_name,
    )


def run(args: argparse.Namespace) -> int:
    """Run the family; print the comparison (rank 0). Exit 1 when a member failed."""
    from pipeline.family.report import markdown_table
    from pipeline.family.run import run_family

    main_rank = os.environ.get("RANK", "0") == "0"
    if not main_rank:
        logging.getLogger().setLevel(logging.WARNING)
    result = run_family(config_from_args(args))
    if not main_rank or result.table is None:
        return 0
    print(markdown_table(result.table))
    print(f"table: {os.path.join(args.out, 'family.csv')} and family.md")
    for name, reason in result.failures.items():
        print(f"pipeline family: {name} failed: {reason}", file=sys.stderr)
    return 1 if result.failures else 0
