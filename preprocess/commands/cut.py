"""``preprocess cut``: 2-s G2Net samples around GPS times of continuous strain (a real event),
and noise-only samples from the same strain, as the test split of a data folder.

Then ``preprocess build-cqt --data OUT --split test --out CACHE --psd-from-split`` whitens them
by the data around, and ``pipeline predict --cache CACHE --checkpoint RUN/best.pt --data OUT``
scores them with any model of their detectors; ``cut.csv`` says which sample is the event.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from preprocess.commands.reading import add_dq_bits_option, add_highpass_option
from preprocess.stream.config import ReadOptions
from preprocess.stream.cut import CutConfig
from runtime.checks import finite_float


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``cut``."""
    d = CutConfig(times=(1.0,))
    p = subparsers.add_parser("cut", help="2-s G2Net samples around GPS times of strain files",
                              description=__doc__.splitlines()[0])
    p.add_argument("--strain", type=Path, nargs="+", required=True,
                   help="strain files or folders (GWOSC, MLGWSC-1 or gwspec stream layouts)")
    p.add_argument("--gps", type=finite_float, nargs="*", default=[],
                   help="GPS times of the events, one sample each")
    p.add_argument("--out", type=Path, required=True, help="data folder to write")
    p.add_argument("--detectors", nargs="+", default=None,
                   help="detectors, in the models' order (default: every one the files hold)")
    p.add_argument("--merger-offset", type=finite_float, default=d.merger_offset,
                   help="s from a sample's start to its GPS time (default %(default)s: the "
                        "middle of the training merger range)")
    p.add_argument("--noise-stride", type=finite_float, default=d.noise_stride,
                   help="s between noise-only samples (0: none; default %(default)s)")
    p.add_argument("--guard", type=finite_float, default=d.guard,
                   help="s: no noise sample comes this close to a GPS time (default "
                        "%(default)s)")
    add_dq_bits_option(p, d.read)
    add_highpass_option(p, d.read)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from preprocess.stream.cut import cut_samples

    config = CutConfig(times=tuple(args.gps), merger_offset=args.merger_offset,
                       noise_stride=args.noise_stride, guard=args.guard,
                       detectors=tuple(args.detectors or ()),
                       read=ReadOptions(dq_bits=tuple(args.dq_bits), min_duration=2.0,
                                        max_duration=None, highpass=args.highpass))
    out = cut_samples(args.strain, args.out, config)
    print(f"{out}: samples in {out / 'test'}, listed in {out / 'cut.csv'}")
    return 0
