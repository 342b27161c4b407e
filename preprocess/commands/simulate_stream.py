"""``preprocess simulate-stream``: continuous strain with injections, in segments, resumable.

Imports only argparse and the stream's configuration dataclasses at the top: numpy, scipy,
h5py and lalsimulation load inside ``run``, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from preprocess.commands.reading import add_dq_bits_option
from preprocess.stream.config import (
    DETECTORS,
    DISTANCE_PRIORS,
    DTYPES,
    SNR_DISTRIBUTIONS,
    ReadOptions,
    StreamConfig,
    default,
)
from runtime.checks import finite_float

logger = logging.getLogger(__name__)
_READ = ReadOptions()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``simulate-stream`` and its options."""
    parser = subparsers.add_parser(
        "simulate-stream",
        help="continuous strain (noise, drift, glitches) and a foreground with injections",
        description="Write continuous 2048-Hz strain in segments: a background (noise and "
        "glitches) and a foreground (the same plus CBC injections) from one seed, with the "
        "injection, glitch and noise-level tables, optionally in the MLGWSC-1 layout too. "
        "Re-running resumes; a folder made with other settings is refused.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="stream folder to create or resume")
    parser.add_argument("--duration", type=int, default=None,
                        help="s of strain in all (default 3600; with --real-noise all there is)")
    parser.add_argument("--detectors", nargs="+", default=None, metavar="DET",
                        help=f"any of {' '.join(DETECTORS)} (default: all three; with "
                        "--real-noise those in the files)")
    parser.add_argument("--seed", type=int, default=default("seed"))
    parser.add_argument("--workers", type=int, default=None,
                        help="processes (default: all cores; the files do not depend on it)")
    parser.add_argument("--mlgwsc", action="store_true",
                        help="also write mlgwsc/background.hdf and foreground.hdf (MLGWSC-1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_layout(parser.add_argument_group("time layout and files"))
    _add_noise(parser.add_argument_group("simulated noise"))
    _add_injections(parser.add_argument_group("injections"))
    _add_real(parser.add_argument_group("real noise instead of simulated noise"))
    parser.set_defaults(func=run)


def _add_layout(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--gps-start", type=int, default=default("gps_start"), help="GPS s")
    group.add_argument("--segment-duration", type=int, default=default("segment_duration"),
                       help="s per contiguous segment")
    group.add_argument("--gap-duration", type=int, default=default("gap_duration"),
                       help="s of no data between segments")
    group.add_argument("--chunk-duration", type=int, default=default("chunk_duration"),
                       help="s per file (unit of work and of resuming)")
    group.add_argument("--dtype", choices=DTYPES, default=default("dtype"))


def _add_noise(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--level-min", type=finite_float, default=default("level_min"),
                       help="PSD level drift: ln(level) a mean-reverting walk, 95%% of the time "
                       "in [min, max], clipped to it (1 1: no drift)")
    group.add_argument("--level-max", type=finite_float, default=default("level_max"))
    group.add_argument("--level-timescale", type=finite_float, default=default("level_timescale"),
                       help="s: correlation time of the drift")
    group.add_argument("--psd-shape-mix", type=finite_float, default=default("psd_shape_mix"),
                       help="per detector, weight uniform in [0, x] of the O3-like curve")
    group.add_argument("--glitch-rate", type=finite_float, default=default("glitch_rate"),
                       help="glitches per hour per detector (Poisson)")
    group.add_argument("--glitch-types", nargs="+", default=list(default("glitch_types")),
                       metavar="TYPE", help="families, drawn uniformly")
    group.add_argument("--glitch-snr-min", type=finite_float, default=default("glitch_snr_min"))
    group.add_argument("--glitch-snr-max", type=finite_float, default=default("glitch_snr_max"))
    group.add_argument("--glitch-snr-distribution", choices=SNR_DISTRIBUTIONS,
                       default=default("glitch_snr_distribution"))


def _add_injections(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--injection-spacing", type=finite_float,
                       default=default("injection_spacing"),
                       help="s between grid points (0: no injections, no foreground)")
    group.add_argument("--injection-jitter", type=finite_float, default=default("injection_jitter"),
                       help="s: tc uniform within +-jitter of its grid point")
    group.add_argument("--injection-edge", type=finite_float, default=default("injection_edge"),
                       help="s: no tc closer to a segment edge")
    group.add_argument("--approximant", default=default("approximant"),
                       help="IMRPhenomPv2 or IMRPhenomXPHM")
    group.add_argument("--f-lower", type=finite_float, default=default("f_lower"), help="Hz")
    group.add_argument("--mass-min", type=finite_float, default=default("mass_min"), help="Msun")
    group.add_argument("--mass-max", type=finite_float, default=default("mass_max"), help="Msun")
    group.add_argument("--spin-max", type=finite_float, default=default("spin_max"))
    group.add_argument("--distance-prior", choices=DISTANCE_PRIORS,
                       default=default("distance_prior"),
                       help="uniform in volume of chirp distance (MLGWSC-1) or of distance")
    group.add_argument("--distance-min", type=finite_float, default=default("distance_min"),
                       help="Mpc")
    group.add_argument("--distance-max", type=finite_float, default=default("distance_max"),
                       help="Mpc")


def _add_real(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--real-noise", nargs="+", default=[], metavar="FILE",
                       help="strain files or folders (gwspec stream, MLGWSC-1 or GWOSC HDF5) "
                       "to use as the background")
    add_dq_bits_option(group, _READ)
    group.add_argument("--min-segment", type=finite_float, default=_READ.min_duration,
                       help="s: shorter common segments are skipped and counted")
    group.add_argument("--skip-bad", action="store_true",
                       help="skip (and count) chunks with NaN or implausible values")


def _config(args: argparse.Namespace) -> StreamConfig:
    """The configuration the options describe (building it validates every option)."""
    real = bool(args.real_noise)
    duration = args.duration if args.duration is not None else (0 if real else 3600)
    detectors = args.detectors or (() if real else DETECTORS)
    read = ReadOptions(dq_bits=tuple(args.dq_bits), min_duration=args.min_segment,
                       max_duration=None, skip_bad=args.skip_bad)
    names = ("seed", "gps_start", "segment_duration", "gap_duration", "chunk_duration", "dtype",
             "level_min", "level_max", "level_timescale", "psd_shape_mix", "glitch_rate",
             "glitch_snr_min", "glitch_snr_max", "glitch_snr_distribution", "injection_spacing",
             "injection_jitter", "injection_edge", "approximant", "f_lower", "mass_min",
             "mass_max", "spin_max", "distance_prior", "distance_min", "distance_max")
    real_noise = tuple(str(Path(p).resolve()) for p in args.real_noise)
    return StreamConfig(duration=duration, detectors=tuple(detectors),
                        glitch_types=tuple(args.glitch_types), real_noise=real_noise, read=read,
                        **{name: getattr(args, name) for name in names})


def run(args: argparse.Namespace) -> int:
    """Build the configuration (which validates every option) and run the job."""
    from preprocess.stream.simulate import simulate_stream

    config = _config(args)
    out = simulate_stream(config, args.out, workers=args.workers, mlgwsc=args.mlgwsc,
                          progress=not args.no_progress)
    logger.info("stream written to %s", out)
    return 0
