"""``preprocess simulate``: write a simulated data set in the Kaggle G2Net layout."""

from __future__ import annotations

import argparse

from preprocess.simulate.config import (
    APPROXIMANTS,
    GLITCH_TYPES,
    SNR_DISTRIBUTIONS,
    SimulationConfig,
)
from runtime.checks import finite_float

_DEFAULTS = SimulationConfig()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``simulate`` and its options."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate BBH signals in coloured design noise (optionally non-stationary, with "
             "glitches), G2Net layout",
        description=__doc__.splitlines()[0].strip("`"),
    )
    parser.add_argument("--out", required=True, help="data directory to create")
    parser.add_argument("--n-train", type=int, required=True, help="training samples")
    parser.add_argument("--n-test", type=int, required=True, help="test samples")
    parser.add_argument(
        "--seed", type=int, default=_DEFAULTS.seed, help="random seed (%(default)s)"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--detectors", nargs="+", default=list(_DEFAULTS.detectors),
                        metavar="DET", help="any of H1 L1 V1 in that order, e.g. H1 L1 as in "
                        "much of O3 and the MLGWSC-1 data (default: %(default)s)")
    parser.add_argument(
        "--approximant",
        default=_DEFAULTS.approximant,
        help=f"waveform model: {' or '.join(APPROXIMANTS)} (%(default)s)",
    )
    parser.add_argument("--snr-min", type=finite_float, default=_DEFAULTS.snr_min,
                        help="(%(default)s)")
    parser.add_argument("--snr-max", type=finite_float, default=_DEFAULTS.snr_max,
                        help="(%(default)s)")
    parser.add_argument(
        "--snr-distribution",
        default=_DEFAULTS.snr_distribution,
        help=f"network optimal SNR distribution: {', '.join(SNR_DISTRIBUTIONS)} (%(default)s)",
    )
    parser.add_argument(
        "--signal-fraction",
        type=finite_float,
        default=_DEFAULTS.signal_fraction,
        help="share of samples holding a signal (%(default)s)",
    )
    _add_noise_options(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing data set")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=handler)


def _add_noise_options(parser: argparse.ArgumentParser) -> None:
    """Non-stationary noise and glitches; the defaults give stationary, glitch-free noise."""
    noise = parser.add_argument_group("non-stationary noise (recorded in injections.csv)")
    noise.add_argument("--psd-scale-min", type=finite_float, default=_DEFAULTS.psd_scale_min,
                       help="per sample and detector, PSD power scale log-uniform in "
                            "[min, max]; 1 1 = stationary (%(default)s)")
    noise.add_argument("--psd-scale-max", type=finite_float, default=_DEFAULTS.psd_scale_max,
                       help="(%(default)s)")
    noise.add_argument("--psd-shape-mix", type=finite_float, default=_DEFAULTS.psd_shape_mix,
                       help="weight of the O3-like observing-run curve in each sample's PSD "
                            "shape, uniform in [0, x] per detector (%(default)s)")
    noise.add_argument("--psd-family-ligo", nargs="+", default=list(_DEFAULTS.psd_family_ligo),
                       metavar="CURVE",
                       help="H1 and L1 draw their mixed-in curve per sample from these "
                            "lalsimulation SimNoisePSD<CURVE> names (with --psd-shape-mix)")
    noise.add_argument("--psd-family-virgo", nargs="+", default=list(_DEFAULTS.psd_family_virgo),
                       metavar="CURVE", help="the same for V1")
    noise.add_argument("--psd-distortion", type=finite_float, default=_DEFAULTS.psd_distortion,
                       help="standard deviation of a smooth random distortion of each "
                            "sample's log PSD over 10-1024 Hz, level kept (%(default)s)")
    noise.add_argument("--psd-distortion-terms", type=int,
                       default=_DEFAULTS.psd_distortion_terms,
                       help="cosines of the distortion: its wiggles over the band (%(default)s)")
    noise.add_argument("--glitch-rate", type=finite_float, default=_DEFAULTS.glitch_rate,
                       help="expected glitches per sample, Poisson, each in one detector "
                            "(%(default)s)")
    noise.add_argument("--glitch-types", nargs="+", default=list(_DEFAULTS.glitch_types),
                       metavar="TYPE",
                       help=f"glitch families, drawn uniformly: {', '.join(GLITCH_TYPES)} "
                            "(%(default)s)")
    noise.add_argument("--glitch-snr-min", type=finite_float, default=_DEFAULTS.glitch_snr_min,
                       help="optimal SNR of a glitch in its detector (%(default)s)")
    noise.add_argument("--glitch-snr-max", type=finite_float, default=_DEFAULTS.glitch_snr_max,
                       help="(%(default)s)")
    noise.add_argument("--glitch-snr-distribution", default=_DEFAULTS.glitch_snr_distribution,
                       help=f"{', '.join(SNR_DISTRIBUTIONS)} (%(default)s)")


def handler(args: argparse.Namespace) -> int:
    """Build the configuration (which validates every option) and run the simulation."""
    from preprocess.simulate import simulate

    config = SimulationConfig(
        n_train=args.n_train,
        detectors=tuple(args.detectors),
        n_test=args.n_test,
        seed=args.seed,
        approximant=args.approximant,
        snr_min=args.snr_min,
        snr_max=args.snr_max,
        snr_distribution=args.snr_distribution,
        signal_fraction=args.signal_fraction,
        psd_scale_min=args.psd_scale_min,
        psd_scale_max=args.psd_scale_max,
        psd_shape_mix=args.psd_shape_mix,
        psd_family_ligo=tuple(args.psd_family_ligo),
        psd_family_virgo=tuple(args.psd_family_virgo),
        psd_distortion=args.psd_distortion,
        psd_distortion_terms=args.psd_distortion_terms,
        glitch_rate=args.glitch_rate,
        glitch_types=tuple(args.glitch_types),
        glitch_snr_min=args.glitch_snr_min,
        glitch_snr_max=args.glitch_snr_max,
        glitch_snr_distribution=args.glitch_snr_distribution,
    )
    simulate(
        config,
        args.out,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    return 0
