"""``pipeline search``: find signals in continuous strain with trained networks.

Every window of the model's length (every ``--stride`` s) is whitened by the running PSD of
the data around it and turned into the images ``build-cqt`` would make of it; the models
(``--checkpoint``, repeat to ensemble) score every window, the scores are clustered into
triggers, and time slides of the detectors make the background. Writes MLGWSC-1 trigger files
(``zerolag-network.hdf``, ``slides-network.hdf``, with CSVs) and ``result.json``; score them
with ``pipeline evaluate-search``. Re-running resumes; under ``torchrun`` each rank takes its
share of the pieces.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.commands.streams import (
    add_slide_options,
    add_strain_options,
    read_options,
    slide_config,
    summary_line,
)
from pipeline.search.network.config import NetworkSearchConfig
from preprocess.psd.config import RUNNING, TRAINING
from preprocess.psd.options import add_psd_options, psd_from_args
from runtime.checks import finite_float

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``search`` (defaults from ``NetworkSearchConfig``)."""
    d = NetworkSearchConfig()
    p = subparsers.add_parser("search", help="network search over continuous strain",
                              description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, action="append", required=True,
                   help="a trained model (RUN/best.pt); repeat to ensemble")
    add_strain_options(p, d.read)
    g = p.add_argument_group("windows and inference")
    g.add_argument("--stride", type=finite_float, default=d.stride,
                   help="s between windows (default %(default)s)")
    g.add_argument("--tta", action="store_true", help="average over the H1 <-> L1 exchange")
    g.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="windows per forward pass (changes no score; default %(default)s)")
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N "
                   "(default %(default)s)")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="autocast (default: on for CUDA); scores stay float32")
    add_psd_options(p, d.psd, keywords=(RUNNING, TRAINING))
    p.add_argument("--psd-update", type=finite_float, default=d.psd_update,
                   help="s between running PSD estimates (default %(default)s)")
    add_slide_options(p, d.slides, "a whole number of strides")
    g = p.add_argument_group("triggers")
    g.add_argument("--integrate", type=int, default=d.integrate,
                   help="consecutive windows each score is averaged over (default %(default)s)")
    g.add_argument("--cluster-window", type=finite_float, default=d.cluster_window,
                   help="s: the loudest trigger keeps others this close out (default "
                        "%(default)s)")
    g.add_argument("--var", type=finite_float, default=d.var,
                   help="s: how far from an injection a trigger may find it, MLGWSC-1's var "
                        "(default %(default)s)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> NetworkSearchConfig:
    d = NetworkSearchConfig()
    return NetworkSearchConfig(
        stride=args.stride, psd=psd_from_args(args, d.psd), psd_update=args.psd_update,
        slides=slide_config(args), batch_size=args.batch_size, device=args.device,
        amp=args.amp, tta=args.tta, integrate=args.integrate,
        cluster_window=args.cluster_window, var=args.var, read=read_options(args))


def run(args: argparse.Namespace) -> int:
    """Search; print what the folder holds."""
    from pipeline.search.network.search import run_network_search

    out = run_network_search(args.strain, args.checkpoint, args.out, config_from_args(args),
                             progress=not args.no_progress)
    if (out / "result.json").is_file():
        print(summary_line(out))
    return 0
