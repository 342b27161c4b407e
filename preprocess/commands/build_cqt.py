"""``preprocess build-cqt``: whiten, band-pass and CQT one split into a sharded float16 cache."""

from __future__ import annotations

import argparse
import logging
import os

from preprocess.config import (
    ALGORITHMS,
    NORMALIZATIONS,
    BuildOptions,
    CQTConfig,
    NormalizeConfig,
    WhitenConfig,
)
from runtime.checks import finite_float

logger = logging.getLogger(__name__)
_CQT, _WHITEN, _BUILD, _NORM = CQTConfig(), WhitenConfig(), BuildOptions(), NormalizeConfig()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``build-cqt`` and its options."""
    parser = subparsers.add_parser(
        "build-cqt",
        help="build the whitened CQT image cache of one split",
        description="Whiten (with one training-noise PSD), band-pass, taper and CQT every sample "
        "of a split into float16 HDF5 shards. Re-running resumes; a cache of other settings is "
        "refused.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="G2Net-layout data directory")
    parser.add_argument("--split", required=True, choices=("train", "test"))
    parser.add_argument("--out", required=True, help="cache directory to create or resume")
    job = parser.add_argument_group("job")
    job.add_argument("--device", default=_BUILD.device,
                     help="auto, cpu or cuda[:n]; under torchrun each rank takes "
                          "cuda:LOCAL_RANK")
    job.add_argument("--batch-size", type=int, default=_BUILD.batch_size,
                     help="samples per CQT call (default: 64 on a CPU, 256 on a GPU)")
    job.add_argument("--workers", type=int, default=_BUILD.workers,
                     help="reader processes (default: 1 on a CPU, min(8, cores) on a GPU)")
    job.add_argument("--threads", type=int, default=_BUILD.threads,
                     help="torch threads for whitening + CQT (0: torch's default, one per core)")
    job.add_argument("--shard-size", type=int, default=_BUILD.shard_size)
    job.add_argument("--skip-bad", action="store_true",
                     help="record bad samples in the manifest and go on instead of stopping")
    job.add_argument("--rank", type=int, default=int(os.environ.get("RANK", 0)),
                     help="this process's rank (default: $RANK, as torchrun sets)")
    job.add_argument("--world-size", type=int, default=int(os.environ.get("WORLD_SIZE", 1)),
                     help="number of building processes (default: $WORLD_SIZE)")
    job.add_argument("--no-progress", action="store_true", help="no progress bar")
    cqt = parser.add_argument_group("CQT (nnAudio)")
    cqt.add_argument("--cqt-kernel", choices=ALGORITHMS, default=_CQT.algorithm,
                     help="nnAudio CQT1992v2 per octave (default: the same images as one "
                     "CQT1992v2, its CQT 2x faster on a CPU), one CQT1992v2 (all kernels as "
                     "long as the longest), or CQT2010v2 (octaves by downsampling; hop length "
                     "must be divisible by 2**(octaves - 1))")
    cqt.add_argument("--fmin", type=finite_float, default=_CQT.fmin, help="Hz")
    cqt.add_argument("--fmax", type=finite_float, default=_CQT.fmax, help="Hz")
    cqt.add_argument("--bins-per-octave", type=int, default=_CQT.bins_per_octave)
    cqt.add_argument("--hop-length", type=int, default=_CQT.hop_length, help="samples")
    cqt.add_argument("--filter-scale", type=finite_float, default=_CQT.filter_scale)
    cqt.add_argument("--cqt-norm", type=int, choices=(1, 2), default=_CQT.norm,
                     help="kernel normalisation (L1 or L2)")
    cqt.add_argument("--cqt-window", default=_CQT.window)
    cqt.add_argument("--cqt-scaling", choices=("magnitude", "log"), default=_CQT.scaling)
    white = parser.add_argument_group("whitening")
    white.add_argument("--no-whiten", action="store_true",
                       help="skip the PSD division: raw strain / --raw-scale, tapered, band-passed")
    white.add_argument("--psd-from", default=None,
                       help="reuse the PSD of this (training) cache, e.g. for the test split")
    white.add_argument("--psd-from-split", action="store_true",
                       help="estimate the PSD from the samples of this split itself (all of "
                            "them, signals included: the median is robust to them), as a search "
                            "whitens by the data around; e.g. a test set of another spectrum")
    white.add_argument("--psd-average", choices=("mean", "median"), default=_WHITEN.psd_average,
                       help="how periodograms are averaged into the PSD: the median is robust "
                            "to glitches and signals")
    white.add_argument("--no-psd-gate", action="store_true",
                       help="average every periodogram into the PSD, glitch and signal power "
                            "included (the gate leaves it out band by band)")
    white.add_argument("--psd-max-samples", type=int, default=_WHITEN.psd_max_samples,
                       help="noise-only training samples averaged into the PSD")
    white.add_argument("--taper-alpha", type=finite_float, default=_WHITEN.taper_alpha,
                       help="Tukey window fraction")
    white.add_argument("--bandpass-low", type=finite_float, default=_WHITEN.bandpass_low,
                       help="Hz (0: none)")
    white.add_argument("--bandpass-high", type=finite_float, default=_WHITEN.bandpass_high,
                       help="Hz (0: none)")
    white.add_argument("--bandpass-order", type=int, default=_WHITEN.bandpass_order)
    white.add_argument("--raw-scale", type=finite_float, default=_WHITEN.raw_scale,
                       help="strain unit divided out on load")
    norm = parser.add_argument_group("per-sample normalisation")
    norm.add_argument("--normalize", choices=NORMALIZATIONS, default=_NORM.method,
                      help="divide out each sample's own noise level per detector: row-median "
                      "divides every frequency row of the |CQT| image by its median over time "
                      "(level and slope); sample-psd divides the whitened series by its median "
                      "power in --level-band (level only); recorded in the cache config")
    norm.add_argument("--level-band", type=finite_float, nargs=2, metavar=("LOW", "HIGH"),
                      default=(_NORM.level_band_low, _NORM.level_band_high),
                      help="Hz, sample-psd: band whose median power measures the level")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the cache; report the outcome in the log."""
    from preprocess.build import build_cache

    cqt = CQTConfig(fmin=args.fmin, fmax=args.fmax, bins_per_octave=args.bins_per_octave,
                    hop_length=args.hop_length, filter_scale=args.filter_scale,
                    norm=args.cqt_norm, window=args.cqt_window, scaling=args.cqt_scaling,
                    algorithm=args.cqt_kernel)
    whiten = WhitenConfig(whiten=not args.no_whiten, psd_average=args.psd_average,
                          psd_gate=not args.no_psd_gate,
                          psd_max_samples=args.psd_max_samples, taper_alpha=args.taper_alpha,
                          bandpass_low=args.bandpass_low, bandpass_high=args.bandpass_high,
                          bandpass_order=args.bandpass_order, raw_scale=args.raw_scale)
    options = BuildOptions(device=args.device, batch_size=args.batch_size, workers=args.workers,
                           threads=args.threads,
                           shard_size=args.shard_size, skip_bad=args.skip_bad, rank=args.rank,
                           world_size=args.world_size, progress=not args.no_progress)
    normalize = NormalizeConfig(method=args.normalize, level_band_low=args.level_band[0],
                                level_band_high=args.level_band[1])
    report = build_cache(args.data, args.split, args.out, cqt, whiten, options, args.psd_from,
                         normalize, psd_from_split=args.psd_from_split)
    logger.info("built %d shard(s), %d already complete, %.0f samples/s; %d bad sample(s) skipped",
                len(report.built), len(report.skipped), report.samples_per_s,
                len(report.rejected))
    if report.manifest is None:
        logger.info("%s: waiting for other ranks' shards; the last to finish writes the manifest",
                    args.out)
    return 0
