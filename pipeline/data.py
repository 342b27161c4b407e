"""Fold splits and DataLoaders over a spectrogram cache, for one process or many (torchrun)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import DataLoader, DistributedSampler

from preprocess.cache import SpectrogramCache, read_manifest

logger = logging.getLogger(__name__)


def fold_indices(
    ids: np.ndarray, targets: np.ndarray, folds: int, fold: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cache positions ``(train, val)`` of fold ``fold`` in a stratified ``folds``-way split.

    The split is made on the samples sorted by id, so it depends only on the (id, target) pairs
    and ``seed``, not on the cache order. Both outputs are sorted (cache order).
    """
    ids, targets = np.asarray(ids), np.asarray(targets)
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} is outside 0..{folds - 1} for {folds} folds")
    classes, counts = np.unique(targets, return_counts=True)
    if len(classes) != 2 or counts.min() < folds:
        summary = ", ".join(f"{int(c)}: {n}" for c, n in zip(classes, counts, strict=True))
        raise ValueError(
            f"a stratified {folds}-fold split needs both classes with at least {folds} samples "
            f"each; the targets hold {summary or 'nothing'}"
        )
    order = np.argsort(ids, kind="stable")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    train, val = list(splitter.split(np.zeros(len(order)), targets[order]))[fold]
    return np.sort(order[train]), np.sort(order[val])


@dataclass
class FoldLoaders:
    """The two loaders of one fold, and what the training loop needs to know about them."""

    train: DataLoader  # yields (images (B, 3, F, T), targets (B,), ids list[str]), shuffled
    val: DataLoader  # this process's share of the validation fold, in cache order
    train_sampler: DistributedSampler  # call set_epoch(epoch) before each training epoch
    n_train: int  # training samples over all processes
    n_val: int  # validation samples over all processes
    image_shape: tuple[int, int, int]  # (3, F, T)


def check_labelled(cache: SpectrogramCache) -> None:
    """Raise ``ValueError`` when the cache holds samples without a 0/1 target (a test cache)."""
    unknown = np.nonzero((cache.targets != 0) & (cache.targets != 1))[0]
    if len(unknown):
        raise ValueError(
            f"{cache.root}: {len(unknown)} samples have no 0/1 target (e.g. id "
            f"{cache.ids[unknown[0]]!r}, target {int(cache.targets[unknown[0]])}); training "
            "needs a cache of a labelled split"
        )


def build_loaders(
    cache: str | Path,
    *,
    folds: int,
    fold: int,
    seed: int,
    batch_size: int,
    workers: int,
    in_memory: bool = False,
    pin_memory: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> FoldLoaders:
    """Training and validation loaders of fold ``fold`` of the cache at ``cache``.

    Training draws a random order per epoch from ``DistributedSampler`` (seeded by ``seed`` and
    the epoch, sharded over ``world_size`` processes) and drops the last incomplete batch (a
    batch of one breaks BatchNorm). Validation gives each process one contiguous block.
    """
    read_manifest(cache)  # a missing or incomplete cache fails here, naming the path
    index = SpectrogramCache(cache)
    check_labelled(index)
    train_idx, val_idx = fold_indices(index.ids, index.targets, folds, fold, seed)
    per_process = len(train_idx) // world_size
    if per_process < batch_size:
        raise ValueError(
            f"fold {fold} of {cache} has {len(train_idx)} training samples, {per_process} per "
            f"process: fewer than one batch of {batch_size}; lower --batch-size"
        )
    train_set = SpectrogramCache(cache, indices=train_idx, in_memory=in_memory)
    val_share = np.array_split(val_idx, world_size)[rank]
    val_set = SpectrogramCache(cache, indices=val_share, in_memory=in_memory)
    sampler = DistributedSampler(
        train_set, num_replicas=world_size, rank=rank, shuffle=True, seed=seed
    )
    common = dict(
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )
    train = DataLoader(
        train_set,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
        **common,
    )
    val = DataLoader(val_set, batch_size=2 * batch_size, shuffle=False, **common)
    logger.info(
        "fold %d/%d of %s: %d training, %d validation samples", fold, folds, cache,
        len(train_idx), len(val_idx),
    )
    return FoldLoaders(
        train=train,
        val=val,
        train_sampler=sampler,
        n_train=len(train_idx),
        n_val=len(val_idx),
        image_shape=tuple(index.manifest.image_shape),
    )
