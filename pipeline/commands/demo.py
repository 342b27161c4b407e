"""Placeholder until this command lands; its owner replaces this whole file."""

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register nothing yet."""
