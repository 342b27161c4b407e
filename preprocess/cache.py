"""The on-disk spectrogram cache format: shard and manifest writers, their readers, and checks.

One module owns the format so that one round-trip test keeps writer and reader honest. The torch
``Dataset`` over a cache is ``preprocess.dataset``; it reads images only through ``read_images``.

Layout of a cache directory ``CACHE/``::

    shard-00000.h5 ... shard-NNNNN.h5   one HDF5 file per block of ``shard_size`` split rows
    psd.npy                             float64 (3, F_psd) noise PSD used to whiten (if any)
    manifest.json                       written last: its presence means the cache is complete

Shard schema (every shard, written under a temporary name and renamed when complete):

    images   float16 (n, 3, F, T)  chunks (min(64, n), 3, F, T), uncompressed, Fletcher-32
    ids      bytes   (n,)          fixed-length ASCII/UTF-8 sample ids (``S<len>``)
    targets  int64   (n,)          1 signal, 0 noise, -1 unknown (test split)
    rows     int64   (n,)          row of each sample in the split's CSV (gaps = rejected rows)
    psd      float64 (3, F_psd)    the whitening PSD (absent when the cache is not whitened)
    attrs: format_version (int), shard_index (int), row_start, row_stop (int: the CSV rows
           [row_start, row_stop) this shard covers), n_samples (int), config (canonical JSON),
           config_hash (str), rejected (JSON object id -> reason), versions (JSON object)

``n`` can be smaller than ``row_stop - row_start`` when bad samples were skipped. Every dataset
carries HDF5's Fletcher-32 checksum filter (format version 2): HDF5 checks each chunk as it is
read, so damaged bytes raise ``CacheError`` naming the shard and rows instead of reaching a
model; ``verify_cache`` reads every chunk (``preprocess inspect --verify``).
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from preprocess.recipe import ImageRecipe
from runtime.provenance import (
    atomic_path,
    canonical_json,
    config_hash,
    library_versions,
    write_json_atomic,
)

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 2  # 2: Fletcher-32 checksums on every dataset
READABLE_VERSIONS = (1, 2)  # 1: the same images without checksums (read, but not verifiable)
MANIFEST_NAME = "manifest.json"
PSD_NAME = "psd.npy"
CHUNK_ROWS = 64  # samples per HDF5 chunk: one aligned training batch is one contiguous read


def cache_config(recipe: ImageRecipe, psd: np.ndarray | None) -> dict[str, Any]:
    """The configuration of a cache of ``recipe``'s images whitened by ``psd``: what its
    manifest, shards and hash record, and what checkpoints carry."""
    return {"format_version": CACHE_FORMAT_VERSION, **recipe.to_config(psd)}


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
    config_hash: str  # runtime.provenance.config_hash(config)
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
        """Bytes of one stored (float16) image ``(D, F, T)``."""
        return int(np.prod(self.image_shape)) * np.dtype(np.float16).itemsize

    @property
    def recipe(self) -> ImageRecipe:
        """How the images were made (``preprocess.recipe``)."""
        return ImageRecipe.from_config(self.config)

    @property
    def detectors(self) -> tuple[str, ...]:
        """The detectors of the image channels, in order (G2Net's three unless recorded)."""
        return self.recipe.detectors


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
    # HDF5 builds the file in memory; one plain write puts it on disk, so a full disk is an
    # ordinary OSError (a DiskFullError from atomic_path), never a failure inside HDF5.
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        chunks = (max(min(chunk_rows, n), 1), *stored.shape[1:])
        # An empty shard (every sample rejected) needs resizable rows: HDF5 refuses a chunk
        # larger than a fixed dataset of 0 rows.
        rows_kw = {} if n else {"maxshape": (None,)}
        images_kw = {} if n else {"maxshape": (None, *stored.shape[1:])}
        f.create_dataset("images", data=stored, chunks=chunks, fletcher32=True, **images_kw)
        row_chunks = True if n else (1,)
        f.create_dataset("ids", data=encoded, chunks=row_chunks, fletcher32=True, **rows_kw)
        f.create_dataset("targets", data=np.asarray(targets, dtype=np.int64), chunks=row_chunks,
                         fletcher32=True, **rows_kw)
        f.create_dataset("rows", data=rows.astype(np.int64), chunks=row_chunks,
                         fletcher32=True, **rows_kw)
        if psd is not None:
            f.create_dataset("psd", data=np.asarray(psd, dtype=np.float64), chunks=True,
                             fletcher32=True)
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
    data = image.getbuffer()
    with atomic_path(path, len(data)) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def read_shard_attrs(path: str | Path) -> dict[str, Any]:
    """A complete shard's attributes, with ``config`` and ``rejected`` parsed from JSON."""
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            image_shape = tuple(int(d) for d in f["images"].shape[1:])
    except (OSError, KeyError) as error:
        raise CacheError(f"{path}: unreadable shard ({error})") from error
    except Exception as error:  # HDF5 raises several types for a damaged file header
        raise CacheError(f"{path}: unreadable shard ({type(error).__name__}: {error})") from error
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
        save_psd(root / PSD_NAME, psd)
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
        if version not in READABLE_VERSIONS:
            raise CacheError(
                f"{path}: cache format version {version}, this code reads {READABLE_VERSIONS} "
                "(rebuild it with preprocess build-cqt into a new --out)"
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
        manifest.psd = load_psd(root / psd_file)
    return manifest


def save_psd(path: Path, psd: np.ndarray) -> None:
    """Write a whitening PSD ``(3, F)`` atomically; a non-finite or negative PSD is refused."""
    psd = np.asarray(psd, dtype=np.float64)
    if not np.isfinite(psd).all() or (psd < 0).any():
        raise ValueError(f"{path}: refusing to store a PSD with non-finite or negative values")
    with atomic_path(path, psd.nbytes + 4096) as tmp, open(tmp, "wb") as handle:
        np.save(handle, psd)


def load_psd(path: Path) -> np.ndarray:
    """A stored whitening PSD, checked to be finite; ``CacheError`` naming the file otherwise."""
    try:
        psd = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise CacheError(f"{path}: missing or unreadable PSD ({error})") from error
    if not np.isfinite(psd).all():
        raise CacheError(f"{path}: the stored PSD holds NaN or infinite values; delete this "
                         "cache and build it again")
    return psd


def read_shard_index(path: Path, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids (bytes) and targets (int64) of one shard; ``CacheError`` naming it if unreadable."""
    try:
        with h5py.File(path, "r") as f:
            ids, targets = f["ids"][:n_samples], f["targets"][:n_samples]
    except Exception as error:  # OSError, KeyError; checksum failures are OSError
        raise CacheError(f"{path}: unreadable shard ({error})") from error
    if len(ids) != n_samples:
        raise CacheError(f"{path}: holds {len(ids)} samples, manifest says {n_samples}")
    return ids, targets


def read_images(dataset: h5py.Dataset, start: int, stop: int, out: np.ndarray | None = None,
                dest: slice | None = None) -> np.ndarray:
    """Rows ``[start, stop)`` of a shard's ``images`` (into ``out[dest]`` when given).

    A checksum mismatch (damaged bytes) becomes ``CacheError`` naming the shard and the rows.
    """
    try:
        if out is None:
            return dataset[start:stop]
        dataset.read_direct(out, np.s_[start:stop], dest)
        return out
    except OSError as error:
        raise CacheError(
            f"{dataset.file.filename}: rows {start}-{stop - 1} are damaged ({error}); "
            "re-run build-cqt into this cache to rebuild the shard (inspect --verify checks all)"
        ) from error


def verify_shard(path: Path, chunk_rows: int = CHUNK_ROWS) -> list[str]:
    """Read every chunk of one shard; the problems found (empty when the shard is intact)."""
    problems = []
    try:
        with h5py.File(path, "r") as f:
            for name in ("ids", "targets", "rows", "psd"):
                if name in f:
                    try:
                        f[name][...]
                    except OSError as error:
                        problems.append(f"{path}: dataset {name!r} is damaged ({error})")
            images = f["images"]
            step = images.chunks[0] if images.chunks else chunk_rows
            for start in range(0, len(images), step):
                try:
                    read_images(images, start, min(start + step, len(images)))
                except CacheError as error:
                    problems.append(str(error).split("; re-run")[0])
    except Exception as error:  # a damaged header: the file does not open
        problems.append(f"{path}: unreadable shard ({type(error).__name__}: {error})")
    return problems


def verify_cache(root: str | Path) -> list[str]:
    """Check a complete cache: manifest, PSD and every chunk of every shard; the problems found.

    A format-1 cache has no checksums: that is the one problem reported for it.
    """
    manifest = read_manifest(root)
    if manifest.format_version < 2:
        return [f"{manifest.root}: format version {manifest.format_version} stores no checksums; "
                "rebuild it with this version of build-cqt to make it verifiable"]
    problems = []
    for shard in manifest.shards:
        problems += verify_shard(manifest.root / shard.file)
    return problems
