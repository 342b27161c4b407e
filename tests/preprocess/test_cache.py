"""The cache format: what the writer stores, the reader returns, for every id, in order."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from preprocess.cache import CacheError, read_manifest, verify_cache, write_cache
from preprocess.dataset import SpectrogramCache, collate_batch
from preprocess.samplers import ContiguousBatchSampler
from runtime.errors import one_line
from runtime.provenance import config_hash

SHAPE = (3, 5, 7)  # tiny (3, F, T) images


def _make(tmp_path, n=50, shard_size=16, psd=True):
    rng = np.random.default_rng(3)
    images = rng.normal(size=(n, *SHAPE)).astype(np.float16)
    ids = [f"{i:04x}abc{i % 7}" for i in range(n)]
    targets = rng.integers(0, 2, size=n)
    config = {"cqt": {"fmin": 20.0}, "seed": 1}
    root = tmp_path / "cache"
    psd_array = rng.random((3, 11)) if psd else None
    write_cache(
        root,
        images,
        ids,
        targets,
        config,
        psd=psd_array,
        shard_size=shard_size,
        rejected={"dead": "holds NaN"},
    )
    return root, images, ids, targets, config, psd_array


def test_round_trip_every_id_in_order(tmp_path):
    root, images, ids, targets, config, psd = _make(tmp_path)
    manifest = read_manifest(root)
    assert manifest.n_samples == 50 and manifest.image_shape == SHAPE
    assert manifest.config == config and manifest.config_hash == config_hash(config)
    assert [s.n_samples for s in manifest.shards] == [16, 16, 16, 2]
    np.testing.assert_array_equal(manifest.psd, psd)
    assert manifest.rejected == {"dead": "holds NaN"}
    assert "torch" in manifest.versions and "nnAudio" in manifest.versions

    for in_memory in (False, True):
        cache = SpectrogramCache(root, in_memory=in_memory)
        assert list(cache.ids) == ids and cache.targets.dtype == np.int64
        np.testing.assert_array_equal(cache.targets, targets)
        for i in range(len(cache)):
            image, target, sample_id = cache[i]
            assert image.dtype == torch.float32 and image.shape == SHAPE
            np.testing.assert_array_equal(image.numpy(), images[i].astype(np.float32))
            assert target.dtype == torch.float32 and target.ndim == 0
            assert float(target) == targets[i] and sample_id == ids[i]


def test_getitems_any_order_and_subset(tmp_path):
    root, images, ids, targets, *_ = _make(tmp_path)
    subset = [40, 3, 4, 5, 17, 16, 15, 49]
    cache = SpectrogramCache(root, indices=subset)
    assert list(cache.ids) == [ids[i] for i in subset]
    items = [7, 0, 1, 2, 3, 6, 5, 4, 0]
    batch = cache.__getitems__(items)
    for (image, target, sample_id), item in zip(batch, items, strict=True):
        np.testing.assert_array_equal(image.numpy(), images[subset[item]].astype(np.float32))
        assert sample_id == ids[subset[item]] and float(target) == targets[subset[item]]
    with pytest.raises(IndexError):
        SpectrogramCache(root, indices=[50])


def test_dataloader_with_workers_and_contiguous_sampler(tmp_path):
    root, images, ids, targets, *_ = _make(tmp_path)
    cache = SpectrogramCache(root)
    cache[0]  # opens a handle in the parent: workers must not reuse it
    sampler = ContiguousBatchSampler(cache, 8, shuffle=True, seed=5)
    loader = DataLoader(cache, batch_sampler=sampler, num_workers=2)
    seen = []
    for image, target, batch_ids in loader:
        assert image.shape[1:] == SHAPE and target.shape == (len(batch_ids),)
        for j, sample_id in enumerate(batch_ids):
            i = ids.index(sample_id)
            np.testing.assert_array_equal(image[j].numpy(), images[i].astype(np.float32))
            assert float(target[j]) == targets[i]
        seen.extend(batch_ids)
    assert sorted(seen) == sorted(ids)  # every sample exactly once per epoch


def test_contiguous_sampler_runs():
    plain = list(ContiguousBatchSampler(10, 4))
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(ContiguousBatchSampler(10, 4, drop_last=True)) == plain[:2]
    sampler = ContiguousBatchSampler(130, 64, shuffle=True, seed=1)
    epochs = [list(sampler), list(sampler)]
    for batches in epochs:
        assert sorted(i for b in batches for i in b) == list(range(130))
        for batch in batches:  # each batch is at most two consecutive runs (cyclic)
            s = sorted(batch)
            assert sum(np.diff(s) != 1) <= 1
    assert epochs[0] != epochs[1]  # a new shuffle each epoch


def test_manifest_errors_name_the_path(tmp_path):
    with pytest.raises(CacheError, match="no such cache"):
        read_manifest(tmp_path / "nothing")
    root, *_ = _make(tmp_path)
    manifest_path = root / "manifest.json"
    raw = json.loads(manifest_path.read_text())

    (root / "shard-00001.h5").rename(root / "moved.h5")
    with pytest.raises(CacheError, match="shard-00001.h5: missing shard"):
        read_manifest(root)
    (root / "moved.h5").rename(root / "shard-00001.h5")

    manifest_path.write_text("{not json")
    with pytest.raises(CacheError, match="manifest.json: corrupt"):
        SpectrogramCache(root)
    manifest_path.write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(CacheError, match="format version 99"):
        read_manifest(root)
    manifest_path.unlink()
    with pytest.raises(CacheError, match="incomplete"):
        read_manifest(root)


def test_shard_schema_and_refusals(tmp_path):
    root, *_ = _make(tmp_path, psd=False)
    assert read_manifest(root).psd is None
    with h5py.File(root / "shard-00000.h5") as f:
        assert f["images"].dtype == np.float16 and f["images"].chunks == (16, *SHAPE)
        assert f["targets"].dtype == np.int64 and f.attrs["row_stop"] == 16
        assert "psd" not in f
    with pytest.raises(FileExistsError):
        write_cache(root, np.zeros((1, *SHAPE)), ["a"], np.zeros(1, int), {})
    with pytest.raises(ValueError, match="overflow float16"):
        write_cache(tmp_path / "big", np.full((1, *SHAPE), 1e6), ["a"], np.zeros(1, int), {})


def test_float16_and_collate_batch(tmp_path):
    root, images, ids, targets, *_ = _make(tmp_path)
    for in_memory in (False, True):
        half = SpectrogramCache(root, in_memory=in_memory, dtype=torch.float16)
        batch = half.__getitems__([16, 17, 18, 20])
        assert batch[0][0].dtype == torch.float16
        np.testing.assert_array_equal(batch[3][0].numpy(), images[20])
        fast, reference = collate_batch(batch), default_collate(batch)
        torch.testing.assert_close(fast[0], reference[0], rtol=0, atol=0)  # copies: exact
        torch.testing.assert_close(fast[1], reference[1])
        assert fast[2] == reference[2] == tuple(ids[i] for i in (16, 17, 18, 20))
        assert fast[0].data_ptr() == batch[0][0].data_ptr()  # no stacking copy
    separate = [SpectrogramCache(root)[i] for i in (3, 4)]  # separate reads: stacked
    torch.testing.assert_close(collate_batch(separate)[0],  # stacked copies: exact
                               default_collate(separate)[0], rtol=0, atol=0)


@pytest.mark.parametrize("n", [130, 128])
def test_contiguous_sampler_shares_runs_between_ranks(n):
    def epoch(rank: int, epoch: int, drop_last: bool) -> list[list[int]]:
        sampler = ContiguousBatchSampler(n, 16, shuffle=True, drop_last=drop_last, seed=4,
                                         num_replicas=3, rank=rank)
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        return batches

    for e in (0, 1):
        shares = [epoch(rank, e, drop_last=False) for rank in range(3)]
        assert sorted(i for s in shares for b in s for i in b) == list(range(n))  # once each
        assert shares == [epoch(rank, e, drop_last=False) for rank in range(3)]  # repeatable
        full = [epoch(rank, e, drop_last=True) for rank in range(3)]
        assert [len(s) for s in full] == [n // 16 // 3] * 3  # equal steps for DDP
        seen = [i for s in full for b in s for i in b]
        assert len(seen) == len(set(seen)) == 3 * (n // 16 // 3) * 16
        assert all(len(b) == 16 and sum(np.diff(sorted(b)) != 1) <= 1 for s in full for b in s)
    assert epoch(0, 0, drop_last=True) != epoch(0, 1, drop_last=True)
    with pytest.raises(ValueError, match="rank 3 is outside 0..2"):
        ContiguousBatchSampler(n, 16, num_replicas=3, rank=3)


def test_lazy_reads_in_workers_match_memory(tmp_path):
    root, images, ids, targets, *_ = _make(tmp_path)
    subset = np.array([0, 2, 3, 5, 14, 15, 16, 17, 30, 31, 44, 49])  # gaps and shard edges
    lazy = SpectrogramCache(root, indices=subset, dtype=torch.float16)
    memory = SpectrogramCache(root, indices=subset, in_memory=True, dtype=torch.float16)
    assert memory.nbytes == len(subset) * int(np.prod(SHAPE)) * 2
    sampler = ContiguousBatchSampler(lazy, 5, shuffle=True, seed=2)
    loader = DataLoader(lazy, batch_sampler=sampler, num_workers=1, collate_fn=collate_batch)
    seen = []
    for image, target, batch_ids in loader:
        items = [list(lazy.ids).index(i) for i in batch_ids]
        expected = collate_batch(memory.__getitems__(items))
        assert torch.equal(image, expected[0]) and torch.equal(target, expected[1])
        np.testing.assert_array_equal(image.numpy(), images[subset[items]])
        seen += batch_ids
    assert sorted(seen) == sorted(lazy.ids)


def damage_chunk(path, chunk: int = 1, nbytes: int = 64) -> None:
    """Overwrite ``nbytes`` in the middle of one stored chunk of a shard's images."""
    with h5py.File(path, "r") as f:
        info = f["images"].id.get_chunk_info(chunk)
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + info.size // 2)
        handle.write(bytes(range(nbytes)))


