"""``pipeline baseline matched-filter``: score a split with the matched-filter reference."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import NOISE_LEVELS, BankConfig, MatchedFilterConfig

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``baseline`` with its one method, ``matched-filter``."""
    parser = subparsers.add_parser("baseline", help="reference detectors on the same samples",
                                   description=__doc__)
    methods = parser.add_subparsers(dest="method", required=True)
    mf = methods.add_parser("matched-filter", help="template-bank matched filter (network SNR)",
                            description=__doc__)
    bank, config = BankConfig(), MatchedFilterConfig()
    mf.add_argument("--data", type=Path, required=True, help="G2Net-layout data directory")
    mf.add_argument("--split", choices=("train", "test"), default="test")
    mf.add_argument("--out", type=Path, required=True, help="scores CSV (id,target)")
    mf.add_argument("--n-templates", type=int, default=bank.n_templates)
    mf.add_argument("--seed", type=int, default=bank.seed, help="seed of the bank placement")
    mf.add_argument("--mass-range", type=float, nargs=2, metavar=("MIN", "MAX"),
                    default=(bank.mass_min, bank.mass_max),
                    help="detector-frame component masses of the bank, Msun (default %(default)s)")
    mf.add_argument("--spin-max", type=float, default=bank.spin_max,
                    help="aligned spins of the bank in [-x, x]; 0 = non-spinning")
    mf.add_argument("--taper", type=float, default=config.taper,
                    help="seconds of Tukey ramp at each end of a sample (default %(default)s)")
    mf.add_argument("--psd", type=Path, default=None,
                    help="PSD to whiten with: a psd.csv, a directory holding one, a cache "
                         "directory (its estimated PSD) or a .npy (3, F); default DATA/psd.csv")
    mf.add_argument("--noise-level", choices=NOISE_LEVELS, default=config.noise_level,
                    help="each sample's PSD scale per detector: recorded (injections.csv's "
                         "psd_scale_<det>), estimated (median whitened power of the sample), "
                         "nominal (1), or auto = recorded when recorded, else nominal "
                         "(default %(default)s)")
    mf.add_argument("--workers", type=int, default=1, help="processes (default %(default)s)")
    mf.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    mf.add_argument("--no-progress", action="store_true", help="no progress bar")
    mf.set_defaults(func=run)


def load_psd(path: Path) -> np.ndarray:
    """A PSD ``(3, F)`` from a psd.csv, a directory holding one, a cache directory or a .npy."""
    import numpy as np

    from preprocess.layout import DETECTORS, read_csv, read_psd

    if path.is_dir() and (path / "psd.csv").is_file():
        return read_psd(path)[1]
    if path.is_dir():
        from preprocess.cache import read_manifest

        psd = read_manifest(path).psd
        if psd is None:
            raise ValueError(f"{path}: the cache holds no PSD (it was not whitened)")
        return psd
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no PSD there")
    if path.suffix == ".npy":
        try:
            psd = np.load(path, allow_pickle=False)
        except Exception as error:  # a pickle, a truncated or foreign file
            reason = " ".join(str(error).split()) or type(error).__name__
            raise ValueError(f"{path}: not a readable PSD .npy ({reason})") from error
    else:
        frame = read_csv(path)
        if set(DETECTORS) - set(frame.columns):
            raise ValueError(f"{path}: expected columns frequency,{','.join(DETECTORS)}")
        psd = frame[list(DETECTORS)].to_numpy().T
    psd = np.asarray(psd)
    if psd.ndim != 2 or psd.shape[0] != len(DETECTORS) or psd.dtype.kind not in "fi":
        raise ValueError(f"{path}: a PSD is a real ({len(DETECTORS)}, F) array, got "
                         f"{psd.dtype} {psd.shape}")
    if not np.isfinite(psd).all() or (psd < 0).any():
        raise ValueError(f"{path}: the PSD holds negative, NaN or infinite values")
    return psd.astype(np.float64)


def run(args: argparse.Namespace) -> int:
    """Build the bank, filter every sample of the split, write the scores."""
    from pipeline.search.snippet import run_matched_filter

    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out}: exists; pass --overwrite to replace it")
    bank = BankConfig(n_templates=args.n_templates, seed=args.seed, mass_min=args.mass_range[0],
                      mass_max=args.mass_range[1], spin_max=args.spin_max)
    config = MatchedFilterConfig(bank=bank, taper=args.taper, noise_level=args.noise_level)
    psd = load_psd(args.psd) if args.psd is not None else None
    run_matched_filter(args.data, args.split, args.out, config, psd=psd, workers=args.workers,
                       progress=not args.no_progress)
    return 0
