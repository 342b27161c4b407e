"""Output folders and files: a command writes only into what it created.

Every command that writes a folder (a cache, a simulated data set, a training run, a report)
claims it first with ``claim_dir``: a missing or empty folder becomes ours (a small marker file
``.gwspec`` records which kind of output it holds); a folder we made earlier, for the same kind
of output, is resumed; anything else, a folder with the user's own files, a regular file, or an
output of another kind, is refused with one line naming it. Folders written before the marker
existed are recognised by the files they hold. ``claim_file`` does the same for single-file
outputs (a submission CSV), which are ours when their provenance sidecar (``.json``) says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from preprocess.provenance import write_json_atomic

MARKER = ".gwspec"
# The JSON file, and a key it holds, that identify an output of each kind written before
# markers existed (a user's own file of the same name lacks the key).
SIGNATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "cache": (("build.json", "config"), ("manifest.json", "config_hash")),
    "simulation": (("simulation.json", "config_hash"),),
    "run": (("config.json", "model_name"),),
    "report": (("report.json", "methods"),),
    "family": (("family.json", "members"),),
    "demo": (("summary.json", "steps_s"),),
}
PRODUCER = "gwspec"


class OutputError(ValueError):
    """An output path that is not ours to write."""


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


def claim_dir(path: str | Path, kind: str) -> Path:
    """Make ``path`` ours for an output of ``kind`` (see the module doc); returns it.

    Raises ``OutputError`` (a ``ValueError``) naming the folder when it is a file, holds files
    that are not a gwspec output, or holds an output of another kind.
    """
    if kind not in SIGNATURES:
        raise ValueError(f"unknown output kind {kind!r}")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder; choose a folder for the {kind}")
    if path.is_dir() and any(p.name != MARKER for p in path.iterdir()):
        found = owner_kind(path)
        if found is None:
            raise OutputError(f"{path}: holds files that are not a gwspec {kind}; choose a new "
                              "or empty folder (nothing was written there)")
        if found != kind:
            raise OutputError(f"{path}: holds a gwspec {found}, not a {kind}; choose another "
                              "folder")
    if not (path / MARKER).is_file():
        write_json_atomic(path / MARKER, {"kind": kind, "producer": PRODUCER})
    return path


def claim_file(path: str | Path, what: str = "output") -> Path:
    """Refuse to replace ``path`` unless a gwspec command wrote it (its ``.json`` sidecar says so).

    A directory, or a file the user wrote, is refused with one line naming it.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name for the {what}")
    if path.exists() and not is_ours(path):
        raise OutputError(f"{path}: exists and was not written by gwspec; choose another name "
                          f"for the {what} or remove the file")
    if path.parent.exists() and not path.parent.is_dir():
        raise OutputError(f"{path.parent}: is not a folder")
    return path


def is_ours(path: Path) -> bool:
    """Whether a file's provenance sidecar (``path`` with ``.json``) names gwspec."""
    sidecar = path.with_suffix(".json")
    data = _read_json(sidecar) if sidecar != path else None
    return data is not None and (data.get("producer") == PRODUCER or "versions" in data)
