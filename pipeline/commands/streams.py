"""Options the stream commands share (``search``, ``baseline matched-filter-search``): which
strain is read, as the stream readers take it."""

from __future__ import annotations

import argparse
from typing import Any


def add_reading_options(parser: Any, defaults: Any) -> None:
    """``--dq-bits``, ``--min-duration``, ``--max-duration``, ``--skip-bad`` on ``parser`` (a
    parser or group), their defaults from a search config."""
    parser.add_argument("--dq-bits", nargs="+", default=list(defaults.dq_bits),
                        help="GWOSC data-quality bits that must be on (default %(default)s)")
    parser.add_argument("--min-duration", type=float, default=defaults.min_duration,
                        help="s: shorter common segments are skipped (default %(default)s)")
    parser.add_argument("--max-duration", type=float, default=defaults.max_duration,
                        help="s: longer segments are searched in pieces (default %(default)s)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip a segment holding NaN or implausible strain instead of "
                             "stopping")


def reading_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed reading options as search-config fields."""
    return {"dq_bits": tuple(args.dq_bits), "min_duration": args.min_duration,
            "max_duration": args.max_duration, "skip_bad": args.skip_bad}
