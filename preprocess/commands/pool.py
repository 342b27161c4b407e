"""``preprocess pool``: a simulated split's noise and clean signals, kept apart, for training
images made anew every step (``pipeline train --pool``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``pool``."""
    p = subparsers.add_parser(
        "pool", help="a simulated split's noise and signals, apart",
        description="Keep a simulated split's noise and clean signals apart, so that "
                    "pipeline train --pool makes every training image anew.")
    p.add_argument("--data", type=Path, required=True,
                   help="a simulated data folder (preprocess simulate; its simulation.json)")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--out", type=Path, required=True, help="the pool file (.h5)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from preprocess.pool import build_pool
    from runtime.outputs import claim_file, write_sidecar

    out = claim_file(args.out, "mixing pool")
    build_pool(args.data, args.split, out, workers=args.workers or os.cpu_count() or 1,
               progress=not args.no_progress)
    write_sidecar(out, {"what": "mixing pool", "data": str(args.data), "split": args.split})
    print(f"{out}: the {args.split} split of {args.data}, noise and signals apart")
    return 0
