"""Errors of stream files: each a ``ValueError`` whose one-line message names the file.

``runtime.errors.run_command`` prints them as one line with exit status 2. A
``BadSegmentError`` (NaN, implausible values) can be skipped with ``--skip-bad``; the others
(an unknown layout, a missing attribute, detectors that never overlap) cannot.
"""

from __future__ import annotations

from pathlib import Path

SKIP_HINT = "pass --skip-bad to skip such segments"


def gps_time(time: float) -> str:
    """A GPS time to the millisecond, without trailing zeros: ``1238166019.002``."""
    return f"{time:.3f}".rstrip("0").rstrip(".")


def gps_span(start: float, stop: float) -> str:
    """``GPS 1238166018-1238166082`` (fractions shown only when present)."""
    return f"GPS {gps_time(start)}-{gps_time(stop)}"


class StreamError(ValueError):
    """A strain file (or a set of them) that cannot be read as asked."""

    def __init__(self, path: str | Path, message: str):
        self.path = Path(path)
        super().__init__(f"{path}: {' '.join(message.split())}")


class BadSegmentError(StreamError):
    """A segment holding non-finite or implausible values (skippable with ``--skip-bad``)."""

    def __init__(self, path: str | Path, detector: str, span: tuple[float, float], reason: str):
        self.detector, self.span, self.reason = detector, span, reason
        super().__init__(path, f"{detector} segment {gps_span(*span)}: {reason} ({SKIP_HINT})")


class SettingsMismatchError(ValueError):
    """An existing stream folder was made with other settings than those requested."""
