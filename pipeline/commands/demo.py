"""``pipeline demo``: the whole job on a small built-in default, ending with a summary table;
``pipeline demo --real``: GW150914 found in the shipped real LIGO strain."""

from __future__ import annotations

import argparse

from pipeline.demo.config import ChainConfig, RealConfig
from runtime.checks import finite_float


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo`` and its options."""
    defaults = ChainConfig()
    parser = subparsers.add_parser(
        "demo",
        help="simulate, build CQT caches, train, predict, run the matched filter and evaluate",
        description=(
            "Run the whole chain on a small default (about 15 minutes on a 2-core CPU). "
            "Re-running resumes: completed steps are skipped."
        ),
    )
    parser.add_argument("--out", default=None,
                        help=f"output directory (default {defaults.out}, with --real "
                             f"{RealConfig().out})")
    real = parser.add_argument_group("real strain (--real)")
    real.add_argument("--real", action="store_true",
                      help="search the shipped GWOSC files around GW150914 instead: the "
                           "matched-filter search, and with --checkpoint the network too")
    real.add_argument("--checkpoint", default="",
                      help="an H1-L1 model (RUN/best.pt) for the network search and the 2-s "
                           "sample's score")
    real.add_argument("--strain", nargs="+", default=(),
                      help="other strain files to search instead of the shipped ones")
    parser.add_argument("--n-train", type=int, default=defaults.n_train, help="training samples")
    parser.add_argument("--n-test", type=int, default=defaults.n_test, help="test samples")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--model", default=defaults.model, help="any models.list_models() name")
    parser.add_argument("--stem", default=defaults.model_kwargs["stem"],
                        help="ResNet stem (imagenet, small, small_t2); ignored for timm models")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=finite_float, default=defaults.lr)
    parser.add_argument("--no-tta", action="store_true", help="no LIGO channel-swap averaging")
    parser.add_argument("--device", default=defaults.device, help="auto, cpu or cuda")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chain (or the real-strain search) and print its summary."""
    if args.real:
        from pipeline.demo.real import run_real, summary_lines

        config = RealConfig(out=args.out or RealConfig().out, strain=tuple(args.strain),
                            checkpoint=args.checkpoint, progress=not args.no_progress)
        print(summary_lines(run_real(config)))
        return 0
    if args.checkpoint or args.strain:
        raise ValueError("--checkpoint and --strain go with --real")
    from pipeline.demo.chain import run_chain, summarise_table

    model_kwargs = {"stem": args.stem} if args.model.startswith("resnet") else {}
    config = ChainConfig(
        out=args.out or ChainConfig().out, n_train=args.n_train, n_test=args.n_test,
        seed=args.seed, model=args.model, model_kwargs=model_kwargs, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, tta=not args.no_tta, device=args.device,
        workers=args.workers, progress=not args.no_progress,
    )
    summary = run_chain(config)
    print(summarise_table(summary))
    return 0
