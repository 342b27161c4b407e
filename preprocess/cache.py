"""The on-disk spectrogram cache: shard writer, manifest, and the torch ``Dataset`` that reads it.

One module owns the format so that one round-trip test keeps writer and reader honest.

Layout of a cache directory ``CACHE/``::

    shard-00000.h5 ... shard-NNNNN.h5   one HDF5 file per block of ``shard_size`` split rows
    psd.npy                             float64 (3, F_psd) noise PSD used to whiten (if any)
    manifest.json                       written last: its presence means the cache is complete

Shard schema (every shard, written under a temporary name and renamed when complete):

    images   float16 (n, 3, F, T)  chunks (min(64, n), 3, F, T), uncompressed
    ids      bytes   (n,)          fixed-length ASCII/UTF-8 sample ids (``S<len>``)
    targets  int64   (n,)          1 signal, 0 noise, -1 unknown (test split)
    rows     int64   (n,)          row of each sample in the split's CSV (gaps = rejected rows)
    psd      float64 (3, F_psd)    the whitening PSD (absent when the cache is not whitened)
    attrs: format_version (int), shard_index (int), row_start, row_stop (int: the CSV rows
           [row_start, row_stop) this shard covers), n_samples (int), config (canonical JSON),
           config_hash (str), rejected (JSON object id -> reason), versions (JSON object)

``n`` can be smaller than ``row_stop - row_start`` when bad samples were skipped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, default_collate, get_worker_info

from preprocess.provenance import (
    atomic_path,
    canonical_json,
    config_hash,
    library_versions,
    write_json_atomic,
)

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
PSD_NAME = "psd.npy"
CHUNK_ROWS = 64  # samples per HDF5 chunk: one aligned training batch is one contiguous read
MAX_GAP = 8  # lazy reads: positions this close share one slice (reading the gap is cheaper)


class CacheError(ValueError):
    """A cache directory is missing, incomplete, corrupt or of another format version."""


def shard_name(index: int) -> str:
    """File name of shard ``index``: ``shard-00000.h5``."""
    return f"shard-{index:05d}.h5"


@dataclass(frozen=True)
class ShardRecord:
    """What the manifest says about one shard."""

    file: str  # file name inside the cache directory
    n_samples: int  # images stored
    row_start: int  # first split row covered
    row_stop: int  # one past the last split row covered


@dataclass
class CacheManifest:
    """The parsed ``manifest.json`` of a complete cache (see ``read_manifest``)."""

    root: Path
    config: dict[str, Any]  # resolved configuration that produced the images
    config_hash: str  # preprocess.provenance.config_hash(config)
    n_samples: int
    image_shape: tuple[int, int, int]  # (3, F, T)
    shards: list[ShardRecord]
    psd: np.ndarray | None  # (3, F_psd) float64, one-sided, 1/Hz
    versions: dict[str, str]
    rejected: dict[str, str] = field(default_factory=dict)  # sample id -> reason
    info: dict[str, Any] = field(default_factory=dict)  # split, data dir, PSD source, ...
    created: str = ""
    format_version: int = CACHE_FORMAT_VERSION

    @property
    def image_nbytes(self) -> int:
        """Bytes of one stored (float16) image ``(3, F, T)``."""
        return int(np.prod(self.image_shape)) * np.dtype(np.float16).itemsize


# ---------------------------------------------------------------------------------------------
# Writing


def write_shard(
    path: str | Path,
    images: np.ndarray,
    ids: Sequence[str],
    targets: np.ndarray,
    *,
    config: Mapping[str, Any],
    shard_index: int,
    row_start: int,
    row_stop: int,
    rows: np.ndarray | None = None,
    psd: np.ndarray | None = None,
    rejected: Mapping[str, str] | None = None,
    versions: Mapping[str, str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> None:
    """Write one shard atomically; ``images`` is ``(n, 3, F, T)`` and stored as float16."""
    images = np.asarray(images)
    n = len(images)
    if images.ndim != 4 or len(ids) != n or len(targets) != n:
        raise ValueError(
            f"{path}: images {images.shape}, {len(ids)} ids and {len(targets)} targets "
            "do not describe the same (n, 3, F, T) batch"
        )
    with np.errstate(over="ignore"):
        stored = images.astype(np.float16, copy=False)
    exponent = stored.view(np.uint16) & 0x7C00  # all ones: inf or NaN (an integer test: fast)
    if np.any(exponent == 0x7C00):
        raise ValueError(f"{path}: images overflow float16 (max |x| {np.abs(images).max():.3g})")
    rows = np.arange(row_start, row_start + n) if rows is None else np.asarray(rows)
    encoded = np.array([str(i).encode() for i in ids] or [b""], dtype=np.bytes_)[:n]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            chunks = (min(chunk_rows, n), *stored.shape[1:]) if n else None
            f.create_dataset("images", data=stored, chunks=chunks)
            f.create_dataset("ids", data=encoded)
            f.create_dataset("targets", data=np.asarray(targets, dtype=np.int64))
            f.create_dataset("rows", data=rows.astype(np.int64))
            if psd is not None:
                f.create_dataset("psd", data=np.asarray(psd, dtype=np.float64))
            f.attrs.update(
                format_version=CACHE_FORMAT_VERSION,
                shard_index=shard_index,
                row_start=row_start,
                row_stop=row_stop,
                n_samples=n,
                config=canonical_json(config),
                config_hash=config_hash(config),
                rejected=json.dumps(dict(rejected or {}), sort_keys=True),
                versions=json.dumps(dict(versions or library_versions()), sort_keys=True),
            )


def read_shard_attrs(path: str | Path) -> dict[str, Any]:
    """A complete shard's attributes, with ``config`` and ``rejected`` parsed from JSON."""
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            image_shape = tuple(int(d) for d in f["images"].shape[1:])
    except (OSError, KeyError) as error:
        raise CacheError(f"{path}: unreadable shard ({error})") from error
    attrs["config"] = json.loads(attrs["config"])
    attrs["rejected"] = json.loads(attrs["rejected"])
    attrs["versions"] = json.loads(attrs["versions"])
    attrs["image_shape"] = image_shape
    return attrs