def test_damaged_bytes_are_named_never_served(tmp_path):
    """A few damaged bytes inside one shard's image data: every read path refuses with the
    shard and rows, and verification lists exactly that chunk."""
    root, *_ = _make(tmp_path, n=40, shard_size=40)
    with h5py.File(root / "shard-00000.h5") as f:
        assert f["images"].fletcher32 and f["ids"].fletcher32 and f["images"].chunks[0] == 40
    root2, *_ = _make(tmp_path / "small", n=40, shard_size=40)
    assert verify_cache(root) == []
    damage_chunk(root / "shard-00000.h5", chunk=0)
    with pytest.raises(CacheError, match=r"shard-00000\.h5: rows 0-39 are damaged"):
        SpectrogramCache(root, in_memory=True)
    lazy = SpectrogramCache(root)
    with pytest.raises(CacheError, match=r"shard-00000\.h5: rows \d+-\d+ are damaged"):
        lazy[3]
    loader = DataLoader(SpectrogramCache(root), batch_size=8, num_workers=1,
                        collate_fn=collate_batch)
    with pytest.raises(CacheError) as caught:
        list(loader)
    assert "rows" in one_line(caught.value) and "\n" not in one_line(caught.value)
    problems = verify_cache(root)
    assert len(problems) == 1 and "shard-00000.h5: rows 0-39 are damaged" in problems[0]
    assert verify_cache(root2) == []


def test_a_format_1_cache_is_read_and_said_unverifiable(tmp_path):
    """Caches written before checksums keep working: same reader, same config apart from the
    format version (which a checkpoint's compatibility check ignores)."""
    root, images, ids, *_ = _make(tmp_path, n=20, shard_size=20)
    raw = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({**raw, "format_version": 1}))
    cache = SpectrogramCache(root)
    np.testing.assert_array_equal(cache[3][0].numpy(), images[3].astype(np.float32))
    problems = verify_cache(root)
    assert len(problems) == 1 and "format version 1 stores no checksums" in problems[0]
