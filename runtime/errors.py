"""Errors every command expects, and how a command line reports them: one line, exit status 2.

Library code raises; ``runtime.cli.run_command`` (used by both CLIs) turns an expected error
into one line that names the file and the problem. Errors raised inside a DataLoader worker
arrive wrapped in the worker's traceback; only their last line, the original message, is
shown. An interrupted
command (Ctrl-C) ends with one line too, exit status 130: every long job writes atomically and
resumes, so the same command picks up where it stopped. A place that cannot be written (a
read-only file system, no permission) is one line naming the file.
"""

from __future__ import annotations

import errno
import re
import sys
from pathlib import Path

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """A write needs more space than the disk holding ``path`` has free."""

    def __init__(self, path: str | Path, needed: int, free: int):
        self.path, self.needed, self.free = Path(path), int(needed), int(free)
        super().__init__(
            errno.ENOSPC,
            f"{self.path}: not enough disk space: needs about {_megabytes(needed)}, "
            f"{_megabytes(free)} free; free some space and re-run (completed work is kept)",
        )

    def __str__(self) -> str:
        return self.strerror or ""


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def is_disk_full(error: BaseException) -> bool:
    """Whether an ``OSError`` (from Python, numpy, torch or HDF5) means the disk is full."""
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return True
    text = str(error)
    return "No space left on device" in text or "errno = 28" in text or "Disk quota" in text


# What a command line reports as one line (exit status 2) instead of a traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # bad settings or input (LayoutError, BadSampleError, CacheError, ...)
    FileExistsError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    DiskFullError,
)


def one_line(error: BaseException) -> str:
    """The message of ``error`` as one line (the original message of a DataLoader worker's)."""
    text = str(error)
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        match = re.match(r"^[\w.]+: (.*)$", last.strip())
        text = match.group(1) if match else last
    return " ".join(text.split())


def ignore_interrupt(*_: object) -> None:
    """In a worker process (a DataLoader's ``worker_init_fn``, a pool's ``initializer``):
    leave Ctrl-C to the main process, which stops the workers and reports it once, instead of
    every worker printing its own traceback. A worker whose main process is gone mid-transfer
    (multiprocessing's handle-sharing thread loses its connection) stays quiet too."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    report = sys.excepthook

    def quiet_when_orphaned(kind: type[BaseException], value: BaseException, tb: object) -> None:
        if not issubclass(kind, EOFError | ConnectionError):
            report(kind, value, tb)

    sys.excepthook = quiet_when_orphaned
