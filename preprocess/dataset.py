"""The torch ``Dataset`` over a complete spectrogram cache, and its batch collation.

Images are read only through ``preprocess.cache.read_images``, so damaged bytes (a checksum
mismatch) raise ``CacheError`` naming the shard and rows, in the main process or a worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate, get_worker_info

from preprocess.cache import read_images, read_manifest, read_shard_index

MAX_GAP = 8  # lazy reads: positions this close share one slice (reading the gap is cheaper)


class CacheBatch(Sequence):
    """Samples served together as whole arrays; indexing gives ``(image, target, id)`` tuples.

    ``SpectrogramCache.__getitems__`` returns one, so a batch costs no per-sample Python work:
    ``collate_batch`` hands ``images`` and ``targets`` over as they are.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, ids: np.ndarray):
        self.images = images  # (B, 3, F, T)
        self.targets = targets  # (B,) float32
        self.ids = ids  # (B,) str

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        if not -len(self) <= j < len(self):
            raise IndexError(f"item {j} of a batch of {len(self)}")
        return self.images[j], self.targets[j], str(self.ids[j])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, str]]:
        return (self[j] for j in range(len(self)))


def _new_images(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An empty image batch; in a DataLoader worker it lives in shared memory, so handing it to
    the main process costs no copy (as ``default_collate`` does)."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(int(np.prod(shape)))
    return torch.empty(0, dtype=dtype).new(storage).view(shape)


class SpectrogramCache(Dataset):
    """Serve ``(image (3, F, T) float32, target float32 scalar, id str)`` from a complete cache.

    ``indices`` selects (and orders) a subset of cache positions; ``in_memory`` loads every
    selected image into RAM at construction, already in ``dtype``, as one tensor that batches
    are gathered from. Otherwise HDF5 files are opened lazily, once per process, so the dataset
    is safe to use with DataLoader worker processes. ``__getitems__`` returns a ``CacheBatch``
    and reads runs of nearby positions with one slice each: pair it with
    ``ContiguousBatchSampler`` for whole-chunk reads, and with ``collate_batch`` to skip the
    stacking copy. ``dtype=torch.float16`` hands the stored values over unconverted (convert
    on the GPU with ``.float()``): float16 -> float32 on the CPU costs more than the read.
    """

    def __init__(
        self,
        root: str | Path,
        indices: Sequence[int] | None = None,
        in_memory: bool = False,
        dtype: torch.dtype = torch.float32,
    ):
        self.root = Path(root)
        self.dtype = dtype  # of the images served: float32, or float16 as stored
        self.manifest = read_manifest(self.root)
        counts = np.array([s.n_samples for s in self.manifest.shards], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(counts)])  # (n_shards + 1,)
        all_ids, all_targets = self._read_index()
        n = self.manifest.n_samples
        if indices is None:
            self._positions = np.arange(n, dtype=np.int64)
        else:
            self._positions = np.asarray(indices, dtype=np.int64).reshape(-1)
            bad = (self._positions < 0) | (self._positions >= n)
            if bad.any():
                raise IndexError(
                    f"{self.root}: index {int(self._positions[bad][0])} outside 0..{n - 1}"
                )
        self.ids: np.ndarray = all_ids[self._positions]
        self.targets: np.ndarray = all_targets[self._positions]
        self._targets = torch.from_numpy(self.targets.astype(np.float32))  # (N,)
        self._images: torch.Tensor | None = self._load_all() if in_memory else None
        self._handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    def _read_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids (str) and targets (int64) of every cached sample, in cache order."""
        ids, targets = [], []
        for shard in self.manifest.shards:
            shard_ids, shard_targets = read_shard_index(self.root / shard.file, shard.n_samples)
            ids.append(shard_ids)
            targets.append(shard_targets)
        decoded = np.array([b.decode() for b in np.concatenate(ids)] if ids else [], dtype=str)
        return decoded, np.concatenate(targets).astype(np.int64) if targets else np.zeros(0, int)

    def _load_all(self) -> torch.Tensor:
        """Every selected image as one tensor ``(len(self), 3, F, T)`` in ``self.dtype``."""
        out = torch.empty((len(self._positions), *self.manifest.image_shape), dtype=self.dtype)
        for k, shard in enumerate(self.manifest.shards):
            lo, hi = self._offsets[k], self._offsets[k + 1]
            where = np.nonzero((self._positions >= lo) & (self._positions < hi))[0]
            if len(where) == 0:
                continue
            with h5py.File(self.root / shard.file, "r") as f:
                block = torch.from_numpy(read_images(f["images"], 0, shard.n_samples))
            rows = torch.from_numpy(self._positions[where] - lo)
            out[torch.from_numpy(where)] = block[rows].to(self.dtype)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes the selected images take in ``self.dtype`` (what ``in_memory`` holds)."""
        itemsize = torch.empty(0, dtype=self.dtype).element_size()
        return len(self) * int(np.prod(self.manifest.image_shape)) * itemsize

    def __len__(self) -> int:
        return len(self._positions)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = {}  # h5py handles never cross a process boundary
        return state

    def _dataset(self, shard: int) -> h5py.Dataset:
        """The ``images`` dataset of one shard, opened once per process."""
        if os.getpid() != self._pid:  # forked worker: never reuse the parent's handles
            self._handles, self._pid = {}, os.getpid()
        if shard not in self._handles:
            self._handles[shard] = h5py.File(self.root / self.manifest.shards[shard].file, "r")
        return self._handles[shard]["images"]

    def _read_positions(self, positions: np.ndarray, out: torch.Tensor) -> None:
        """Fill ``out`` ``(len(positions), 3, F, T)`` with the images at cache ``positions``.

        Sorted positions are grouped into runs (same shard, gaps of at most ``MAX_GAP``); each
        run is one slice read, straight into ``out`` when it is a plain consecutive block.
        """
        order = np.argsort(positions, kind="stable")
        sorted_pos = positions[order]
        shards = np.searchsorted(self._offsets, sorted_pos, side="right") - 1
        steps = np.diff(sorted_pos)
        breaks = np.nonzero((steps > MAX_GAP) | (np.diff(shards) != 0))[0] + 1
        target = out.numpy()
        for run in np.split(np.arange(len(sorted_pos)), breaks):
            if len(run) == 0:
                continue
            shard = int(shards[run[0]])
            first = int(sorted_pos[run[0]] - self._offsets[shard])
            last = int(sorted_pos[run[-1]] - self._offsets[shard])
            dest = order[run]
            plain = last - first + 1 == len(run) and bool(np.all(np.diff(dest) == 1))
            dataset = self._dataset(shard)
            if plain and target.dtype == np.float16:
                dest_sel = np.s_[int(dest[0]) : int(dest[0]) + len(run)]
                read_images(dataset, first, last + 1, target, dest_sel)
            else:
                block = read_images(dataset, first, last + 1)
                target[dest] = block[sorted_pos[run] - sorted_pos[run[0]]]

    def _images_for(self, items: np.ndarray) -> torch.Tensor:
        """Images ``(B, 3, F, T)`` of dataset items (not cache positions), in ``self.dtype``."""
        if self._images is not None:  # a gather: a new tensor, callers may modify it in place
            return torch.index_select(self._images, 0, torch.from_numpy(items))
        out = _new_images((len(items), *self.manifest.image_shape), self.dtype)
        self._read_positions(self._positions[items], out)
        return out

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        return self.__getitems__([item])[0]

    def __getitems__(self, items: Sequence[int]) -> CacheBatch:
        """The batch of ``items``, read with as few slices as possible (or gathered from RAM)."""
        items = np.asarray(items, dtype=np.int64).reshape(-1)
        items = np.where(items < 0, items + len(self), items)
        if len(items) and (items.min() < 0 or items.max() >= len(self)):
            raise IndexError(f"index out of range for a cache of {len(self)} samples")
        images = self._images_for(items)  # (B, 3, F, T)
        targets = self._targets[torch.from_numpy(items)]  # (B,)
        return CacheBatch(images, targets, self.ids[items])

    def close(self) -> None:
        """Close this process's open shard files."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}


def collate_batch(batch: Sequence[tuple[torch.Tensor, torch.Tensor, str]]) -> list[Any]:
    """``default_collate`` for this dataset, without per-sample work or a stacking copy when
    ``__getitems__`` produced a ``CacheBatch``.

    Returns ``[images (B, 3, F, T), targets (B,), ids tuple[str]]`` like ``default_collate``.
    """
    if isinstance(batch, CacheBatch):
        return [batch.images, batch.targets, tuple(batch.ids.tolist())]
    return default_collate(batch)
