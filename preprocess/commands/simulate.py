"""``preprocess simulate``: write a simulated data set in the Kaggle G2Net layout."""

from __future__ import annotations

import argparse

from preprocess.simulate import APPROXIMANTS, SNR_DISTRIBUTIONS, SimulationConfig, simulate

_DEFAULTS = SimulationConfig()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``simulate`` and its options."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate BBH signals in coloured design noise, G2Net layout",
        description=__doc__.splitlines()[0].strip("`"),
    )
    parser.add_argument("--out", required=True, help="data directory to create")
    parser.add_argument("--n-train", type=int, required=True, help="training samples")
    parser.add_argument("--n-test", type=int, required=True, help="test samples")
    parser.add_argument(
        "--seed", type=int, default=_DEFAULTS.seed, help="random seed (%(default)s)"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument(
        "--approximant",
        default=_DEFAULTS.approximant,
        help=f"waveform model: {' or '.join(APPROXIMANTS)} (%(default)s)",
    )
    parser.add_argument("--snr-min", type=float, default=_DEFAULTS.snr_min, help="(%(default)s)")
    parser.add_argument("--snr-max", type=float, default=_DEFAULTS.snr_max, help="(%(default)s)")
    parser.add_argument(
        "--snr-distribution",
        default=_DEFAULTS.snr_distribution,
        help=f"network optimal SNR distribution: {', '.join(SNR_DISTRIBUTIONS)} (%(default)s)",
    )
    parser.add_argument(
        "--signal-fraction",
        type=float,
        default=_DEFAULTS.signal_fraction,
        help="share of samples holding a signal (%(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing data set")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Build the configuration (which validates every option) and run the simulation."""
    config = SimulationConfig(
        n_train=args.n_train,
        n_test=args.n_test,
        seed=args.seed,
        approximant=args.approximant,
        snr_min=args.snr_min,
        snr_max=args.snr_max,
        snr_distribution=args.snr_distribution,
        signal_fraction=args.signal_fraction,
    )
    simulate(
        config,
        args.out,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    return 0
