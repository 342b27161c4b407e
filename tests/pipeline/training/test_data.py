"""Fold splits and fold DataLoaders on tiny caches."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from pipeline.training import data
from pipeline.training.data import build_loaders, fold_indices
from tests.pipeline.training.test_loop import make_cache


def _labels(n: int = 60, positives: int = 20) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([f"id{i:03d}" for i in range(n)])
    targets = np.zeros(n, dtype=np.int64)
    targets[np.random.default_rng(1).choice(n, positives, replace=False)] = 1
    return ids, targets


def test_folds_partition_stratify_and_repeat() -> None:
    ids, targets = _labels()
    vals = []
    for fold in range(5):
        train, val = fold_indices(ids, targets, 5, fold, seed=7)
        again = fold_indices(ids, targets, 5, fold, seed=7)
        assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
        assert not set(train) & set(val) and len(train) + len(val) == len(ids)
        assert targets[val].sum() == 4 and len(val) == 12  # 20/60 positives in every fold
        vals.append(val)
    assert np.array_equal(np.sort(np.concatenate(vals)), np.arange(len(ids)))
    other = fold_indices(ids, targets, 5, 0, seed=8)[1]
    assert not np.array_equal(other, vals[0])  # another seed, another split


def test_folds_depend_on_ids_not_cache_order() -> None:
    ids, targets = _labels()
    perm = np.random.default_rng(3).permutation(len(ids))
    val = fold_indices(ids, targets, 5, 2, seed=0)[1]
    val_perm = fold_indices(ids[perm], targets[perm], 5, 2, seed=0)[1]
    assert set(ids[val]) == set(ids[perm][val_perm])


def test_fold_errors() -> None:
    ids, targets = _labels()
    with pytest.raises(ValueError, match="fold 5 is outside 0..4"):
        fold_indices(ids, targets, 5, 5, seed=0)
    with pytest.raises(ValueError, match="both classes"):
        fold_indices(ids, np.zeros(len(ids), dtype=int), 5, 0, seed=0)
    few = np.zeros(len(ids), dtype=int)
    few[:3] = 1
    with pytest.raises(ValueError, match="at least 5 samples"):
        fold_indices(ids, few, 5, 0, seed=0)


@pytest.mark.parametrize("in_memory", [True, False])
def test_loaders_shard_fold_and_fix_order(tmp_path, in_memory: bool) -> None:
    cache = make_cache(tmp_path / "cache", n=40)
    build = dict(folds=4, fold=1, seed=3, batch_size=4, in_memory=in_memory)
    shares = [build_loaders(cache, workers=0, rank=r, world_size=2, **build) for r in range(2)]
    one = build_loaders(cache, workers=1, **build)
    assert one.in_memory is in_memory and one.train.num_workers == (0 if in_memory else 1)
    val_ids = [i for batch in one.val for i in batch[2]]
    shared_ids = [i for s in shares for batch in s.val for i in batch[2]]
    assert shared_ids == val_ids and len(val_ids) == one.n_val == 10

    images, targets, ids = next(iter(one.train))
    assert images.shape == (4, 3, 24, 33) and images.dtype == torch.float16  # as stored
    assert targets.shape == (4,) and len(ids) == 4 and not set(ids) & set(val_ids)
    assert len(one.train) == 30 // 4  # the incomplete last batch is dropped

    def order(loaders, epoch: int) -> list[str]:
        loaders.train_sampler.set_epoch(epoch)
        return [i for batch in loaders.train for i in batch[2]]

    assert order(one, 0) == order(one, 0) and order(one, 0) != order(one, 1)
    rank_ids = [set(order(s, 0)) for s in shares]
    assert not rank_ids[0] & rank_ids[1]  # each process trains on its own half
    assert len(shares[0].train) == len(shares[1].train) == 30 // 2 // 4  # DDP: equal steps


def test_in_memory_and_lazy_batches_agree(tmp_path) -> None:
    cache = make_cache(tmp_path / "cache", n=40)
    lazy, memory = (build_loaders(cache, folds=4, fold=2, seed=1, batch_size=4, workers=0,
                                  in_memory=flag) for flag in (False, True))
    items = [5, 0, 6, 7, 29, 12, 11]  # positions in the fold's training subset, any order
    a, b = (loaders.train.collate_fn(loaders.train.dataset.__getitems__(items))
            for loaders in (lazy, memory))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    assert a[0].shape == (7, 3, 24, 33) and len(set(a[2])) == 7
    for lazy_batch, memory_batch in zip(lazy.val, memory.val, strict=True):
        assert torch.equal(lazy_batch[0], memory_batch[0]) and lazy_batch[2] == memory_batch[2]


def test_automatic_in_memory_follows_free_ram(tmp_path, monkeypatch, caplog) -> None:
    cache = make_cache(tmp_path / "cache", n=40)
    fold_bytes = (30 + 10) * 3 * 24 * 33 * 2  # every training image and the validation share
    build = dict(folds=4, fold=0, seed=0, batch_size=4, workers=0)
    caplog.set_level(logging.INFO, logger="pipeline.training.data")
    monkeypatch.setattr(data, "available_memory", lambda: int(fold_bytes / 0.4) + 10)
    assert build_loaders(cache, **build).in_memory
    monkeypatch.setattr(data, "available_memory", lambda: int(fold_bytes / 0.4) - 10)
    assert not build_loaders(cache, **build).in_memory
    assert "lazy HDF5 reads" in caplog.text and "in memory" in caplog.text
    assert build_loaders(cache, in_memory=True, **build).in_memory  # an explicit choice wins
    assert data.available_memory() > 0


def test_loader_errors(tmp_path) -> None:
    cache = make_cache(tmp_path / "cache", n=40)
    with pytest.raises(ValueError, match="fewer than one batch of 64"):
        build_loaders(cache, folds=4, fold=0, seed=0, batch_size=64, workers=0)
    unlabelled = make_cache(tmp_path / "test", n=12, targets=np.full(12, -1))
    with pytest.raises(ValueError, match="no 0/1 target"):
        build_loaders(unlabelled, folds=2, fold=0, seed=0, batch_size=2, workers=0)
