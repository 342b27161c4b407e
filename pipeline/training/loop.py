"""Train a classifier on one fold of a spectrogram cache: the epoch loops and ``fit``.

``fit(config)`` trains with AdamW, a per-step linear warm-up + cosine schedule (timm), BCE on
logits, gradient clipping, optional autocast / channels_last / torch.compile, and DDP when
launched by torchrun. Each epoch it validates (loss, ROC AUC), writes metrics.csv, TensorBoard,
last.pt and (when the AUC improves) best.pt; it stops early after ``patience`` epochs without
improvement and finally writes the out-of-fold predictions of best.pt as oof.csv.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from timm.scheduler import CosineLRScheduler
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from models import create_model
from pipeline.classifier import checkpoint as ckpt
from pipeline.classifier.precision import Precision
from pipeline.training.augment import BatchAugment, check_ligo_pair
from pipeline.training.config import TrainConfig, check_resume_compatible
from pipeline.training.data import FoldLoaders, build_loaders
from pipeline.training.distributed import (
    DistContext,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    broadcast_buffers,
    init_distributed,
    shutdown,
)
from pipeline.training.metrics_log import MetricsLog
from pipeline.training.optimisation import build_optimisation
from preprocess.cache import CacheManifest, read_manifest
from runtime.outputs import claim_dir
from runtime.provenance import atomic_path, library_versions, write_json_atomic

logger = logging.getLogger(__name__)


@dataclass
class EpochStats:
    """What one training epoch measured (summed over all processes)."""

    loss: float  # mean training loss
    images: int  # images trained on
    seconds: float  # wall time of the epoch's loop, data loading included
    global_step: int  # optimiser steps taken since the start of training


@dataclass
class Validation:
    """Predictions and scores on the whole validation fold (gathered from all processes)."""

    ids: list[str]  # in cache order
    targets: np.ndarray  # (N,) 0/1
    logits: np.ndarray  # (N,) float
    loss: float  # mean BCE
    auc: float  # ROC AUC

    @property
    def probabilities(self) -> np.ndarray:
        """(N,) predicted probability of a signal."""
        return expit(self.logits.astype(np.float64))  # float32 would round large logits to 1


@dataclass
class TrainResult:
    """Where a run's outputs are and how it went."""

    run_dir: Path
    best_auc: float
    best_epoch: int  # 1-based epoch of best.pt
    epochs: int  # epochs completed (over all invocations of a resumed run)
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)  # the rows of metrics.csv

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.csv"

    @property
    def oof_path(self) -> Path:
        return self.run_dir / "oof.csv"


def _bar(iterable: Any, total: int, desc: str, show: bool) -> Any:
    return tqdm(iterable, total=total, desc=desc, leave=False, disable=not show, dynamic_ncols=True)


def train_one_epoch(
    net: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: CosineLRScheduler,
    scaler: torch.amp.GradScaler,
    *,
    precision: Precision,
    augment: BatchAugment,
    grad_clip: float,
    global_step: int,
    context: DistContext,
    progress: bool = False,
) -> EpochStats:
    """One pass over ``loader``: augment, forward, BCE, backward, clip, step, schedule per step."""
    net.train()
    criterion = nn.BCEWithLogitsLoss()
    loss_sum = torch.zeros((), device=precision.device, dtype=torch.float64)
    n_images, start = 0, time.perf_counter()
    show = progress and context.is_main
    bar = _bar(loader, len(loader), "train", show)
    for step, (images, targets, _ids) in enumerate(bar):
        x = augment(precision.to_device(images))  # (B, 3, F, T)
        y = targets.to(precision.device, non_blocking=True)  # (B,)
        with precision.autocast():
            logits = net(x).view(-1).float()  # (B,)
        loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        global_step += 1
        scheduler.step_update(num_updates=global_step)
        loss_sum += loss.detach() * len(y)
        n_images += len(y)
        if show and step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    if precision.device.type == "cuda":
        torch.cuda.synchronize(precision.device)
    seconds = time.perf_counter() - start
    total_loss, total_images = all_reduce_sum([loss_sum.item(), float(n_images)], context)
    return EpochStats(
        loss=total_loss / max(total_images, 1),
        images=int(total_images),
        seconds=seconds,
        global_step=global_step,
    )


