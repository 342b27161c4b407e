"""``pipeline train``: train a classifier on one fold of a spectrogram cache.

Runs as one process, or under ``torchrun --nproc_per_node N pipeline train ...`` with DDP.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from models.stems import DEFAULT_STEM, STEMS
from pipeline.training.config import SNR_DISTRIBUTIONS, AugmentConfig, MixConfig, TrainConfig
from runtime.checks import finite_float

DEPTHS = (16, 18, 34, 50, 101, 152)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` and its options (defaults come from ``TrainConfig``)."""
    d = TrainConfig()
    p = subparsers.add_parser("train", help="train a classifier on one fold of a cache",
                              description=__doc__.splitlines()[0])
    p.add_argument("--cache", required=True, help="spectrogram cache directory (labelled split)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--depth", type=int, choices=DEPTHS,
                       help=f"ResNet depth (default {d.model})")
    which.add_argument("--model", help="any registered model name, e.g. efficientnet_b0")
    p.add_argument("--folds", type=int, default=d.folds, help="stratified K-fold splits")
    p.add_argument("--fold", type=int, default=d.fold, help="validation fold, 0..folds-1")
    p.add_argument("--out", default="", help="run directory (default runs/<model>-fold<K>)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    add_training_options(p)
    p.set_defaults(func=run)


def add_training_options(p: argparse.ArgumentParser) -> None:
    """The options of one training run that do not pick the model, fold or run directory."""
    d, a = TrainConfig(), AugmentConfig()
    p.add_argument("--stem", choices=sorted(STEMS),
                   help=f"input stem of our ResNets (default {DEFAULT_STEM}, by measurement)")
    p.add_argument("--pretrained", default=d.pretrained, metavar="imagenet|PATH",
                   help="initial weights: ImageNet's (torchvision / timm) or a local state dict "
                        "(default: random)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--lr", type=finite_float, default=d.lr, help="AdamW peak learning rate")
    p.add_argument("--weight-decay", type=finite_float, default=d.weight_decay)
    p.add_argument("--warmup-epochs", type=finite_float, default=d.warmup_epochs)
    p.add_argument("--min-lr", type=finite_float, default=d.min_lr)
    p.add_argument("--grad-clip", type=finite_float, default=d.grad_clip, help="0 disables")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="autocast mixed precision (default: on for CUDA)")
    p.add_argument("--amp-dtype", choices=("bfloat16", "float16"), default=d.amp_dtype)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory format (default: on for CUDA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader workers (default: min(8, CPUs per process))")
    p.add_argument("--in-memory", action=argparse.BooleanOptionalAction, default=None,
                   help="hold the images in RAM (default: when they fit in 40%% of free RAM)")
    p.add_argument("--patience", type=int, default=d.patience,
                   help="early stopping patience in epochs (0: never)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("augmentations (training batches only)")
    flag = argparse.BooleanOptionalAction
    g.add_argument("--swap-ligo", action=flag, default=a.swap_ligo, help="swap H1 <-> L1")
    g.add_argument("--swap-prob", type=finite_float, default=a.swap_prob)
    g.add_argument("--time-shift", action=flag, default=a.time_shift, help="roll along time")
    g.add_argument("--max-time-shift", type=int, default=a.max_time_shift, help="time bins")
    g.add_argument("--time-mask", action=flag, default=a.time_mask)
    g.add_argument("--time-mask-width", type=int, default=a.time_mask_width, help="time bins")
    g.add_argument("--freq-mask", action=flag, default=a.freq_mask)
    g.add_argument("--freq-mask-width", type=int, default=a.freq_mask_width, help="freq bins")
    m = MixConfig()
    g = p.add_argument_group("training images made anew every step (a mixing pool)")
    g.add_argument("--pool", default=d.pool,
                   help="the cache's data as a mixing pool (preprocess pool): every training "
                        "image pairs a noise and a signal of the training fold anew")
    g.add_argument("--mix-snr", choices=SNR_DISTRIBUTIONS, default=m.snr,
                   help="network SNR of the signals: uniform, powerlaw (~ snr^-index) or "
                        "curriculum (loud first) (default %(default)s)")
    g.add_argument("--mix-snr-range", type=finite_float, nargs=2, metavar=("MIN", "MAX"),
                   default=(m.snr_min, m.snr_max), help="(default %(default)s)")
    g.add_argument("--mix-snr-index", type=finite_float, default=m.snr_index,
                   help="the power law's exponent (default %(default)s)")
    g.add_argument("--mix-curriculum-epochs", type=int, default=m.curriculum_epochs,
                   help="epochs the curriculum's lower bound takes to fall (default "
                        "%(default)s)")
    g.add_argument("--mix-detector-spread", type=finite_float, default=m.detector_spread,
                   help="each detector's sensitivity to a signal drawn log-uniform in [1/x, 1] "
                        "(default %(default)s: equal detectors)")


def training_config(args: argparse.Namespace, **chosen: Any) -> TrainConfig:
    """The ``TrainConfig`` of ``add_training_options``' arguments; ``chosen`` sets the rest
    (model, model_kwargs, folds, fold, out, resume)."""
    augment = AugmentConfig(
        swap_ligo=args.swap_ligo, swap_prob=args.swap_prob, time_shift=args.time_shift,
        max_time_shift=args.max_time_shift, time_mask=args.time_mask,
        time_mask_width=args.time_mask_width, freq_mask=args.freq_mask,
        freq_mask_width=args.freq_mask_width,
    )
    return TrainConfig(
        cache=args.cache, pretrained=args.pretrained, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs, min_lr=args.min_lr, grad_clip=args.grad_clip,
        seed=args.seed, device=args.device, amp=args.amp, amp_dtype=args.amp_dtype,
        channels_last=args.channels_last, compile=args.compile, workers=args.workers,
        in_memory=args.in_memory, patience=args.patience, progress=not args.no_progress,
        augment=augment, pool=args.pool,
        mix=MixConfig(snr=args.mix_snr, snr_min=args.mix_snr_range[0],
                      snr_max=args.mix_snr_range[1], snr_index=args.mix_snr_index,
                      curriculum_epochs=args.mix_curriculum_epochs,
                      detector_spread=args.mix_detector_spread),
        **chosen,
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` the command line describes."""
    from models import list_models, resnet_name

    model = args.model or (resnet_name(args.depth) if args.depth else TrainConfig.model)
    model_kwargs = {}
    if args.stem:
        if model not in list_models(include_timm=False):
            raise ValueError(f"--stem applies to our ResNets only, not to {model!r}")
        model_kwargs["stem"] = args.stem
    return training_config(args, model=model, model_kwargs=model_kwargs, folds=args.folds,
                           fold=args.fold, out=args.out, resume=args.resume)


def run(args: argparse.Namespace) -> int:
    """Train; print where the run is and its best validation AUC (rank 0 only)."""
    from pipeline.training.loop import fit

    main_rank = os.environ.get("RANK", "0") == "0"
    if not main_rank:
        logging.getLogger().setLevel(logging.WARNING)
    result = fit(config_from_args(args))
    if main_rank:
        print(f"{result.run_dir}: best val AUC {result.best_auc:.4f} at epoch "
              f"{result.best_epoch} of {result.epochs}"
              f"{' (stopped early)' if result.stopped_early else ''}")
    return 0
