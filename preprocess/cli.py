"""The ``preprocess`` command: thin argument parsing over the library's jobs.

Each subcommand lives in ``preprocess/commands/<name>.py``, imported only when it runs
(``runtime.cli``); its ``add_parser(subparsers)`` registers its options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from runtime import cli

COMMANDS: cli.Registry = {
    "simulate": ("preprocess.commands.simulate",
                 "simulate BBH signals in coloured design noise, G2Net layout"),
    "build-cqt": ("preprocess.commands.build_cqt",
                  "build the whitened CQT image cache of one split"),
    "inspect": ("preprocess.commands.inspect",
                "show a cache's manifest and example spectrograms"),
    "simulate-stream": ("preprocess.commands.simulate_stream", "continuous strain, injections"),
    "cut": ("preprocess.commands.cut", "2-s G2Net samples around GPS times of strain files"),
    "pool": ("preprocess.commands.pool", "a simulated split's noise and signals, kept apart"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one subcommand; expected failures end with one clear line, exit 2."""
    return cli.main("preprocess", __doc__.splitlines()[0], COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
