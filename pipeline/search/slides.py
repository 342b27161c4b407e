"""Time slides: a background made by shifting the detectors against each other.

Slide ``k`` shifts detector ``i`` (in the search's detector order) by ``k * step * i`` seconds,
cyclically within each segment's analysed span ``[a, b)`` (a time ``t`` moves to
``a + (t - a + shift) mod (b - a)``, as PyCBC and MLGWSC-1 slide), and leaves the first
detector where it is. Slide 0 is the zero lag, the foreground. A pair of detectors ``i < j``
is then ``k * step * (j - i)`` apart at slide k. Within a span of ``T`` s, slides
``1 .. max_slides(T)`` keep every pair's lag at least ``step`` from zero, cyclically, and no
two slides give a pair the same lag: ``k * step * (D - 1) <= T - step``. So no detector's data
meets its own zero-lag partner (the step is longer than the longest template or window plus
the light-travel time: ``check_step``), and every slide is new data. A segment too short for
the slides asked for uses what it can hold; the background duration reached is the sum over
pieces of its slides times its analysed time, and is reported (``job.rank_job``).

Both searches use these functions (the network search on its window times), so their slides
pair the same data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pipeline.search.config import SlideConfig


def shifts(slide: int, step: float, n_detectors: int) -> np.ndarray:
    """Shift ``(D,)`` in s of each detector at ``slide``: ``slide * step * i``."""
    return slide * step * np.arange(n_detectors, dtype=np.float64)


def max_slides(span: float, step: float, n_detectors: int) -> int:
    """Slides a span of ``span`` s holds with every pair's lags distinct and >= ``step`` from
    zero (cyclically): ``floor((span - step) / ((D - 1) step))``, at least 0."""
    if n_detectors < 2:
        return 0
    return max(0, math.floor((span - step) / ((n_detectors - 1) * step) + 1e-9))


def slide_times(times: np.ndarray, shift: float, span: tuple[float, float]) -> np.ndarray:
    """``times`` ``(T,)`` shifted by ``shift`` s cyclically within ``span`` ``[a, b)``."""
    a, b = span
    return a + np.mod(times - a + shift, b - a)


def check_step(step: float, minimum: float, what: str) -> None:
    """``ValueError`` unless the slide step exceeds ``minimum`` (``what`` says why)."""
    if step <= minimum:
        raise ValueError(f"slide step {step:g} s must be longer than {minimum:g} s ({what}), "
                         "so that no slide pairs a detector's data with its own zero lag")


def slide_count(config: SlideConfig, spans: Sequence[float]) -> int:
    """Slides to run: ``config.count``, or enough for ``background_duration`` over the
    analysed time ``sum(spans)`` (segments too short for all of them use fewer)."""
    if config.background_duration > 0:
        total = sum(spans)
        return math.ceil(config.background_duration / total) if total > 0 else 0
    return config.count


def slides_in(span: float, count: int, step: float, n_detectors: int) -> int:
    """How many of slides ``1 .. count`` a span of ``span`` s runs."""
    return min(count, max_slides(span, step, n_detectors))
