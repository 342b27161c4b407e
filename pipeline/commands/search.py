"""``pipeline search``: find signals in continuous strain with trained networks.

Every window of the model's length (every ``--stride`` s) is whitened by the running PSD of
the data around it and turned into the images ``build-cqt`` would make of it; the models
(``--checkpoint``, repeat to ensemble) score every window, the scores are clustered into
triggers, and time slides of the detectors make the background. Writes MLGWSC-1 trigger files
(``zerolag-network.hdf``, ``slides-network.hdf``, with CSVs) and ``result.json``; score them
with ``pipeline evaluate-search``. Re-running resumes; under ``torchrun`` each rank takes its
share of the segments.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.commands.streams import add_reading_options, reading_settings
from pipeline.search.config import PSD_PLACEMENTS, NetworkSearchConfig, SlideConfig

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``search`` (defaults from ``NetworkSearchConfig``)."""
    d, s = NetworkSearchConfig(), SlideConfig()
    p = subparsers.add_parser("search", help="network search over continuous strain",
                              description=__doc__.splitlines()[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--strain", type=Path, nargs="+", required=True,
                   help="strain files or folders (gwspec stream, MLGWSC-1 or GWOSC layouts)")
    p.add_argument("--checkpoint", type=Path, action="append", required=True,
                   help="a trained model (RUN/best.pt); repeat to ensemble")
    p.add_argument("--out", type=Path, required=True, help="search folder (new, or to resume)")
    p.add_argument("--stride", type=float, default=d.stride, help="s between windows")
    p.add_argument("--psd", choices=("running", "training"), default=d.psd,
                   help="whiten each block of windows by the data around it, or by the "
                        "training cache's PSD")
    p.add_argument("--psd-span", type=float, default=d.psd_span,
                   help="s of data each running PSD is estimated from")
    p.add_argument("--psd-placement", choices=PSD_PLACEMENTS, default=d.psd_placement)
    p.add_argument("--psd-update", type=float, default=d.psd_update,
                   help="s between running PSD estimates")
    p.add_argument("--slides", type=int, default=s.count,
                   help="time slides of the background (0: zero lag only)")
    p.add_argument("--background-duration", type=float, default=s.background_duration,
                   help="s of background wanted instead of --slides")
    p.add_argument("--slide-step", type=float, default=s.step,
                   help="s each slide shifts the detectors by (whole strides)")
    p.add_argument("--integrate", type=int, default=d.integrate,
                   help="consecutive windows each score is averaged over")
    p.add_argument("--cluster-window", type=float, default=d.cluster_window,
                   help="s: the loudest trigger within this is kept")
    p.add_argument("--var", type=float, default=d.var,
                   help="s: how far from an injection a trigger may find it (MLGWSC-1)")
    p.add_argument("--tta", action="store_true", help="average over the H1 <-> L1 exchange")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="autocast (default: on for CUDA); scores stay float32")
    add_reading_options(p, d)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> NetworkSearchConfig:
    slides = SlideConfig(step=args.slide_step, count=args.slides,
                         background_duration=args.background_duration)
    return NetworkSearchConfig(
        stride=args.stride, psd=args.psd, psd_span=args.psd_span,
        psd_placement=args.psd_placement, psd_update=args.psd_update, slides=slides,
        batch_size=args.batch_size, device=args.device, amp=args.amp, tta=args.tta,
        integrate=args.integrate, cluster_window=args.cluster_window, var=args.var,
        **reading_settings(args))


def run(args: argparse.Namespace) -> int:
    """Search; print where the trigger files are and the background reached."""
    import json

    from pipeline.search.net_search import RESULT_FILE, run_network_search

    out = run_network_search(args.strain, args.checkpoint, args.out, config_from_args(args),
                             progress=not args.no_progress)
    result = out / RESULT_FILE
    if result.is_file():
        record = json.loads(result.read_text())
        print(f"{out}: {record['outputs'].get('n_zerolag', 0)} zero-lag triggers over "
              f"{record['analysed_seconds']:.0f} s; {record['slides']['count']} slides, "
              f"{record['slides']['background_seconds']:.3g} s of background")
    return 0