@torch.inference_mode()
def validate(
    model: nn.Module,
    loader: DataLoader,
    *,
    precision: Precision,
    context: DistContext,
    progress: bool = False,
) -> Validation:
    """Predict this process's share of the validation fold, gather all shares, score them.

    Logits are float32 whatever the autocast (the model's head computes in float32,
    ``pipeline.classifier.precision.float32_head``) and stay on the device until the fold is done.
    """
    model.eval()
    ids: list[str] = []
    targets, logits = [], []
    for images, batch_targets, batch_ids in _bar(loader, len(loader), "val",
                                                 progress and context.is_main):
        with precision.autocast():
            logits.append(model(precision.to_device(images)).view(-1).float())  # (B,)
        targets.append(batch_targets.numpy())
        ids.extend(batch_ids)
    fold_logits = torch.cat(logits).cpu().numpy() if logits else np.zeros(0, np.float32)
    share = (ids, np.concatenate(targets or [np.zeros(0)]), fold_logits)
    shares = all_gather_objects(share, context)  # rank order = cache order (contiguous blocks)
    all_ids = [i for s in shares for i in s[0]]
    all_targets = np.concatenate([s[1] for s in shares]).astype(np.float32)
    all_logits = np.concatenate([s[2] for s in shares]).astype(np.float32)
    if not np.isfinite(all_logits).all():
        raise ValueError("validation produced non-finite predictions: training diverged "
                         "(try a lower --lr or --no-amp)")
    loss = nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(all_logits), torch.from_numpy(all_targets)
    ).item()
    auc = float(roc_auc_score(all_targets, all_logits))
    return Validation(all_ids, all_targets, all_logits, loss, auc)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    import random

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (global state, as libraries use it)
    torch.manual_seed(seed)


def _run_dir(config: TrainConfig, context: DistContext) -> Path:
    """The run directory; refuse to overwrite a run, or to resume one that does not exist.

    Rank 0 claims (and locks) the folder while the other ranks wait at a barrier, then join
    it: no rank ever looks at a folder another rank is still claiming.
    """
    if context.is_main:
        claim_dir(config.out, "run", rank=0)
    barrier(context)
    run_dir = claim_dir(config.out, "run", rank=context.rank) if not context.is_main \
        else Path(config.out)
    last = run_dir / "last.pt"
    if config.resume and not last.is_file():
        raise FileNotFoundError(f"{last}: nothing to resume (no last.pt in {run_dir})")
    if not config.resume and last.exists():
        raise FileExistsError(
            f"{run_dir}: already holds a run (last.pt); pass --resume to continue it or choose "
            "another --out"
        )
    return run_dir


def _write_config(run_dir: Path, config: TrainConfig, manifest: CacheManifest,
                  world_size: int) -> None:
    write_json_atomic(run_dir / "config.json", {
        "config": config.to_dict(),
        "model_name": config.model,
        "model_kwargs": config.model_kwargs,
        "world_size": world_size,
        "cache": {"path": str(manifest.root), "config_hash": manifest.config_hash,
                  "config": manifest.config, "image_shape": list(manifest.image_shape)},
        "versions": library_versions(),
    })


def _write_oof(path: Path, validation: Validation) -> None:
    """Out-of-fold predictions id,target,prediction,logit (validation fold, cache order)."""
    frame = pd.DataFrame({"id": validation.ids, "target": validation.targets.astype(int),
                          "prediction": validation.probabilities, "logit": validation.logits})
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.17g")


