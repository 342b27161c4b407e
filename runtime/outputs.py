"""Output folders and files: a command writes only into what it created, one writer at a time.

Every command that writes a folder (a cache, a simulated data set, a training run, a report)
claims it first with ``claim_dir``: a missing or empty folder becomes ours (a small marker file
``.gwspec`` records which kind of output it holds); a folder we made earlier, for the same kind
of output, is resumed; anything else, a folder with the user's own files, a regular file, or an
output of another kind, is refused with one line naming it. Folders written before the marker
existed are recognised by the files they hold.

A claimed folder is also locked: an exclusive OS file lock (``flock``) on ``.gwspec.lock``,
held until the process ends (or ``release``), so a second command writing the same folder at
the same time is refused with one line naming the holder (its pid, host, start time and
command line). The lock dies with its process, however it ends, so no stale lock is left.
Under ``torchrun`` (or ``--rank``/``--world-size``) only rank 0 locks; the other ranks of the
job join the folder (the same checks, no lock), as helpers of rank 0's command. The marker and
the lock are our bookkeeping: a rank that looks while another writes the marker through its
temporary name sees nothing foreign.

``claim_file`` does the same for single-file outputs (a submission CSV, a figure): a file is
ours when its provenance sidecar (the same name with ``.json``) says so, and the sidecar goes
through the same check, so neither the file nor its sidecar can replace a file of the user's.
``check_writable`` tells a read-only place in one line before any work starts.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from runtime.provenance import write_json_atomic

MARKER = ".gwspec"
LOCK = ".gwspec.lock"
# The JSON file, and a key it holds, that identify an output of each kind written before
# markers existed (a user's own file of the same name lacks the key).
SIGNATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "cache": (("build.json", "config"), ("manifest.json", "config_hash")),
    "simulation": (("simulation.json", "config_hash"),),
    "run": (("config.json", "model_name"),),
    "report": (("report.json", "methods"),),
    "family": (("family.json", "members"),),
    "demo": (("summary.json", "steps_s"),),
    "stream": (("stream.json", "config_hash"),),
    "search": (("search.json", "filter_hash"),),
    "search-report": (("search_report.json", "searches"),),
    "network-search": (("search.json", "scoring"),),
    "cut": (("cut.json", "samples"),),
}
PRODUCER = "gwspec"

_held: dict[Path, int] = {}  # resolved folder -> open descriptor of its locked .gwspec.lock


class OutputError(ValueError):
    """An output path that is not ours to write, or that another command is writing."""


def owner_kind(path: Path) -> str | None:
    """The kind of gwspec output ``path`` holds, from its marker or its files; None if neither."""
    marker = _read_json(path / MARKER)
    if marker is not None:
        return str(marker.get("kind"))
    for kind, signatures in SIGNATURES.items():
        for name, key in signatures:
            found = _read_json(path / name)
            if found is not None and key in found:
                return kind
    return None


def _read_json(path: Path) -> dict | None:
    """A JSON object from ``path``, or None when it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _bookkeeping(name: str) -> bool:
    """Our own files in every output folder: the marker, the lock and their temporary names
    (``runtime.provenance.atomic_path`` writes ``.<name>.tmp-<pid>``)."""
    return name in (MARKER, LOCK) or name.startswith(f".{MARKER}.tmp-")


def _this_job() -> str | None:
    """The id torchrun gives every process of one job (None outside torchrun)."""
    return os.environ.get("TORCHELASTIC_RUN_ID")


def claim_dir(path: str | Path, kind: str, rank: int | None = None,
              job: str | None = None) -> Path:
    """Make ``path`` ours for an output of ``kind`` and lock it (see the module doc).

    ``rank`` (default: ``$RANK``, 0 outside torchrun) > 0 joins the folder without locking it
    (see the module doc); ``job`` (default: torchrun's run id) is recorded with the lock.
    Raises ``OutputError`` (a ``ValueError``) naming the folder when it is a file, holds files
    that are not a gwspec output, holds an output of another kind, cannot be written, or is
    being written by another command.
    """
    if kind not in SIGNATURES:
        raise ValueError(f"unknown output kind {kind!r}")
    path = Path(path)
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder; choose a folder for the {kind}")
    if path.is_dir() and any(not _bookkeeping(p.name) for p in path.iterdir()):
        found = owner_kind(path)
        if found is None:
            raise OutputError(f"{path}: holds files that are not a gwspec {kind}; choose a new "
                              "or empty folder (nothing was written there)")
        if found != kind:
            raise OutputError(f"{path}: holds a gwspec {found}, not a {kind}; choose another "
                              "folder")
    check_writable(path)
    if rank == 0:
        _lock(path, kind, job if job is not None else _this_job())
    path.mkdir(parents=True, exist_ok=True)
    if not (path / MARKER).is_file():
        write_json_atomic(path / MARKER, {"kind": kind, "producer": PRODUCER})
    return path


