"""Provenance and safe writes: library versions, configuration hashes and atomic files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from runtime.errors import DiskFullError, is_disk_full

_PACKAGES = ("numpy", "torch", "torchvision", "nnAudio", "timm", "h5py", "lalsuite", "scipy")


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries whose behaviour shapes every result."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def jsonable(value: Any) -> Any:
    """``value`` as JSON reads it back: every tuple a list, recursively (so a configuration
    compares equal to its saved record)."""
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def canonical_json(config: Mapping[str, Any]) -> str:
    """JSON with sorted keys and no whitespace, so equal configurations serialise equally."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a configuration (16 hex characters of SHA-256)."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


IDENTITY_BLOCKS, IDENTITY_BLOCK = 16, 2**16  # a file's identity reads 1 MiB of it at most


def file_identity(path: str | Path) -> str:
    """A fast identity of a file's content: ``"<size>:<sha256 prefix>"`` of its bytes when it
    holds at most 1 MiB, else of ``IDENTITY_BLOCKS`` blocks of 64 KiB spread evenly over it
    (first and last included). A resumed job records it for every input, so data replaced
    under the same name is told from the data the folder was made from."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        if size <= IDENTITY_BLOCKS * IDENTITY_BLOCK:
            digest.update(handle.read())
        else:
            last = size - IDENTITY_BLOCK
            for k in range(IDENTITY_BLOCKS):
                handle.seek(last * k // (IDENTITY_BLOCKS - 1))
                digest.update(handle.read(IDENTITY_BLOCK))
    return f"{size}:{digest.hexdigest()[:16]}"


MIN_FREE_BYTES = 2**20  # every write leaves at least this much free, beyond its own size
_SPACE_MARGIN = 1.05  # a file takes a little more than its payload (headers, chunk index)


def free_bytes(path: str | Path) -> int:
    """Bytes free to this user on the file system that holds ``path`` (or its nearest parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def ensure_free_space(path: str | Path, needed: int) -> None:
    """Raise ``DiskFullError`` naming ``path`` unless ``needed`` bytes (plus a margin) are free."""
    wanted = int(needed * _SPACE_MARGIN) + MIN_FREE_BYTES
    free = free_bytes(path)
    if free < wanted:
        raise DiskFullError(path, wanted, free)


@contextlib.contextmanager
def atomic_path(path: str | Path, needed: int = 0) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds.

    A crash never leaves a half-written file under the final name. ``needed`` (bytes the file
    will take) is checked against the free space first, and a write that still fills the disk
    becomes a ``DiskFullError`` naming ``path``: either way nothing written before is touched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_free_space(path, needed)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as error:
        if not isinstance(error, DiskFullError) and is_disk_full(error):
            raise DiskFullError(path, needed + MIN_FREE_BYTES, free_bytes(path)) from error
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    with atomic_path(path, len(text)) as tmp:
        tmp.write_text(text)


def settings_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "",
                         render: Any = None) -> list[str]:
    """One line per setting that differs between two nested dicts, named with dots
    (``cqt.hop_length``). ``render(name, old, new)`` words a line (default
    ``"name: old -> new"``); a key missing on one side counts as None."""
    render = render or (lambda name, a, b: f"{name}: {a!r} -> {b!r}")
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += settings_differences(a, b, f"{prefix}{key}.", render)
        elif a != b:
            out.append(render(f"{prefix}{key}", a, b))
    return out


def record_settings(path: str | Path, settings: Mapping[str, Any], extra: Mapping[str, Any],
                    what: str, error: type[Exception] = ValueError) -> bool:
    """Write the record of a job's ``settings`` (with ``extra`` and library versions) at
    ``path``, or, when one is there, refuse (``error``) a job whose settings differ, naming
    each difference: one way for every resumable job to recognise its own folder. Returns
    whether the record was there already (a resume)."""
    path = Path(path)
    if path.is_file():
        old = json.loads(path.read_text())
        differences = settings_differences({k: old.get(k) for k in settings}, dict(settings))
        if differences:
            raise error(f"{path.parent}: holds {what} with other settings (saved -> now): "
                        f"{'; '.join(differences)}; use another --out, or delete it")
        return True
    write_json_atomic(path, {**settings, **extra, "versions": library_versions()})
    return False
