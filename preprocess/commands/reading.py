"""The strain-reading options every command that reads strain files declares alike."""

from __future__ import annotations

import argparse

from preprocess.stream.config import ReadOptions
from runtime.checks import finite_float


def add_dq_bits_option(group: argparse._ActionsContainer, defaults: ReadOptions) -> None:
    """``--dq-bits``: the GWOSC data-quality bits a second needs."""
    group.add_argument("--dq-bits", nargs="+", default=list(defaults.dq_bits), metavar="BIT",
                       help="GWOSC data-quality bits that must be on (default %(default)s)")


def add_highpass_option(group: argparse._ActionsContainer, defaults: ReadOptions) -> None:
    """``--highpass``: the strain's zero-phase high-pass before windows are taken."""
    group.add_argument("--highpass", type=finite_float, default=defaults.highpass,
                       metavar="HZ",
                       help="zero-phase high-pass of the strain before 2-s windows are taken "
                            "from it, so that the seismic noise below the band does not leak "
                            "into it (0 = off; default %(default)s Hz)")
