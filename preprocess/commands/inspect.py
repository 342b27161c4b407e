"""``preprocess inspect``: print a cache's manifest; optionally draw example spectrograms."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``inspect`` and its options."""
    parser = subparsers.add_parser(
        "inspect",
        help="show a cache's manifest and example spectrograms",
        description="Print the manifest of a CQT cache as a table; with --png draw signals next "
        "to noise samples, titled with their SNR when an injections table is given.",
    )
    parser.add_argument("cache", help="cache directory made by build-cqt")
    parser.add_argument("--png", default=None, help="write a grid of example images here")
    parser.add_argument("--injections", default=None,
                        help="injections.csv of the simulated data (targets and snr_network)")
    parser.add_argument("--examples", type=int, default=4, help="rows of examples in the grid")
    parser.add_argument("--verify", action="store_true",
                        help="read every chunk of every shard and check its checksum; exit "
                        "status 2 naming each damaged shard and rows")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table; render the PNG if asked; verify every shard if asked."""
    from preprocess.cache import CacheError, verify_cache
    from preprocess.dataset import SpectrogramCache
    from preprocess.inspect import manifest_table, render_examples
    from runtime.outputs import claim_file

    if args.png:  # refuse a file of the user's before any work
        claim_file(args.png, "figure")

    if args.verify:
        problems = verify_cache(args.cache)
        for problem in problems:
            print(problem)
        if problems:
            raise CacheError(f"{args.cache}: {len(problems)} damaged part(s), listed above; "
                             "re-run build-cqt into this cache to rebuild the shards named")
        print(f"{args.cache}: every shard is intact")
    cache = SpectrogramCache(args.cache)
    print(manifest_table(cache.manifest, cache.targets))
    if args.png:
        path = render_examples(args.cache, args.png, args.injections, args.examples)
        logger.info("wrote %s", path)
    return 0
