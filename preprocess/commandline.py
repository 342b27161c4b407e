"""The machinery both command lines share: one module per subcommand, imported only when run.

A command line is a registry ``{name: (module path, one-line help)}``, as pip keeps its
commands. ``prog --help`` lists the names and help lines without importing any command
module; ``prog NAME ...`` imports ``NAME``'s module alone, whose ``add_parser(subparsers)``
registers its options and sets ``func``. Command modules keep their own imports light (argument
parsing and configuration dataclasses); heavy libraries (torch, torchvision, scipy.signal,
matplotlib, lalsimulation) are imported inside ``func``, so ``--help`` and argument errors
answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from preprocess.errors import run_command

Registry = Mapping[str, tuple[str, str]]  # name -> (module path, one-line help)


def chosen_command(argv: Sequence[str], commands: Registry) -> str | None:
    """The subcommand named on the command line (its first non-option word), if known."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in commands else None
    return None


def build_parser(prog: str, description: str, commands: Registry,
                 command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; ``command``'s own options registered in full."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_line) in commands.items():
        if name == command:
            importlib.import_module(module).add_parser(subparsers)
        else:  # listed for --help and for argparse's "invalid choice" message
            subparsers.add_parser(name, help=help_line)
    return parser


def main(prog: str, description: str, commands: Registry,
         argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run one command; expected failures end with one clear line, exit 2."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser(prog, description, commands, chosen_command(argv, commands))
    args = parser.parse_args(argv)
    return run_command(prog, args)


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's module ``__getattr__`` (PEP 562) that imports the module of a public name
    (``exports``: name -> relative module) on first use, so importing the package stays light."""
    def attribute(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)
    return attribute

