"""Option groups the stream searches share (``search``, ``baseline matched-filter-search``):
which strain is read, the time slides, and the line a finished search prints."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipeline.search.config import SlideConfig
from preprocess.commands.reading import add_dq_bits_option, add_highpass_option
from preprocess.stream.config import ReadOptions
from runtime.checks import finite_float


def add_strain_options(parser: argparse.ArgumentParser, defaults: ReadOptions) -> None:
    """``--strain`` and ``--out``, and the group ``reading``: ``--dq-bits``, ``--min-duration``,
    ``--max-duration``, ``--skip-bad``, ``--highpass``, their defaults from ``defaults``."""
    parser.add_argument("--strain", type=Path, nargs="+", required=True,
                        help="strain files or folders (gwspec stream, MLGWSC-1 or GWOSC layouts)")
    parser.add_argument("--out", type=Path, required=True,
                        help="search folder (new, empty, or a search to resume)")
    group = parser.add_argument_group("reading")
    add_dq_bits_option(group, defaults)
    group.add_argument("--min-duration", type=finite_float, default=defaults.min_duration,
                       help="s: shorter common segments are skipped (default: as short as "
                            "the search can analyse)")
    group.add_argument("--max-duration", type=finite_float, default=defaults.max_duration,
                       help="s: longer segments are searched in pieces (default %(default)s)")
    group.add_argument("--skip-bad", action="store_true",
                       help="skip a piece holding NaN or implausible strain instead of "
                            "stopping (it is counted and left out of the analysed time)")
    add_highpass_option(group, defaults)


def read_options(args: argparse.Namespace) -> ReadOptions:
    """The parsed reading options."""
    return ReadOptions(dq_bits=tuple(args.dq_bits), min_duration=args.min_duration,
                       max_duration=args.max_duration, skip_bad=args.skip_bad,
                       highpass=args.highpass)


def add_slide_options(parser: argparse.ArgumentParser, defaults: SlideConfig,
                      step_help: str) -> None:
    """The group ``background``: ``--slides`` or ``--background-duration``, ``--slide-step``."""
    group = parser.add_argument_group("time slides (the background)")
    either = group.add_mutually_exclusive_group()
    either.add_argument("--slides", type=int, default=defaults.count,
                        help="time slides 1..N of the background; 0: zero lag only (default "
                             "%(default)s)")
    either.add_argument("--background-duration", type=finite_float,
                        default=defaults.background_duration,
                        help="s of background wanted instead of a slide count")
    group.add_argument("--slide-step", type=finite_float, default=defaults.step,
                       help=f"s: slide k shifts detector i by k * step * i; {step_help} "
                            "(default %(default)s)")


def slide_config(args: argparse.Namespace) -> SlideConfig:
    return SlideConfig(step=args.slide_step, count=args.slides,
                       background_duration=args.background_duration)


def summary_line(out: Path) -> str:
    """What a finished search folder holds, in one line (``result.json``)."""
    record: dict[str, Any] = json.loads((out / "result.json").read_text())
    outputs = record["outputs"]
    zero = ", ".join(f"{v['n_zerolag']} zero-lag ({k})" for k, v in outputs.items())
    slides, skipped = record["slides"], record["skipped"]
    line = (f"{out}: {zero} triggers over {record['analysed_seconds']:.0f} s analysed; "
            f"{slides['count']} slide(s) run ({slides['requested']} requested), "
            f"{slides['background_seconds']:.3g} s of background")
    if skipped["pieces"]:
        line += (f"; {skipped['pieces']} piece(s), {skipped['seconds']:g} s, skipped for "
                 "bad strain")
    return line
