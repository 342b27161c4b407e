"""``pipeline predict``: submission-format probabilities from one or more checkpoints."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.predict import ENSEMBLE_METHODS, PredictConfig, predict, write_predictions

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``predict``."""
    defaults = PredictConfig()
    parser = subparsers.add_parser("predict", help="probabilities for a cached split",
                                   description=__doc__)
    parser.add_argument("--cache", type=Path, required=True,
                        help="spectrogram cache directory (or its parent holding <split>/)")
    parser.add_argument("--split", choices=("train", "test"), default="test")
    parser.add_argument("--checkpoint", type=Path, action="append", required=True,
                        help="checkpoint (e.g. RUN_DIR/best.pt); repeat to ensemble")
    parser.add_argument("--ensemble", choices=ENSEMBLE_METHODS, default=defaults.ensemble,
                        help="mean of probabilities or of ranks scaled to [0, 1]")
    parser.add_argument("--tta", action="store_true",
                        help="average over the H1 <-> L1 channel swap")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--device", default=defaults.device, help="torch device (default cpu)")
    parser.add_argument("--num-workers", type=int, default=defaults.num_workers,
                        help="DataLoader worker processes")
    parser.add_argument("--data", type=Path, default=None,
                        help="data directory: rows follow its sample_submission.csv (test) or "
                             "training_labels.csv (train), whose ids must match the cache")
    parser.add_argument("--out", type=Path, required=True, help="submission CSV (id,target)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict, ensemble, write."""
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    config = PredictConfig(ensemble=args.ensemble, tta=args.tta, batch_size=args.batch_size,
                           device=args.device, num_workers=args.num_workers)
    frame = predict(args.cache, args.split, args.checkpoint, config, data=args.data,
                    progress=not args.no_progress)
    out = write_predictions(frame, args.out, config, args.checkpoint, args.cache)
    log.info("%d predictions written to %s", len(frame), out)
    return 0