@dataclass
class _Progress:
    """The state of a run that outlives an epoch (saved in every checkpoint)."""

    epoch: int = 0
    global_step: int = 0
    best_auc: float = float("-inf")
    best_epoch: int = 0
    epochs_since_best: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def fit(config: TrainConfig) -> TrainResult:
    """Train ``config.model`` on fold ``config.fold`` of ``config.cache``; see the module doc.

    Raises ``ValueError`` (``CacheError``, ``UnknownModelError``) for bad settings or inputs,
    ``FileExistsError`` when ``config.out`` holds a run and ``config.resume`` is off.
    """
    config.validate()
    context = init_distributed(config.device, benchmark=True)  # training's shapes are fixed
    try:
        return _Run.start(config.resolve(context.device, context.world_size), context).fit()
    finally:
        shutdown(context)


@dataclass
class _Run:
    """Everything one training run holds; built by ``start``, driven by ``fit``."""

    config: TrainConfig  # resolved
    context: DistContext
    manifest: CacheManifest
    model: nn.Module  # the bare model: validation, checkpoints
    loaders: FoldLoaders
    precision: Precision
    optimizer: torch.optim.Optimizer
    scheduler: CosineLRScheduler
    scaler: torch.amp.GradScaler
    state: _Progress

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out)

    @classmethod
    def start(cls, config: TrainConfig, context: DistContext) -> _Run:
        """Check the inputs, build model, data and optimiser, and restore last.pt on resume."""
        manifest = read_manifest(config.cache)
        if config.augment.swap_ligo:
            check_ligo_pair(manifest.detectors, "--swap-ligo (on by default)")
        run_dir = _run_dir(config, context)
        seed_everything(config.seed)
        model = create_model(config.model, in_chans=manifest.image_shape[0], num_classes=1,
                             pretrained=config.pretrained, **config.model_kwargs)
        device = context.device
        amp_dtype = getattr(torch, config.amp_dtype) if config.amp else None
        precision = Precision(device, amp_dtype, bool(config.channels_last))
        loaders = build_loaders(
            config.cache, folds=config.folds, fold=config.fold, seed=config.seed,
            batch_size=config.batch_size, workers=int(config.workers),
            in_memory=config.in_memory, pin_memory=device.type == "cuda", rank=context.rank,
            world_size=context.world_size,
        )
        if config.pool:  # training images made anew every step from the pool's samples
            from pipeline.training.mixing import mixing_loaders

            loaders = mixing_loaders(loaders, config, manifest, device, context.rank,
                                     context.world_size)
        precision.prepare_model(model)  # on the device, memory format, float32 logits
        optimizer, scheduler, scaler = build_optimisation(model, config, len(loaders.train),
                                                     precision)
        run = cls(config, context, manifest, model, loaders, precision, optimizer, scheduler,
                  scaler, _Progress())
        if config.resume:
            run.restore(run_dir / "last.pt")
        if context.is_main:
            _write_config(run_dir, config, manifest, context.world_size)
        return run

    def restore(self, path: Path) -> None:
        """Load last.pt into the training objects after checking it belongs to this run."""
        saved = ckpt.load_checkpoint(path)
        check_resume_compatible(saved, self.config.to_dict(), self.context.world_size, path)
        ckpt.check_cache_compatible(saved, self.manifest, same_psd=True)
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        ckpt.restore_rng_states(saved["rng"])
        self.state = _Progress(saved["epoch"], saved["global_step"], saved["best_auc"],
                               saved["best_epoch"], saved["epochs_since_best"],
                               list(saved["history"]))
        logger.info("resuming %s after epoch %d", path, saved["epoch"])

    def fit(self) -> TrainResult:
        """Train the remaining epochs, then write oof.csv from best.pt."""
        net: nn.Module = self.model
        if self.context.distributed:
            cuda = self.context.device.type == "cuda"
            net = DistributedDataParallel(net, device_ids=[self.context.device] if cuda else None)
        if self.config.compile:
            net = torch.compile(net)
        log = MetricsLog(self.run_dir, enabled=self.context.is_main,
                         purge_step=self.state.epoch + 1 if self.config.resume else None)
        try:
            stopped = self.epochs(net, log)
        finally:
            log.close()
        barrier(self.context)  # best.pt is complete before any rank reads it
        self.model.load_state_dict(ckpt.load_checkpoint(self.run_dir / "best.pt")["model"])
        best = validate(self.model, self.loaders.val, precision=self.precision,
                        context=self.context)
        if self.context.is_main:
            _write_oof(self.run_dir / "oof.csv", best)
        s = self.state
        return TrainResult(self.run_dir, s.best_auc, s.best_epoch, s.epoch, stopped, s.history)

    def epochs(self, net: nn.Module, log: MetricsLog) -> bool:
        """Run epochs state.epoch+1 .. config.epochs; returns whether early stopping ended them."""
        config, context, state = self.config, self.context, self.state
        augment = BatchAugment(config.augment)
        remaining = range(state.epoch, config.epochs)
        for epoch in _bar(remaining, len(remaining), "epochs", config.progress and context.is_main):
            if config.patience and state.epochs_since_best >= config.patience:
                logger.info("early stop: no better val AUC for %d epochs", config.patience)
                return True
            start = time.perf_counter()
            self.loaders.train_sampler.set_epoch(epoch)
            if getattr(self.loaders.train, "generator", None) is not None:  # a DataLoader's
                self.loaders.train.generator.manual_seed(config.seed + epoch)
            augment.reseed(config.seed * 1_000_003 + epoch * 1_009 + context.rank)
            stats = train_one_epoch(
                net, self.loaders.train, self.optimizer, self.scheduler, self.scaler,
                precision=self.precision, augment=augment, grad_clip=config.grad_clip,
                global_step=state.global_step, context=context, progress=config.progress,
            )
            broadcast_buffers(self.model, context)  # every rank validates rank 0's model
            val = validate(self.model, self.loaders.val, precision=self.precision,
                           context=context, progress=config.progress)
            improved = self.record(epoch + 1, stats, val, time.perf_counter() - start)
            if context.is_main:
                checkpoint = self.checkpoint()
                if improved:
                    ckpt.save_checkpoint(self.run_dir / "best.pt", checkpoint)
                ckpt.save_checkpoint(self.run_dir / "last.pt", checkpoint)
                log.write(state.history)
        return False

    def record(self, epoch: int, stats: EpochStats, val: Validation, seconds: float) -> bool:
        """Append the epoch's metrics to the history; returns whether the val AUC improved."""
        state = self.state
        state.epoch, state.global_step = epoch, stats.global_step
        images_per_s = stats.images / max(stats.seconds, 1e-9)
        state.history.append({
            "epoch": epoch, "train_loss": stats.loss, "val_loss": val.loss, "val_auc": val.auc,
            "lr": self.optimizer.param_groups[0]["lr"], "images_per_s": images_per_s,
            "epoch_seconds": seconds,
        })
        improved = val.auc > state.best_auc
        if improved:
            state.best_auc, state.best_epoch, state.epochs_since_best = val.auc, epoch, 0
        else:
            state.epochs_since_best += 1
        logger.info("epoch %d/%d: train loss %.4f, val loss %.4f, val AUC %.4f%s, %.0f images/s",
                    epoch, self.config.epochs, stats.loss, val.loss, val.auc,
                    " (best)" if improved else "", images_per_s)
        return improved

    def checkpoint(self) -> dict[str, Any]:
        """The full training state after the current epoch (``pipeline.classifier.checkpoint``)."""
        s = self.state
        return {
            "model_name": self.config.model,
            "model_kwargs": dict(self.config.model_kwargs),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": s.epoch,
            "global_step": s.global_step,
            "best_auc": s.best_auc,
            "best_epoch": s.best_epoch,
            "epochs_since_best": s.epochs_since_best,
            "history": [dict(row) for row in s.history],
            "rng": ckpt.rng_states(),
            "config": self.config.to_dict(),
            "world_size": self.context.world_size,
            "cache_config_hash": self.manifest.config_hash,
            "cache_config": self.manifest.config,
            "cache_psd": (None if self.manifest.psd is None
                          else torch.from_numpy(np.asarray(self.manifest.psd, np.float64))),
            "image_shape": list(self.manifest.image_shape),
            "versions": library_versions(),
        }
