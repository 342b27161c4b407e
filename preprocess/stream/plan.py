"""A stream's time plan: contiguous segments separated by gaps, each cut into chunk files.

Times are whole GPS seconds. A simulated stream starts at ``gps_start``: segment ``i`` lasts
``segment_duration`` s (the last one the remainder of ``duration``) and the next begins
``gap_duration`` s after it ends. With real noise the segments are the files' common analysable
time. Every segment is cut into chunks of ``chunk_duration`` s (the last one shorter): a chunk
is one file, one task for a worker, and the unit of resuming.
"""

from __future__ import annotations

from dataclasses import dataclass

from preprocess.stream.config import StreamConfig


@dataclass(frozen=True)
class Segment:
    """One contiguous stretch of data: ``[start, start + duration)`` GPS seconds."""

    index: int
    start: int
    duration: int

    @property
    def stop(self) -> int:
        return self.start + self.duration


@dataclass(frozen=True)
class Chunk:
    """One file's worth of one segment: ``[start, start + duration)`` GPS seconds."""

    segment: Segment
    index: int  # position inside its segment
    start: int
    duration: int

    @property
    def stop(self) -> int:
        return self.start + self.duration

    def contains(self, time: float) -> bool:
        """Whether GPS ``time`` falls in ``[start, stop)``: the chunk that records it."""
        return self.start <= time < self.stop


def simulated_segments(config: StreamConfig) -> list[Segment]:
    """The segments of a simulated stream (see the module docstring)."""
    segments, start, left = [], config.gps_start, config.duration
    while left > 0:
        duration = min(config.segment_duration, left)
        segments.append(Segment(len(segments), start, duration))
        start += duration + config.gap_duration
        left -= duration
    return segments


def segments_from_spans(spans: list[tuple[int, int]], limit: int) -> list[Segment]:
    """Segments over whole-second GPS ``spans`` ``[(start, stop), ...]``, at most ``limit`` s in
    total (0: all of them)."""
    segments, left = [], limit if limit > 0 else sum(b - a for a, b in spans)
    for start, stop in spans:
        duration = min(stop - start, left)
        if duration > 0:
            segments.append(Segment(len(segments), start, duration))
            left -= duration
    return segments


def chunks_of(segments: list[Segment], chunk_duration: int) -> list[Chunk]:
    """Every chunk of every segment, in time order."""
    return [
        Chunk(segment, i, start, min(chunk_duration, segment.stop - start))
        for segment in segments
        for i, start in enumerate(range(segment.start, segment.stop, chunk_duration))
    ]


def stream_span(segments: list[Segment]) -> tuple[int, int]:
    """GPS seconds from the first segment's start to the last one's stop."""
    return segments[0].start, segments[-1].stop
