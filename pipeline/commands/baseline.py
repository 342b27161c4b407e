"""``pipeline baseline``: the reference detectors.

- ``matched-filter``: score a split of 2-s samples with the template-bank matched filter;
- ``matched-filter-search``: the matched-filter search over streams (PyCBC's way: running PSD,
  FFT correlation of long blocks, chi-squared, coincidence, reweighted SNR, time slides),
  writing MLGWSC-1 trigger files (``pipeline.search``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.commands.streams import add_reading_options, reading_settings
from pipeline.config import NOISE_LEVELS, BankConfig, MatchedFilterConfig
from pipeline.search.config import (
    PRECISIONS,
    PSD_PLACEMENTS,
    STATISTICS,
    FilterConfig,
    PSDConfig,
    RankingConfig,
    SearchBankConfig,
    SearchConfig,
    SlideConfig,
)

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``baseline`` with its methods, ``matched-filter`` and ``matched-filter-search``."""
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
    add_search_parser(methods)


def add_search_parser(methods: argparse._SubParsersAction) -> None:
    """Register ``matched-filter-search`` with every option of ``SearchConfig``."""
    ms = methods.add_parser("matched-filter-search", description=__doc__,
                            help="matched-filter search over streams (MLGWSC-1 trigger files)")
    bank, psd, filt = SearchBankConfig(), PSDConfig(), FilterConfig()
    rank, slides, config = RankingConfig(), SlideConfig(), SearchConfig()
    ms.add_argument("--strain", type=Path, nargs="+", required=True,
                    help="strain files or folders (gwspec stream, MLGWSC-1 or GWOSC layouts)")
    ms.add_argument("--out", type=Path, required=True,
                    help="search folder (new, empty, or a search to resume)")
    ms.add_argument("--detectors", nargs="+", default=None,
                    help="detectors to search (default: every one the files hold)")
    g = ms.add_argument_group("template bank")
    g.add_argument("--bank", type=Path, default=None,
                   help="a bank.hdf of an earlier search to reuse (default: place one)")
    g.add_argument("--n-templates", type=int, default=bank.n_templates)
    g.add_argument("--mass-range", type=float, nargs=2, metavar=("MIN", "MAX"),
                   default=(bank.mass_min, bank.mass_max),
                   help="detector-frame component masses, Msun (default %(default)s)")
    g.add_argument("--spin-max", type=float, default=bank.spin_max,
                   help="aligned spins in [-x, x] (default %(default)s)")
    g.add_argument("--f-lower", type=float, default=bank.f_lower,
                   help="Hz: templates and overlaps start here (default %(default)s)")
    g.add_argument("--bank-seed", type=int, default=bank.seed)
    g = ms.add_argument_group("whitening and filtering")
    g.add_argument("--psd-span", type=float, default=psd.span,
                   help="s of data each running median-Welch PSD covers (default %(default)s)")
    g.add_argument("--psd-segment", type=float, default=psd.segment,
                   help="s per Welch segment (default %(default)s)")
    g.add_argument("--psd-placement", choices=PSD_PLACEMENTS, default=psd.placement,
                   help="the span ends where the stretch ends (preceding) or is centred on it "
                        "(default %(default)s)")
    g.add_argument("--psd", type=Path, default=None,
                   help="a fixed PSD instead: CSV frequency,<det>,... (one-sided, 1/Hz)")
    g.add_argument("--block", type=float, default=filt.block,
                   help="s per FFT block (default %(default)s)")
    g.add_argument("--precision", choices=PRECISIONS, default=filt.precision,
                   help="of the correlation FFTs (default %(default)s)")
    g.add_argument("--snr-threshold", type=float, default=filt.snr_threshold,
                   help="single-detector SNR of a trigger (default %(default)s)")
    g.add_argument("--cluster-window", type=float, default=filt.cluster_window,
                   help="s: per template, the loudest trigger of a run (default %(default)s)")
    g.add_argument("--chisq-bins", type=int, default=filt.chisq_bins,
                   help="p bins of Allen's chi-squared, 2p-2 dof (default %(default)s)")
    g = ms.add_argument_group("ranking and background")
    g.add_argument("--statistic", nargs="+", choices=STATISTICS, default=list(rank.statistics),
                   help="ranking statistic(s), one trigger set each (default %(default)s)")
    g.add_argument("--coinc-margin", type=float, default=rank.coinc_margin,
                   help="s added to the light-travel time (default %(default)s)")
    g.add_argument("--candidate-window", type=float, default=rank.cluster_window,
                   help="s: the loudest candidate keeps others this close out (default "
                        "%(default)s)")
    g.add_argument("--var", type=float, default=rank.var,
                   help="s: MLGWSC-1's var of every trigger (default %(default)s)")
    slides_group = g.add_mutually_exclusive_group()
    slides_group.add_argument("--slides", type=int, default=slides.count,
                              help="time slides 1..N for the background (default %(default)s)")
    slides_group.add_argument("--background-duration", type=float,
                              default=slides.background_duration,
                              help="s of background wanted instead of a slide count")
    g.add_argument("--slide-step", type=float, default=slides.step,
                   help="s: slide k shifts detector i by k * step * i (default %(default)s)")
    g = ms.add_argument_group("reading")
    add_reading_options(g, config)
    ms.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    ms.add_argument("--no-progress", action="store_true", help="no progress bar")
    ms.set_defaults(func=run_search_command)


