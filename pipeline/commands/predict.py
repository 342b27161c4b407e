"""``pipeline predict``: submission-format probabilities from one or more checkpoints."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.classifier.config import ENSEMBLE_METHODS, PredictConfig
from runtime.checks import finite_float

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``predict``."""
    defaults = PredictConfig()
    parser = subparsers.add_parser("predict", help="probabilities for a cached split",
                                   description=__doc__)
    parser.add_argument("--cache", type=Path, required=True,
                        help="spectrogram cache directory (or its parent holding <split>/)")
    parser.add_argument("--split", choices=("train", "test"), default="test")
    parser.add_argument("--checkpoint", type=Path, action="append", default=[],
                        help="checkpoint (e.g. RUN_DIR/best.pt); repeat to ensemble")
    parser.add_argument("--weights", type=Path, default=None,
                        help="stacked-ensemble weights (pipeline family's "
                             "ensemble_weights.json), which name their checkpoints; "
                             "instead of --checkpoint")
    parser.add_argument("--ensemble", choices=ENSEMBLE_METHODS, default=defaults.ensemble,
                        help="mean of probabilities or of ranks scaled to [0, 1]")
    parser.add_argument("--tta", action="store_true",
                        help="average over the H1 <-> L1 channel swap")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help="images per forward pass (default: 64 on a CPU, 256 on a GPU)")
    parser.add_argument("--device", default=defaults.device,
                        help="auto (a GPU when there is one), cpu, cuda or cuda:N "
                             "(default %(default)s)")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="autocast mixed precision (default: on for CUDA); logits stay float32")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="NHWC memory format (default: on)")
    parser.add_argument("--num-workers", type=int, default=defaults.num_workers,
                        help="DataLoader reader processes (default: none on a CPU, "
                             "min(4, cores) on a GPU)")
    parser.add_argument("--data", type=Path, default=None,
                        help="data directory: rows follow its sample_submission.csv (test) or "
                             "training_labels.csv (train), whose ids must match the cache")
    parser.add_argument("--out", type=Path, required=True, help="submission CSV (id,target)")
    parser.add_argument("--fill-missing", type=finite_float, default=None, metavar="P",
                        help="give ids of the split that have no image (samples build-cqt "
                        "--skip-bad rejected) probability P instead of refusing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict, ensemble, write."""
    from pipeline.classifier.predict import predict, write_predictions
    from pipeline.family.stacking import load_weights, predict_with_weights
    from runtime.outputs import claim_file

    claim_file(args.out, "predictions")  # refused before the work, not after it

    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.fill_missing is not None and not 0.0 <= args.fill_missing <= 1.0:
        raise ValueError(f"--fill-missing must be a probability in [0, 1], got {args.fill_missing}")
    config = PredictConfig(ensemble=args.ensemble, tta=args.tta, batch_size=args.batch_size,
                           device=args.device, num_workers=args.num_workers, amp=args.amp,
                           channels_last=args.channels_last)
    if bool(args.weights) == bool(args.checkpoint):
        raise ValueError("give --checkpoint (one or more) or --weights, not both")
    checkpoints = args.checkpoint
    if args.weights:
        checkpoints = [c for cs in load_weights(args.weights).checkpoints.values() for c in cs]
        frame = predict_with_weights(args.cache, args.split, args.weights, config,
                                     data=args.data, progress=not args.no_progress,
                                     fill=args.fill_missing)
    else:
        frame = predict(args.cache, args.split, checkpoints, config, data=args.data,
                        progress=not args.no_progress, fill=args.fill_missing)
    out = write_predictions(frame, args.out, config, checkpoints, args.cache)
    log.info("%d predictions written to %s", len(frame), out)
    return 0
