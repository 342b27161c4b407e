"""Figures as results: written atomically as PNG (matplotlib's ``Figure``, no pyplot)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runtime.provenance import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` as PNG, atomically (tight bounding box)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
