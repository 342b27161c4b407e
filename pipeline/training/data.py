"""Fold splits and DataLoaders over a spectrogram cache, for one process or many (torchrun)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, SequentialSampler

from preprocess.cache import read_manifest
from preprocess.dataset import SpectrogramCache, collate_batch
from preprocess.samplers import ContiguousBatchSampler
from runtime.errors import ignore_interrupt

logger = logging.getLogger(__name__)

MEMORY_FRACTION = 0.4  # automatic in_memory: the float16 images take at most this much free RAM


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
    """The two loaders of one fold, and what the training loop needs to know about them.

    Images come as float16 (as stored); convert them with ``.float()`` after moving them to the
    device, where the conversion is cheapest.
    """

    train: DataLoader  # yields (images (B, 3, F, T) float16, targets (B,), ids tuple[str])
    val: DataLoader  # this process's share of the validation fold, in cache order
    train_sampler: DistributedSampler | ContiguousBatchSampler  # set_epoch(epoch) every epoch
    n_train: int  # training samples over all processes
    n_val: int  # validation samples over all processes
    image_shape: tuple[int, int, int]  # (3, F, T)
    in_memory: bool  # images held in RAM (random batches) or read lazily (contiguous runs)


def available_memory() -> int:
    """Bytes of RAM available to new allocations: MemAvailable (free plus reclaimable page
    cache) where /proc/meminfo has it, else the free physical pages."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def choose_in_memory(nbytes: int, processes: int = 1, fraction: float = MEMORY_FRACTION) -> bool:
    """Whether ``processes`` copies of ``nbytes`` of images fit in ``fraction`` of free RAM."""
    available = available_memory()
    fits = nbytes * processes <= fraction * available
    logger.info(
        "%s: %d process(es) x %.2f GiB of float16 images %s %.0f%% of %.2f GiB available",
        "in memory" if fits else "lazy HDF5 reads", processes, nbytes / 2**30,
        "fit in" if fits else "exceed", 100 * fraction, available / 2**30,
    )
    return fits


def cache_nbytes(cache: str | Path) -> int:
    """Bytes of the whole cache's float16 images (an upper bound for any fold's share)."""
    manifest = read_manifest(cache)
    return manifest.n_samples * manifest.image_nbytes


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
    in_memory: bool | None = None,
    pin_memory: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> FoldLoaders:
    """Training and validation loaders of fold ``fold`` of the cache at ``cache``.

    ``in_memory`` (None: when ``choose_in_memory`` says the fold fits) loads the fold's images
    into RAM as float16: training batches are uniform random draws from ``DistributedSampler``
    (seeded by ``seed`` and the epoch, sharded over ``world_size`` processes), each one index
    gather, served without worker processes (they would only add a copy between processes).
    Lazy reads keep the data on disk: training batches are runs of consecutive positions
    (``ContiguousBatchSampler``: one slice read each), shuffled per epoch and dealt out to the
    processes, read by ``workers`` processes. Both drop incomplete batches (a batch of one
    breaks BatchNorm). Validation gives each process one contiguous block.
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
    val_share = np.array_split(val_idx, world_size)[rank]
    if in_memory is None:
        fold_bytes = (len(train_idx) + len(val_share)) * index.manifest.image_nbytes
        in_memory = choose_in_memory(fold_bytes, world_size)
    half = dict(in_memory=in_memory, dtype=torch.float16)
    train_set = SpectrogramCache(cache, indices=train_idx, **half)
    val_set = SpectrogramCache(cache, indices=val_share, **half)
    if in_memory:
        workers = 0
        sampler = DistributedSampler(
            train_set, num_replicas=world_size, rank=rank, shuffle=True, seed=seed
        )
        train_batches = BatchSampler(sampler, batch_size, drop_last=True)
    else:
        sampler = train_batches = ContiguousBatchSampler(
            train_set, batch_size, shuffle=True, drop_last=True, seed=seed,
            num_replicas=world_size, rank=rank,
        )
    common = dict(
        num_workers=workers,
        worker_init_fn=ignore_interrupt if workers > 0 else None,
        collate_fn=collate_batch,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )
    train = DataLoader(
        train_set,
        batch_sampler=train_batches,
        generator=torch.Generator().manual_seed(seed),
        **common,
    )
    val_batches = BatchSampler(SequentialSampler(val_set), 2 * batch_size, drop_last=False)
    val = DataLoader(val_set, batch_sampler=val_batches, **common)
    logger.info(
        "fold %d/%d of %s: %d training, %d validation samples, %s, %d workers", fold, folds,
        cache, len(train_idx), len(val_idx), "in memory" if in_memory else "lazy reads",
        workers,
    )
    return FoldLoaders(
        train=train,
        val=val,
        train_sampler=sampler,
        n_train=len(train_idx),
        n_val=len(val_idx),
        image_shape=tuple(index.manifest.image_shape),
        in_memory=in_memory,
    )