def _holder_record(kind: str, job: str | None) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "kind": kind, "job": job,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}


def _describe(holder: dict | None) -> str:
    if not holder:
        return "another process"
    return (f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('started')}: "
            f"{holder.get('command')}")


def _lock(path: Path, kind: str, job: str | None) -> None:
    """Take the folder's exclusive lock for this process (again: a no-op) and record who
    holds it; refuse with the holder named when another process has it."""
    path.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    if key in _held:
        return
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise OutputError(f"{path}: in use by another gwspec command ("
                          f"{_describe(_read_json(path / LOCK))}); wait for it to end or "
                          "choose another output") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_holder_record(kind, job)).encode(), 0)
    _held[key] = fd


def release(path: str | Path) -> None:
    """Give up this process's lock on ``path`` (held until the process ends otherwise)."""
    fd = _held.pop(Path(path).resolve(), None)
    if fd is not None:
        os.close(fd)


def release_all() -> None:
    """Give up every lock this process holds (the end of a command)."""
    for key in list(_held):
        release(key)


def check_writable(path: str | Path) -> None:
    """Raise ``OutputError`` naming ``path`` when nothing can be written there (a read-only
    file system, no permission), before any work is done. Checks the nearest existing folder
    at or above ``path`` by creating and removing a temporary file in it."""
    place = Path(path).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        place = place.parent
    try:
        handle, name = tempfile.mkstemp(prefix=f".{MARKER}.tmp-", dir=place)
    except OSError as error:
        why = ("read-only file system" if error.errno == errno.EROFS
               else error.strerror or str(error))
        raise OutputError(f"{path}: cannot write there ({why}); choose an output on a "
                          "writable disk") from None
    os.close(handle)
    os.unlink(name)


def sidecar(path: str | Path) -> Path:
    """The provenance file of a single-file output: the same name with ``.json``."""
    return Path(path).with_suffix(".json")


def claim_file(path: str | Path, what: str = "output") -> Path:
    """Refuse to replace ``path`` or its sidecar unless a gwspec command wrote them.

    A directory, a file the user wrote, a sidecar the user wrote (``path`` with ``.json``,
    where the provenance goes) and an output whose name is its own sidecar's (``out.json``)
    are refused with one line naming the file; so is a place that cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name for the {what}")
    if sidecar(path) == path:
        raise OutputError(f"{path}: the {what} would be overwritten by its own provenance "
                          f"record ({path.name}); give the {what} another extension, "
                          "e.g. .csv")
    if path.exists() and not is_ours(path):
        raise OutputError(f"{path}: exists and was not written by gwspec; choose another name "
                          f"for the {what} or remove the file")
    record = sidecar(path)
    if record.exists() and not _is_provenance(record):
        raise OutputError(f"{record}: exists and was not written by gwspec, and the {what}'s "
                          f"provenance record would replace it; choose another name for the "
                          f"{what} or move that file")
    if path.parent.exists() and not path.parent.is_dir():
        raise OutputError(f"{path.parent}: is not a folder")
    check_writable(path.parent)
    return path


def write_sidecar(path: str | Path, record: dict) -> Path:
    """Write the provenance record of the single-file output ``path`` (``sidecar(path)``),
    marked as gwspec's, with the library versions; returns the sidecar's path."""
    from runtime.provenance import library_versions

    target = sidecar(path)
    write_json_atomic(target, {"producer": PRODUCER, **record, "versions": library_versions()})
    return target


def _is_provenance(path: Path) -> bool:
    """Whether ``path`` is a provenance record a gwspec command wrote."""
    data = _read_json(path)
    return data is not None and (data.get("producer") == PRODUCER or "versions" in data)


def is_ours(path: Path) -> bool:
    """Whether a file's provenance sidecar (``path`` with ``.json``) names gwspec."""
    record = sidecar(path)
    return record != path and _is_provenance(record)
