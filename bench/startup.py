"""Start-up time of every command: ``--help`` and an argument error, cold, in a new process.

Each command runs ``--repeats`` times in a fresh interpreter (``python -m pipeline.cli ...``);
the table gives the median and the largest wall time, and which heavy libraries the command
imported. A user typing ``--help`` or a typo should get the answer in well under a second.

    .venv/bin/python bench/startup.py
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/startup.py   # another version
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ("pipeline.cli", ["--help"]),
    ("pipeline.cli", ["train", "--help"]),
    ("pipeline.cli", ["family", "--help"]),
    ("pipeline.cli", ["predict", "--help"]),
    ("pipeline.cli", ["evaluate", "--help"]),
    ("pipeline.cli", ["baseline", "matched-filter", "--help"]),
    ("pipeline.cli", ["demo", "--help"]),
    ("pipeline.cli", ["search", "--help"]),
    ("pipeline.cli", ["train"]),  # argument error: --cache is required
    ("preprocess.cli", ["--help"]),
    ("preprocess.cli", ["simulate", "--help"]),
    ("preprocess.cli", ["build-cqt", "--help"]),
    ("preprocess.cli", ["inspect", "--help"]),
    ("preprocess.cli", ["simulate-stream", "--help"]),
    ("preprocess.cli", ["build-cqt", "--split", "x"]),  # argument error
]
HEAVY = ("torch", "scipy.signal", "lalsimulation", "matplotlib", "sklearn")
PROBE = ("import sys, runpy\nsys.argv = [{cli!r}, *{argv!r}]\n"
         "try:\n    runpy.run_module({cli!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('HEAVY:' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)")


def time_command(cli: str, argv: list[str], repeats: int) -> tuple[list[float], str]:
    """Wall times of ``repeats`` fresh runs, and the heavy modules the last one imported."""
    times, heavy = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE.format(cli=cli, argv=argv,
                                                                  heavy=HEAVY)],
                              capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        heavy = done.stderr.strip().splitlines()[-1].removeprefix("HEAVY:")
    return times, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command")
    args = parser.parse_args()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"])
    bare = time.perf_counter() - started
    print(f"python itself: {bare:.2f} s")
    print(f"{'command':50s} {'median s':>9s} {'max s':>6s}  heavy imports")
    for cli, argv in COMMANDS:
        times, heavy = time_command(cli, argv, args.repeats)
        name = f"{cli.split('.')[0]} {' '.join(argv)}"
        print(f"{name:50s} {statistics.median(times):9.2f} {max(times):6.2f}  {heavy or '-'}")


if __name__ == "__main__":
    main()
