"""The PSD option group every command shares, as PyCBC's ``insert_psd_option_group``.

``add_psd_options(parser, defaults, keywords=...)`` adds ``--psd SOURCE`` (and, for a running
estimate, ``--psd-span``, ``--psd-placement`` and, for the matched filter's Welch estimate,
``--psd-segment``); ``psd_from_args(args)`` turns the parsed options into a ``PSDConfig``. One
meaning of ``--psd`` everywhere: a keyword the command knows (``running``: estimated from the
data around each stretch; ``training``: the model's training PSD) or a PSD file
(``preprocess.psd.read``). Light: argparse and the configuration only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from preprocess.psd.config import PSD_PLACEMENTS, RUNNING, PSDConfig
from runtime.checks import finite_float

FILES = ("a PSD file: CSV frequency,<det>,... (strain^2/Hz, one-sided), a data folder holding "
         "psd.csv, a spectrogram cache folder (the PSD it was whitened with) or a .npy "
         "(detectors, frequencies) from 0 to 1024 Hz")


def add_psd_options(parser: argparse.ArgumentParser, defaults: PSDConfig | None,
                    keywords: Sequence[str] = (RUNNING,), welch: bool = False,
                    default_help: str = "") -> None:
    """The group ``whitening PSD`` on ``parser``: ``--psd`` with ``keywords``; with ``running``
    among them, the span and placement of the running estimate (``welch``: its segment too).
    ``defaults`` None: ``--psd`` has no default (``default_help`` says what is used)."""
    group = parser.add_argument_group("whitening PSD")
    words = f"{' | '.join(keywords)} | FILE" if keywords else "FILE"
    explained = {"running": "running: estimated from the data around each stretch",
                 "training": "training: the model's training PSD, for every stretch"}
    text = "; ".join([explained[k] for k in keywords] + [FILES])
    group.add_argument("--psd", metavar=words, default=defaults.source if defaults else None,
                       help=f"{text} (default: {defaults.source if defaults else default_help})")
    if RUNNING not in keywords or defaults is None:
        return
    group.add_argument("--psd-span", type=finite_float, default=defaults.span,
                       help=f"s of data each running estimate covers (default {defaults.span:g})")
    group.add_argument("--psd-placement", choices=PSD_PLACEMENTS, default=defaults.placement,
                       help="the span ends where the stretch ends (preceding) or is centred on "
                            f"it (default {defaults.placement})")
    if welch:
        group.add_argument("--psd-segment", type=finite_float, default=defaults.segment,
                           help="s per Welch segment of the running estimate (default "
                                f"{defaults.segment:g})")


def psd_from_args(args: argparse.Namespace, defaults: PSDConfig | None = None) -> PSDConfig:
    """The ``PSDConfig`` of the options ``add_psd_options`` added (``defaults`` for the rest)."""
    base = defaults or PSDConfig()
    return PSDConfig(source=str(args.psd), span=getattr(args, "psd_span", base.span),
                     segment=getattr(args, "psd_segment", base.segment),
                     placement=getattr(args, "psd_placement", base.placement))
