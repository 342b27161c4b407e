"""Both command lines answer at once: ``--help`` and argument errors import no heavy library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "scipy.signal", "lalsimulation", "matplotlib", "sklearn",
         "nnAudio", "h5py")
PROBE = """
import sys
from {cli} import main
try:
    main({argv!r})
except SystemExit:
    pass
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""
COMMANDS = [
    ("pipeline.cli", ["--help"]),
    ("pipeline.cli", ["train", "--help"]),
    ("pipeline.cli", ["family", "--help"]),
    ("pipeline.cli", ["predict", "--help"]),
    ("pipeline.cli", ["evaluate", "--help"]),
    ("pipeline.cli", ["baseline", "matched-filter", "--help"]),
    ("pipeline.cli", ["demo", "--help"]),
    ("pipeline.cli", ["search", "--help"]),
    ("pipeline.cli", ["train"]),  # an argument error: --cache is required
    ("pipeline.cli", ["trian", "--cache", "x"]),  # a typo
    ("preprocess.cli", ["--help"]),
    ("preprocess.cli", ["simulate", "--help"]),
    ("preprocess.cli", ["build-cqt", "--help"]),
    ("preprocess.cli", ["build-cqt", "--data", "d", "--split", "valid", "--out", "o"]),
    ("preprocess.cli", ["inspect", "--help"]),
    ("preprocess.cli", ["simulate-stream", "--help"]),
]


@pytest.mark.parametrize(("cli", "argv"), COMMANDS, ids=lambda v: " ".join(v) if
                         isinstance(v, list) else v)
def test_help_and_argument_errors_import_nothing_heavy(cli, argv) -> None:
    probe = PROBE.format(cli=cli, argv=argv, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:", done.stdout[-300:]
    if "--help" not in argv:  # argparse's usage, then the error on the last line
        assert ": error: " in done.stderr.strip().splitlines()[-1], done.stderr


def test_every_listed_command_exists() -> None:
    """The registries name modules that define ``add_parser``, under the name they list."""
    import argparse
    import importlib

    from pipeline.cli import COMMANDS as PIPELINE
    from preprocess.cli import COMMANDS as PREPROCESS

    for registry in (PIPELINE, PREPROCESS):
        for name, (module, help_line) in registry.items():
            parser = argparse.ArgumentParser()
            subparsers = parser.add_subparsers(dest="command")
            importlib.import_module(module).add_parser(subparsers)
            assert list(subparsers.choices) == [name] and help_line