def search_config(args: argparse.Namespace) -> SearchConfig:
    """The ``SearchConfig`` of parsed ``matched-filter-search`` arguments."""
    bank = SearchBankConfig(n_templates=args.n_templates, mass_min=args.mass_range[0],
                            mass_max=args.mass_range[1], spin_max=args.spin_max,
                            f_lower=args.f_lower, seed=args.bank_seed)
    psd = PSDConfig(span=args.psd_span, segment=args.psd_segment,
                    placement=args.psd_placement, file=str(args.psd or ""))
    return SearchConfig(
        filter=FilterConfig(bank=bank, psd=psd, block=args.block, precision=args.precision,
                            snr_threshold=args.snr_threshold,
                            cluster_window=args.cluster_window, chisq_bins=args.chisq_bins),
        ranking=RankingConfig(statistics=tuple(args.statistic), coinc_margin=args.coinc_margin,
                              cluster_window=args.candidate_window, var=args.var),
        slides=SlideConfig(step=args.slide_step, count=args.slides,
                           background_duration=args.background_duration),
        detectors=tuple(args.detectors or ()), **reading_settings(args))


def run_search_command(args: argparse.Namespace) -> int:
    """Run (or resume) the search and rank it."""
    from pipeline.search.mf_search import run_search

    run_search(args.strain, args.out, search_config(args), bank=args.bank,
               workers=args.workers, progress=not args.no_progress)
    return 0


def load_psd(path: Path, detectors: tuple[str, ...] = ("H1", "L1", "V1")) -> np.ndarray:
    """A PSD ``(D, F)`` of ``detectors`` from a psd.csv, a directory holding one, a cache
    directory or a .npy."""
    import numpy as np

    from preprocess.layout import read_csv, read_psd

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
        if set(detectors) - set(frame.columns):
            raise ValueError(f"{path}: expected columns frequency,{','.join(detectors)}")
        psd = frame[list(detectors)].to_numpy().T
    psd = np.asarray(psd)
    if psd.ndim != 2 or psd.shape[0] != len(detectors) or psd.dtype.kind not in "fi":
        raise ValueError(f"{path}: a PSD is a real ({len(detectors)}, F) array, got "
                         f"{psd.dtype} {psd.shape}")
    if not np.isfinite(psd).all() or (psd < 0).any():
        raise ValueError(f"{path}: the PSD holds negative, NaN or infinite values")
    return psd.astype(np.float64)


def run(args: argparse.Namespace) -> int:
    """Build the bank, filter every sample of the split, write the scores."""
    from pipeline.search.snippet import run_matched_filter
    from preprocess.layout import data_detectors

    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out}: exists; pass --overwrite to replace it")
    bank = BankConfig(n_templates=args.n_templates, seed=args.seed, mass_min=args.mass_range[0],
                      mass_max=args.mass_range[1], spin_max=args.spin_max)
    config = MatchedFilterConfig(bank=bank, taper=args.taper, noise_level=args.noise_level)
    psd = load_psd(args.psd, data_detectors(args.data)) if args.psd is not None else None
    run_matched_filter(args.data, args.split, args.out, config, psd=psd, workers=args.workers,
                       progress=not args.no_progress)
    return 0
