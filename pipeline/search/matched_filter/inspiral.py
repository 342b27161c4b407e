"""One segment's single-detector triggers: what PyCBC's ``pycbc_inspiral`` does for a segment.

For a segment of every detector's strain ``(D, n)`` from GPS ``gps_start``: the strain in units
of 1e-20 (float64; float32 would take a PSD of 1e-47 / Hz below its smallest normal number);
its running PSD (``psd.py``), or a fixed one; the blocks (``filter.plan_blocks``); per block
and detector the PSD of the block's kept stretch moved onto the block's frequency grid, the
triggers of every template with their chi-squared (``filter.BlockFilter``); last, per detector,
the per-template clustering again over the whole segment (runs cut by a block edge join).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from pipeline.search.matched_filter.config import FilterConfig
from pipeline.search.matched_filter.filter import BlockFilter, plan_blocks
from pipeline.search.matched_filter.singles import SegmentTriggers, SingleTriggers, recluster
from preprocess.layout import STRAIN_SCALE
from preprocess.psd.running import FixedPSD, RunningPSD, on_grid


def pad_samples(pads: tuple[float, float], sample_rate: int) -> tuple[int, int]:
    """The padding ``(before, after)`` in samples."""
    return (int(math.ceil(pads[0] * sample_rate)), int(math.ceil(pads[1] * sample_rate)))


def analysed_span(n: int, pads: tuple[int, int]) -> tuple[int, int]:
    """Samples ``[a, b)`` of a segment of ``n`` samples where triggers can be."""
    return pads[0], n - pads[1]


def filter_segment(data: np.ndarray, gps_start: float, detectors: Sequence[str],
                   block_filter: BlockFilter, config: FilterConfig, pads: tuple[int, int],
                   fixed_psd: FixedPSD | None = None,
                   progress: Callable[[float], None] | None = None) -> SegmentTriggers:
    """Every detector's clustered triggers in one segment ``(D, n)`` (strain, float64).

    ``pads``: samples lost at each end (``filter.padding``); ``fixed_psd``: a PSD in strain^2/Hz
    for every stretch instead of the running estimate; ``progress``: called with the seconds of
    each block's kept stretch once it is filtered.
    """
    fs = block_filter.sample_rate
    x = np.asarray(data, dtype=np.float64) / STRAIN_SCALE
    n = x.shape[-1]
    psd = fixed_psd if fixed_psd is not None else RunningPSD.welch(x, config.psd, fs)
    scale = STRAIN_SCALE**2 if fixed_psd is not None else 1.0
    parts: list[list[SingleTriggers]] = [[] for _ in detectors]
    for block in plan_blocks(n, block_filter.n, *pads):
        a, b = block.keep
        on_block = on_grid(psd.frequencies, psd.at(a, b), block_filter.frequencies) / scale
        stop = min(block.start + block_filter.n, n)
        keep = slice(a - block.start, b - block.start)
        time0 = gps_start + block.start / fs
        for d in range(len(detectors)):
            parts[d].append(block_filter.triggers(x[d, block.start : stop], on_block[d], keep,
                                                  time0))
        if progress is not None:
            progress((b - a) / fs)
    window = config.template_cluster_window
    triggers = {det: recluster(SingleTriggers.concat(p), window)
                for det, p in zip(detectors, parts, strict=True)}
    a, b = analysed_span(n, pads)
    return SegmentTriggers(triggers, gps_start, gps_start + n / fs,
                           (gps_start + a / fs, gps_start + b / fs))
