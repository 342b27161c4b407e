"""Where every random draw of a stream comes from: one numpy Generator per (seed, stream, key).

Each draw is keyed by what it belongs to, never by the order work is done in: white noise by
(detector, GPS second), glitches by (2-s GPS window), injections by (segment start, grid
point), the level drift and PSD shape by detector. So any worker can make any chunk and the
bytes do not depend on the worker count, the chunking of earlier runs, or which detectors are
simulated alongside (H1's noise is the same in an H1-L1 stream as in an H1-L1-V1 one).
"""

from __future__ import annotations

import numpy as np

NOISE, DRIFT, SHAPE, GLITCH, INJECTION = range(1, 6)  # stream words after the seed
DETECTOR_CODES = {"H1": 0, "L1": 1, "V1": 2}  # stable per detector, whatever the set


def generator(seed: int, stream: int, *key: int) -> np.random.Generator:
    """The Generator of ``key`` (non-negative integers) in ``stream`` of ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, *key]))
