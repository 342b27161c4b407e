"""A family of models trained alike on one cache, member after member, then compared.

Every member trains with the same ``TrainConfig`` (epochs, batch size, seed, folds, ...) through
``pipeline.training.loop.fit``; only the model changes. Layout of ``out``::

    family.json                   the family's configuration and library versions
    <member>/fold<K>/             one training run per fold (best.pt, last.pt, oof.csv, ...)
    <member>/oof.csv              the member's out-of-fold predictions over its folds
    <member>/test.csv             its test predictions (mean over its folds' best.pt), if asked
    <member>/member.json          its measured costs and scores: the member is finished
    ensemble_weights.json, ensembles/, family.csv, family.md, auc_vs_*.png, report/
                                  the comparison (``pipeline.family_report``)

The job resumes member by member: a fold whose run holds oof.csv is not retrained, one holding
only last.pt resumes from it, and measurements and test predictions are made once. A member
that raises is logged and reported; the others still run. Under torchrun every member trains
with DDP and rank 0 alone measures, predicts and writes.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.distributed as dist
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader

from models import list_models, resnet_name
from pipeline.classifier.checkpoint import load_model_from_checkpoint
from pipeline.classifier.config import PredictConfig
from pipeline.classifier.precision import Precision
from pipeline.classifier.predict import predict, write_predictions
from pipeline.family.config import FamilyConfig
from pipeline.family.costs import PeakMemory, count_parameters, inference_rate, multiply_adds
from pipeline.family.report import write_comparison
from pipeline.training.config import TrainConfig, recipe_differences
from pipeline.training.data import fold_indices
from pipeline.training.loop import fit
from preprocess.cache import read_manifest
from preprocess.dataset import SpectrogramCache, collate_batch
from runtime import devices
from runtime.outputs import claim_dir
from runtime.provenance import atomic_path, library_versions, write_json_atomic

log = logging.getLogger(__name__)

# How long the other ranks wait for rank 0 between members: rank 0 alone measures a finished
# member and predicts the test cache (minutes on a GPU for 100k images, longer for the deep
# members on a CPU), while the others already wait to form the next member's process group.
# torch's default (10 minutes) would end the family there.
RANK_WAIT = timedelta(hours=6)


def member_names(depths: Sequence[int] = (), models: Sequence[str] = ()) -> list[str]:
    """ResNets of ``depths`` (ascending) then ``models``, without repeats."""
    names = [resnet_name(d) for d in sorted(set(depths))] + list(models)
    return list(dict.fromkeys(names))


def resnet_depth(name: str) -> int | None:
    """Depth of one of our ResNets (``resnet50`` -> 50), None for any other model."""
    match = re.fullmatch(r"resnet(\d+)", name)
    return int(match[1]) if match and name in list_models(include_timm=False) else None


def member_dir(config: FamilyConfig, name: str) -> Path:
    return Path(config.out) / name


def fold_config(config: FamilyConfig, name: str, fold: int) -> TrainConfig:
    """The member's run on ``fold``: resumed when its directory holds last.pt."""
    run_dir = member_dir(config, name) / f"fold{fold}"
    kwargs = dict(config.resnet_kwargs) if resnet_depth(name) else {}
    return replace(config.train, model=name, model_kwargs=kwargs, fold=fold, out=str(run_dir),
                   resume=(run_dir / "last.pt").is_file())


def _is_main() -> bool:
    return os.environ.get("RANK", "0") == "0"


class _ProcessGroups:
    """Under torchrun, a fresh process group for each run on one store kept for the family.

    ``fit`` joins a group when none exists and destroys it when done. Destroying resets torch's
    group numbering, so a second group rendezvousing on torchrun's store would read the first
    one's stale addresses; each run's group therefore gets its own prefix of the store.
    """

    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.store = (next(dist.rendezvous("env://", timeout=RANK_WAIT))[0]
                      if self.world_size > 1 else None)
        self.runs = 0

    def join(self, device: torch.device) -> None:
        """Create the next run's process group (no-op in a single process)."""
        if self.store is None or dist.is_initialized():
            return
        self.runs += 1
        devices.prepare(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                store=dist.PrefixStore(f"family-run-{self.runs}", self.store),
                                rank=int(os.environ["RANK"]), world_size=self.world_size,
                                timeout=RANK_WAIT)


