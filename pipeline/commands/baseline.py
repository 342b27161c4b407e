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

from pipeline.bank.config import BankConfig, SearchBankConfig
from pipeline.baseline.config import NOISE_LEVELS, MatchedFilterConfig
from pipeline.commands.streams import (
    add_slide_options,
    add_strain_options,
    read_options,
    slide_config,
    summary_line,
)
from pipeline.search.matched_filter.config import (
    PRECISIONS,
    STATISTICS,
    FilterConfig,
    RankingConfig,
    SearchConfig,
)
from preprocess.psd.config import RUNNING
from preprocess.psd.options import add_psd_options, psd_from_args
from runtime.checks import finite_float

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
    mf.add_argument("--mass-range", type=finite_float, nargs=2, metavar=("MIN", "MAX"),
                    default=(bank.mass_min, bank.mass_max),
                    help="detector-frame component masses of the bank, Msun (default %(default)s)")
    mf.add_argument("--spin-max", type=finite_float, default=bank.spin_max,
                    help="aligned spins of the bank in [-x, x]; 0 = non-spinning")
    mf.add_argument("--taper", type=finite_float, default=config.taper,
                    help="seconds of Tukey ramp at each end of a sample (default %(default)s)")
    mf.add_argument("--noise-level", choices=NOISE_LEVELS, default=config.noise_level,
                    help="each sample's PSD scale per detector: recorded (injections.csv's "
                         "psd_scale_<det>), estimated (median whitened power of the sample), "
                         "nominal (1), or auto = recorded when recorded, else nominal "
                         "(default %(default)s)")
    add_psd_options(mf, None, keywords=(), default_help="DATA's psd.csv")
    mf.add_argument("--workers", type=int, default=1, help="processes (default %(default)s)")
    mf.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    mf.add_argument("--no-progress", action="store_true", help="no progress bar")
    mf.set_defaults(func=run)
    add_search_parser(methods)


def add_search_parser(methods: argparse._SubParsersAction) -> None:
    """Register ``matched-filter-search`` with every option of ``SearchConfig``."""
    ms = methods.add_parser("matched-filter-search", description=__doc__,
                            help="matched-filter search over streams (MLGWSC-1 trigger files)")
    bank, filt, rank, config = SearchBankConfig(), FilterConfig(), RankingConfig(), SearchConfig()
    add_strain_options(ms, config.read)
    ms.add_argument("--detectors", nargs="+", default=None,
                    help="detectors to search (default: every one the files hold)")
    g = ms.add_argument_group("template bank")
    g.add_argument("--bank", type=Path, default=None,
                   help="a bank.hdf of an earlier search to reuse (default: place one)")
    g.add_argument("--n-templates", type=int, default=bank.n_templates)
    g.add_argument("--mass-range", type=finite_float, nargs=2, metavar=("MIN", "MAX"),
                   default=(bank.mass_min, bank.mass_max),
                   help="detector-frame component masses, Msun (default %(default)s)")
    g.add_argument("--spin-max", type=finite_float, default=bank.spin_max,
                   help="aligned spins in [-x, x] (default %(default)s)")
    g.add_argument("--f-lower", type=finite_float, default=bank.f_lower,
                   help="Hz: templates and overlaps start here (default %(default)s)")
    g.add_argument("--bank-seed", type=int, default=bank.seed)
    add_psd_options(ms, filt.psd, keywords=(RUNNING,), welch=True)
    g = ms.add_argument_group("filtering")
    g.add_argument("--block", type=finite_float, default=filt.block,
                   help="s per FFT block (default %(default)s)")
    g.add_argument("--precision", choices=PRECISIONS, default=filt.precision,
                   help="of the correlation FFTs (default %(default)s)")
    g.add_argument("--snr-threshold", type=finite_float, default=filt.snr_threshold,
                   help="single-detector SNR of a trigger (default %(default)s)")
    g.add_argument("--template-cluster-window", type=finite_float,
                   default=filt.template_cluster_window,
                   help="s: per template, the loudest trigger of a run (default %(default)s)")
    g.add_argument("--chisq-bins", type=int, default=filt.chisq_bins,
                   help="p bins of Allen's chi-squared, 2p-2 dof (default %(default)s)")
    g = ms.add_argument_group("ranking")
    g.add_argument("--statistic", nargs="+", choices=STATISTICS, default=list(rank.statistics),
                   help="ranking statistic(s), one trigger set each (default %(default)s)")
    g.add_argument("--coinc-margin", type=finite_float, default=rank.coinc_margin,
                   help="s added to the light-travel time (default %(default)s)")
    g.add_argument("--cluster-window", type=finite_float, default=rank.cluster_window,
                   help="s: the loudest candidate keeps others this close out (default "
                        "%(default)s)")
    g.add_argument("--var", type=finite_float, default=rank.var,
                   help="s: MLGWSC-1's var of every trigger (default %(default)s)")
    add_slide_options(ms, config.slides, "longer than the longest template")
    ms.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    ms.add_argument("--no-progress", action="store_true", help="no progress bar")
    ms.set_defaults(func=run_search_command)


def search_config(args: argparse.Namespace) -> SearchConfig:
    """The ``SearchConfig`` of parsed ``matched-filter-search`` arguments."""
    defaults = FilterConfig()
    bank = SearchBankConfig(n_templates=args.n_templates, mass_min=args.mass_range[0],
                            mass_max=args.mass_range[1], spin_max=args.spin_max,
                            f_lower=args.f_lower, seed=args.bank_seed)
    return SearchConfig(
        filter=FilterConfig(bank=bank, psd=psd_from_args(args, defaults.psd), block=args.block,
                            precision=args.precision, snr_threshold=args.snr_threshold,
                            template_cluster_window=args.template_cluster_window,
                            chisq_bins=args.chisq_bins),
        ranking=RankingConfig(statistics=tuple(args.statistic), coinc_margin=args.coinc_margin,
                              cluster_window=args.cluster_window, var=args.var),
        slides=slide_config(args), detectors=tuple(args.detectors or ()),
        read=read_options(args))


def run_search_command(args: argparse.Namespace) -> int:
    """Run (or resume) the search and rank it; print what the folder holds."""
    from pipeline.search.matched_filter.search import run_search

    out = run_search(args.strain, args.out, search_config(args), bank=args.bank,
                     workers=args.workers, progress=not args.no_progress)
    print(summary_line(out))
    return 0


def run(args: argparse.Namespace) -> int:
    """Build the bank, filter every sample of the split, write the scores."""
    from pipeline.baseline.matched_filter import run_matched_filter
    from preprocess.layout import data_detectors
    from preprocess.psd.read import read_psd

    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out}: exists; pass --overwrite to replace it")
    bank = BankConfig(n_templates=args.n_templates, seed=args.seed, mass_min=args.mass_range[0],
                      mass_max=args.mass_range[1], spin_max=args.spin_max)
    config = MatchedFilterConfig(bank=bank, taper=args.taper, noise_level=args.noise_level)
    psd = read_psd(args.psd, data_detectors(args.data)) if args.psd is not None else None
    run_matched_filter(args.data, args.split, args.out, config, psd=psd, workers=args.workers,
                       progress=not args.no_progress)
    return 0
