"""``pipeline evaluate-search``: searches' trigger files side by side, scored as MLGWSC-1 does.

Each search is a pair of MLGWSC-1 trigger files (``time``, ``stat``, ``var``): ``--foreground``
from data with injections and ``--background`` from time slides or noise-only data, in the same
order; files of other searches that record no duration take ``--background-duration`` and
``--foreground-duration``. Pairs that do not belong together (another search, statistic or
detectors, the foreground as its own background, another stream's injections) are refused.
Writes FAR at every threshold, sensitive volume and distance with their errors, a table at FAR
1, 10 and 100 per month with the lowest FAR each background supports, and the plots
(``pipeline.search.evaluate.report``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.search.evaluate.config import EvaluateSearchConfig
from runtime.checks import finite_float


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate-search``."""
    parser = subparsers.add_parser("evaluate-search", description=__doc__,
                                   help="sensitive distance against FAR of searches")
    config = EvaluateSearchConfig()
    parser.add_argument("--foreground", type=Path, nargs="+", required=True,
                        help="each search's trigger file on data with injections")
    parser.add_argument("--background", type=Path, nargs="+", required=True,
                        help="each search's background trigger file, in the same order")
    parser.add_argument("--names", nargs="+", default=None,
                        help="each search's name (default: the foreground files' names)")
    parser.add_argument("--injections", type=Path, required=True,
                        help="injections.hdf (MLGWSC-1) or injections.csv of the stream")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument("--fars", type=finite_float, nargs="+", default=list(config.fars_per_month),
                        help="FARs per month (30 days) of the table (default %(default)s)")
    parser.add_argument("--distance-prior", choices=("auto", "chirp", "volume"),
                        default=config.distance_prior,
                        help="how injection distances were drawn (default %(default)s: the "
                             "stream.json beside the table, else its columns)")
    parser.add_argument("--distance-max", type=finite_float, default=config.distance_max,
                        help="Mpc, the prior's upper bound (chirp distance for chirp); "
                             "default: recorded, else the table's largest")
    parser.add_argument("--found-far", type=finite_float, default=config.found_far_per_month,
                        help="FAR per month of the found/missed plot (default %(default)s)")
    parser.add_argument("--background-duration", type=finite_float,
                        default=config.background_duration,
                        help="s each background file stands for, where it records none (a "
                             "bare MLGWSC-1 file: time, stat, var); default: recorded")
    parser.add_argument("--foreground-duration", type=finite_float,
                        default=config.foreground_duration,
                        help="s each foreground file stands for, where it records none")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the pairing of files and names, then score."""
    from pipeline.search.evaluate.report import SearchFiles, evaluate_searches

    if len(args.foreground) != len(args.background):
        raise ValueError(f"{len(args.foreground)} --foreground file(s) but "
                         f"{len(args.background)} --background file(s); give one of each per "
                         "search")
    names = args.names or [path.stem for path in args.foreground]
    if len(names) != len(args.foreground):
        raise ValueError(f"{len(names)} --names for {len(args.foreground)} searches")
    searches = [SearchFiles(n, str(f), str(b))
                for n, f, b in zip(names, args.foreground, args.background, strict=True)]
    config = EvaluateSearchConfig(fars_per_month=tuple(args.fars),
                                  distance_prior=args.distance_prior,
                                  distance_max=args.distance_max,
                                  found_far_per_month=args.found_far,
                                  background_duration=args.background_duration,
                                  foreground_duration=args.foreground_duration)
    evaluate_searches(searches, args.injections, args.out, config)
    return 0