def train_member(config: FamilyConfig, name: str, device: torch.device,
                 groups: _ProcessGroups) -> list[Path]:
    """Train (or resume) every unfinished fold of ``name``; returns the folds' run directories."""
    run_dirs = []
    for fold in config.folds:
        train = fold_config(config, name, fold)
        run_dir = Path(train.out)
        run_dirs.append(run_dir)
        if (run_dir / "oof.csv").is_file():
            log.info("%s fold %d: finished earlier, not retrained", name, fold)
            continue
        log.info("%s fold %d: %s", name, fold, "resuming" if train.resume else "training")
        groups.join(device)
        with PeakMemory(device) as peak:
            fit(train)
        if _is_main():
            write_json_atomic(run_dir / "peak_memory.json", {"mib": peak.mib, "kind": peak.kind})
    return run_dirs


def _validation_batches(config: FamilyConfig, run_dir: Path) -> list[torch.Tensor]:
    """The first ``inference_batches`` batches ``(B, C, F, T)`` of a run's validation fold."""
    train = TrainConfig.from_dict(_saved_config(run_dir))
    index = SpectrogramCache(train.cache)
    _, val = fold_indices(index.ids, index.targets, train.folds, train.fold, train.seed)
    chosen = val[: config.inference_batches * train.batch_size]
    data = SpectrogramCache(train.cache, indices=chosen, in_memory=True, dtype=torch.float16)
    loader = DataLoader(data, batch_size=train.batch_size, collate_fn=collate_batch)
    return [images for images, _, _ in loader]  # float16, as predict reads them


def _saved_config(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "config.json").read_text())["config"]


def measure_member(config: FamilyConfig, name: str, run_dirs: Sequence[Path],
                   device: torch.device) -> dict[str, Any]:
    """The member's row of the comparison from its finished runs; writes oof.csv, member.json."""
    history = pd.concat([pd.read_csv(d / "metrics.csv").assign(fold=i)
                         for i, d in enumerate(run_dirs)])
    oof = pd.concat([pd.read_csv(d / "oof.csv", dtype={"id": str}) for d in run_dirs])
    with atomic_path(member_dir(config, name) / "oof.csv") as tmp:
        oof.to_csv(tmp, index=False)
    model, checkpoint = load_model_from_checkpoint(run_dirs[0] / "best.pt")
    memory = [_read_json(d / "peak_memory.json") for d in run_dirs]
    known = [m["mib"] for m in memory if m and m.get("mib") is not None]
    row = {
        "name": name,
        "kind": "member",
        "depth": resnet_depth(name),
        "params": count_parameters(model),
        "macs": multiply_adds(model, checkpoint["image_shape"]),
        "train_images_per_s": float(history["images_per_s"].mean()),
        "infer_images_per_s": inference_rate(model, _validation_batches(config, run_dirs[0]),
                                             Precision.for_inference(device)),
        "peak_mem_mib": max(known) if known else None,
        "peak_mem_kind": next((m["kind"] for m in memory if m), None),
        "epochs": float(history.groupby("fold")["epoch"].max().mean()),
        "best_val_auc": float(history.groupby("fold")["val_auc"].max().mean()),
        "oof_auc": float(roc_auc_score(oof["target"], oof["prediction"])),
        "folds": list(config.folds),
    }
    write_json_atomic(member_dir(config, name) / "member.json", row)
    log.info("%s: best val AUC %.4f, out-of-fold AUC %.4f", name, row["best_val_auc"],
             row["oof_auc"])
    return row


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def predict_member_test(config: FamilyConfig, name: str, checkpoints: Sequence[str],
                        device: torch.device) -> Path:
    """The member's test predictions (mean over its folds' best.pt) as ``<member>/test.csv``."""
    predict_config = PredictConfig(tta=config.tta, batch_size=config.train.batch_size,
                                   device=str(device))
    frame = predict(config.test_cache, "test", checkpoints, predict_config, progress=False)
    return write_predictions(frame, member_dir(config, name) / "test.csv", predict_config,
                             checkpoints, config.test_cache)


