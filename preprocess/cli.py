"""The ``preprocess`` command: thin argument parsing over the library's jobs.

Each subcommand lives in ``preprocess/commands/<name>.py`` and exposes ``add_parser(subparsers)``,
which registers its options and sets ``func`` to a handler taking the parsed arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from preprocess.commands import build_cqt, inspect, simulate
from preprocess.errors import run_command

COMMANDS = (simulate, build_cqt, inspect)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, one subparser per command module."""
    parser = argparse.ArgumentParser(prog="preprocess", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one subcommand; expected failures end with one clear line, exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return run_command("preprocess", args)


if __name__ == "__main__":
    sys.exit(main())
