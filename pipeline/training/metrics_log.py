"""Per-epoch training metrics: RUN_DIR/metrics.csv (rewritten atomically) and TensorBoard."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from runtime.provenance import atomic_path

METRIC_COLUMNS = (
    "epoch",  # completed epochs, 1-based
    "train_loss",  # mean BCE over the epoch's training batches (all processes)
    "val_loss",  # mean BCE over the validation fold
    "val_auc",  # ROC AUC over the validation fold
    "lr",  # learning rate at the end of the epoch
    "images_per_s",  # training images per second over all processes (data loading included)
    "epoch_seconds",  # wall time of training + validation
)


class MetricsLog:
    """Write the metric history of one run; inert (writes nothing) unless ``enabled``.

    The CSV is rewritten whole from ``history`` each epoch, so a resumed run keeps exactly the
    rows of the checkpoint it resumed from. TensorBoard events go to ``run_dir/tb``; on resume,
    ``purge_step`` drops events logged after the checkpoint.
    """

    def __init__(self, run_dir: str | Path, *, enabled: bool = True, purge_step: int | None = None):
        self.path = Path(run_dir) / "metrics.csv"
        self.enabled = enabled
        self.writer = (
            SummaryWriter(str(Path(run_dir) / "tb"), purge_step=purge_step) if enabled else None
        )

    def write(self, history: list[dict[str, Any]]) -> None:
        """Rewrite metrics.csv from the full history and log its last row to TensorBoard."""
        if not self.enabled:
            return
        with atomic_path(self.path) as tmp:
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
                writer.writeheader()
                writer.writerows({k: row[k] for k in METRIC_COLUMNS} for row in history)
        if history and self.writer is not None:
            row = history[-1]
            for name in METRIC_COLUMNS[1:]:
                self.writer.add_scalar(name, row[name], global_step=row["epoch"])
            self.writer.flush()

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self.writer is not None:
            self.writer.close()
