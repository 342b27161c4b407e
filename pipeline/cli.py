"""The ``pipeline`` command: thin argument parsing over training, prediction and evaluation.

Each subcommand lives in ``pipeline/commands/<name>.py``, imported only when it runs
(``runtime.cli``); its ``add_parser(subparsers)`` registers its options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from runtime import cli

COMMANDS: cli.Registry = {
    "train": ("pipeline.commands.train", "train a classifier on one fold of a cache"),
    "family": ("pipeline.commands.family", "train, ensemble and compare a family of models"),
    "predict": ("pipeline.commands.predict", "probabilities for a cached split"),
    "evaluate": ("pipeline.commands.evaluate",
                 "ROC AUC, TPR at fixed FPR and efficiency vs SNR of prediction files"),
    "baseline": ("pipeline.commands.baseline", "reference detectors on the same samples"),
    "search": ("pipeline.commands.search", "network search over continuous strain"),
    "evaluate-search": ("pipeline.commands.evaluate_search", "sensitive distance vs FAR"),
    "demo": ("pipeline.commands.demo",
             "simulate, build CQT caches, train, predict, run the matched filter and evaluate"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one subcommand; expected failures end with one clear line, exit 2."""
    return cli.main("pipeline", __doc__.splitlines()[0], COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