def run_member(config: FamilyConfig, name: str, device: torch.device,
               groups: _ProcessGroups) -> dict[str, Any] | None:
    """Train, measure and predict what of ``name`` is not done yet; its row (rank 0 only)."""
    run_dirs = train_member(config, name, device, groups)
    if not _is_main():
        return None
    row = _read_json(member_dir(config, name) / "member.json")
    if row is None or row["folds"] != list(config.folds):
        row = measure_member(config, name, run_dirs, device)
    row["checkpoints"] = [str(d / "best.pt") for d in run_dirs]
    test = member_dir(config, name) / "test.csv"
    saved = _read_json(test.with_suffix(".json"))
    if config.test_cache and (saved is None or saved["checkpoints"] != row["checkpoints"]):
        predict_member_test(config, name, row["checkpoints"], device)
    return row


@dataclass
class FamilyRun:
    """The finished members' rows, the failures (member -> one-line reason) and the comparison
    (``pipeline.family_report.COLUMNS``; None on ranks other than 0)."""

    rows: list[dict[str, Any]]
    failures: dict[str, str]
    table: pd.DataFrame | None = None


def cache_identity(cache: str) -> dict[str, Any]:
    """What makes a training cache the same one wherever it lies: its image configuration's
    hash and its samples (a moved cache is the same; a rebuilt or other one is not)."""
    manifest = read_manifest(cache)
    return {"config_hash": manifest.config_hash, "n_samples": manifest.n_samples}


def check_rerun(config: FamilyConfig, identity: dict[str, Any]) -> None:
    """Refuse to continue a family of another recipe, listing every difference.

    The members and folds may change (a family grows or shrinks: finished members and folds
    are reused, new ones trained); runtime settings (device, workers, progress, compile,
    patience, paths) may too. Anything that changes what a finished member would be (epochs,
    lr, the number of folds, the training cache's contents, ...) or how members are scored
    (test cache, labels, TTA) may not: the family's table would mix members trained or scored
    differently.
    """
    saved = _read_json(Path(config.out) / "family.json")
    if saved is None or "config" not in saved:
        return
    old, new = saved["config"], asdict(config)
    defaults = {f.name: f.default for f in fields(FamilyConfig) if f.default is not MISSING}
    differences = [f"train.{d}" for d in recipe_differences(old.get("train", {}), new["train"])]
    for key in sorted(set(old) | set(new)):
        before = old.get(key, defaults.get(key))  # a setting added since: its default then
        if key not in ("train", "members", "folds", "out") and before != new.get(key):
            differences.append(f"{key}: {before!r} -> {new.get(key)!r}")
    if saved.get("cache") not in (None, identity):
        differences.append(f"training cache contents: {saved['cache']} -> {identity}")
    if differences:
        raise ValueError(f"{config.out}: holds a family trained with other settings (saved -> "
                         f"now): {'; '.join(differences)}; use another --out, or the same "
                         "settings to continue it")


def run_family(config: FamilyConfig) -> FamilyRun:
    """Run every member in turn (see the module doc); a member's exception is caught and
    reported, so the others still run. ``KeyboardInterrupt`` stops the family."""
    config.validate()
    device = devices.resolve_device(config.train.device)
    if _is_main():
        claim_dir(config.out, "family")
        identity = cache_identity(config.train.cache)
        check_rerun(config, identity)
        write_json_atomic(Path(config.out) / "family.json", {
            "members": config.members, "config": asdict(config), "cache": identity,
            "versions": library_versions(),
        })
    rows, failures, groups = [], {}, _ProcessGroups()
    for name in config.members:
        try:
            row = run_member(config, name, device, groups)
        except Exception as error:  # one member's failure must not stop the family
            log.exception("%s failed", name)
            failures[name] = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
            continue
        if row is not None:
            rows.append(row)
    if not _is_main():
        return FamilyRun(rows, failures)
    table = write_comparison(config.out, rows, failures, labels=config.labels,
                             injections=config.injections, test=bool(config.test_cache),
                             seed=config.train.seed, reference=config.reference,
                             reference_name=config.reference_name)
    return FamilyRun(rows, failures, table)

