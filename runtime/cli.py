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
import errno
import importlib
import logging
import sys
from collections.abc import Mapping, Sequence

from runtime.errors import EXPECTED_ERRORS, is_disk_full, one_line
from runtime.outputs import release_all

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
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser(prog, description, commands, chosen_command(argv, commands))
    args = parser.parse_args(argv)
    return run_command(prog, args)


INTERRUPTED = 130  # exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells use
NOT_WRITABLE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)


def run_command(prog: str, args: argparse.Namespace) -> int:
    """Run ``args.func(args)``; an expected error prints ``prog command: error: ...``, exit 2;
    Ctrl-C prints one line, exit 130. Output folders locked by the command are released."""
    name = " ".join(str(part) for part in (args.command, getattr(args, "method", None)) if part)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"\n{prog} {name}: interrupted; completed work is kept, re-run the same "
              "command to resume", file=sys.stderr)
        return INTERRUPTED
    except EXPECTED_ERRORS as error:
        print(f"{prog} {name}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:
        if is_disk_full(error):
            print(f"{prog} {name}: error: {one_line(error)}; free some space and "
                  "re-run (completed work is kept)", file=sys.stderr)
        elif error.errno in NOT_WRITABLE_ERRNOS:
            where = error.filename or "output"
            print(f"{prog} {name}: error: {where}: cannot write there "
                  f"({error.strerror}); choose an output on a writable disk", file=sys.stderr)
        else:
            raise
        return 2
    finally:
        release_all()