def write_manifest(
    root: str | Path,
    *,
    config: Mapping[str, Any],
    shards: Sequence[ShardRecord],
    image_shape: Sequence[int],
    psd: np.ndarray | None = None,
    rejected: Mapping[str, str] | None = None,
    info: Mapping[str, Any] | None = None,
    versions: Mapping[str, str] | None = None,
) -> Path:
    """Write ``psd.npy`` then ``manifest.json`` (last, atomically): the cache becomes complete."""
    root = Path(root)
    if psd is not None:
        with atomic_path(root / PSD_NAME) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, np.asarray(psd, dtype=np.float64))
    manifest = {
        "format_version": CACHE_FORMAT_VERSION,
        "config": dict(config),
        "config_hash": config_hash(config),
        "n_samples": int(sum(s.n_samples for s in shards)),
        "image_shape": [int(d) for d in image_shape],
        "dtype": "float16",
        "shards": [vars(s) for s in shards],
        "psd_file": PSD_NAME if psd is not None else None,
        "rejected": dict(sorted((rejected or {}).items())),
        "info": dict(info or {}),
        "versions": dict(versions or library_versions()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(root / MANIFEST_NAME, manifest)
    return root / MANIFEST_NAME


def write_cache(
    root: str | Path,
    images: np.ndarray,
    ids: Sequence[str],
    targets: np.ndarray,
    config: dict,
    psd: np.ndarray | None = None,
    shard_size: int = 4096,
    *,
    info: Mapping[str, Any] | None = None,
    rejected: Mapping[str, str] | None = None,
) -> None:
    """Write a whole cache from in-memory arrays: ``images`` ``(N, 3, F, T)``, ``targets`` ``(N,)``.

    Refuses (``FileExistsError``) to overwrite a complete cache.
    """
    root = Path(root)
    if (root / MANIFEST_NAME).exists():
        raise FileExistsError(f"{root}: already holds a complete cache ({MANIFEST_NAME})")
    if shard_size <= 0:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    images, targets = np.asarray(images), np.asarray(targets)
    versions = library_versions()
    records = []
    for k, start in enumerate(range(0, max(len(images), 1), shard_size)):
        stop = min(start + shard_size, len(images))
        name = shard_name(k)
        write_shard(
            root / name, images[start:stop], list(ids[start:stop]), targets[start:stop],
            config=config, shard_index=k, row_start=start, row_stop=stop, psd=psd,
            versions=versions,
        )
        records.append(ShardRecord(name, stop - start, start, stop))
    write_manifest(
        root, config=config, shards=records, image_shape=images.shape[1:], psd=psd,
        rejected=rejected, info=info, versions=versions,
    )


# ---------------------------------------------------------------------------------------------
# Reading


def read_manifest(root: str | Path) -> CacheManifest:
    """Parse a complete cache's manifest; ``CacheError`` naming the path if missing or corrupt."""
    root = Path(root)
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise CacheError(f"{root}: no such cache directory")
    if not path.is_file():
        raise CacheError(
            f"{path}: missing; the cache is incomplete (re-run preprocess build-cqt to finish it)"
        )
    try:
        raw = json.loads(path.read_text())
        version = int(raw["format_version"])
        if version != CACHE_FORMAT_VERSION:
            raise CacheError(
                f"{path}: cache format version {version}, this code reads {CACHE_FORMAT_VERSION}"
            )
        shards = [ShardRecord(**s) for s in raw["shards"]]
        manifest = CacheManifest(
            root=root,
            config=raw["config"],
            config_hash=raw["config_hash"],
            n_samples=int(raw["n_samples"]),
            image_shape=tuple(int(d) for d in raw["image_shape"]),
            shards=shards,
            psd=None,
            versions=raw["versions"],
            rejected=raw.get("rejected", {}),
            info=raw.get("info", {}),
            created=raw.get("created", ""),
            format_version=version,
        )
        psd_file = raw.get("psd_file")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        if isinstance(error, CacheError):
            raise
        raise CacheError(f"{path}: corrupt manifest ({type(error).__name__}: {error})") from error
    if manifest.n_samples != sum(s.n_samples for s in shards) or len(manifest.image_shape) != 3:
        raise CacheError(f"{path}: corrupt manifest (sample counts or image shape inconsistent)")
    for shard in shards:
        if not (root / shard.file).is_file():
            raise CacheError(f"{root / shard.file}: missing shard listed in {path}")
    if psd_file:
        try:
            manifest.psd = np.load(root / psd_file, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise CacheError(f"{root / psd_file}: missing or unreadable PSD ({error})") from error
    return manifest


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
            path = self.root / shard.file
            try:
                with h5py.File(path, "r") as f:
                    ids.append(f["ids"][: shard.n_samples])
                    targets.append(f["targets"][: shard.n_samples])
            except (OSError, KeyError) as error:
                raise CacheError(f"{path}: unreadable shard ({error})") from error
            if len(ids[-1]) != shard.n_samples:
                raise CacheError(f"{path}: holds {len(ids[-1])} samples, manifest says "
                                 f"{shard.n_samples}")
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
                block = torch.from_numpy(f["images"][...])
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
                dataset.read_direct(target, np.s_[first : last + 1], dest_sel)
            else:
                block = dataset[first : last + 1]
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


class ContiguousBatchSampler(Sampler[list[int]]):
    """Batches of consecutive dataset positions, so each batch is one or two slice reads.

    Without ``shuffle`` the batches are ``[0, B), [B, 2B), ...`` (aligned with the 64-sample
    chunks when ``B`` is a multiple of 64). With ``shuffle`` each epoch draws a random offset
    ``o`` in ``[0, B)``, cuts the (cyclic) position range at ``o, o + B, ...`` and shuffles the
    order of those runs (the order inside a batch does not matter to the loss). Trade-off: a
    batch holds neighbours in cache order rather than a uniform random draw; the per-epoch
    offset changes which neighbours share a batch, and the cache order (the CSV order) is not
    sorted by target, so batches stay mixed. Use ``in_memory=True`` with an ordinary random
    sampler for fully random batches.

    With ``num_replicas`` processes, process ``rank`` takes every ``num_replicas``-th run of
    the epoch's (common, seeded) run order: the shares are disjoint. Without ``drop_last`` every
    sample comes once per epoch over all ranks (counts may differ by a batch); with it every
    rank gets the same number of full batches (as DDP needs), and the incomplete run and the
    runs left over after an equal deal (fewer than ``num_replicas``) are skipped that epoch.
    """

    def __init__(
        self,
        n: int | Sized,  # a Dataset or its length
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        self.n = n if isinstance(n, int) else len(n)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.num_replicas, self.rank = seed, num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle to draw (as with ``DistributedSampler``)."""
        self.epoch = epoch

    def _runs(self) -> int:
        """Runs of the epoch over all ranks."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __len__(self) -> int:
        if self.drop_last:
            return self._runs() // self.num_replicas
        return len(range(self.rank, self._runs(), self.num_replicas))

    def __iter__(self) -> Iterator[list[int]]:
        n, size = self.n, self.batch_size
        starts = np.arange(self._runs()) * size
        offset = 0
        if self.shuffle:
            rng = np.random.default_rng((self.seed, self.epoch))
            self.epoch += 1
            offset = int(rng.integers(size)) if n > size else 0
            starts = rng.permutation(starts)
        if self.drop_last:
            starts = starts[: len(self) * self.num_replicas]
        for start in starts[self.rank :: self.num_replicas]:
            yield ((np.arange(start, min(start + size, n)) + offset) % n).tolist()
