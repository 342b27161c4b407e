"""Fold splits and fold DataLoaders on tiny caches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.data import build_loaders, fold_indices
from tests.pipeline.test_train import make_cache


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


def test_loaders_shard_fold_and_fix_order(tmp_path) -> None:
    cache = make_cache(tmp_path / "cache", n=40)
    shares = [build_loaders(cache, folds=4, fold=1, seed=3, batch_size=4, workers=0,
                            rank=r, world_size=2) for r in range(2)]
    one = build_loaders(cache, folds=4, fold=1, seed=3, batch_size=4, workers=1)
    val_ids = [i for batch in one.val for i in batch[2]]
    shared_ids = [i for s in shares for batch in s.val for i in batch[2]]
    assert shared_ids == val_ids and len(val_ids) == one.n_val == 10

    images, targets, ids = next(iter(one.train))
    assert images.shape == (4, 3, 24, 33) and images.dtype == torch.float32
    assert targets.shape == (4,) and len(ids) == 4 and not set(ids) & set(val_ids)
    assert len(one.train) == 30 // 4  # the incomplete last batch is dropped

    def order(loaders, epoch: int) -> list[str]:
        loaders.train_sampler.set_epoch(epoch)
        return [i for batch in loaders.train for i in batch[2]]

    assert order(one, 0) == order(one, 0) and order(one, 0) != order(one, 1)
    rank_ids = [set(order(s, 0)) for s in shares]
    assert not rank_ids[0] & rank_ids[1]  # each process trains on its own half


def test_loader_errors(tmp_path) -> None:
    cache = make_cache(tmp_path / "cache", n=40)
    with pytest.raises(ValueError, match="fewer than one batch of 64"):
        build_loaders(cache, folds=4, fold=0, seed=0, batch_size=64, workers=0)
    unlabelled = make_cache(tmp_path / "test", n=12, targets=np.full(12, -1))
    with pytest.raises(ValueError, match="no 0/1 target"):
        build_loaders(unlabelled, folds=2, fold=0, seed=0, batch_size=2, workers=0)
