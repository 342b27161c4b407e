"""Where the detectors are: light-travel times between their sites (lal's geometry).

H1-L1 10.0 ms, H1-V1 27.3 ms, L1-V1 26.4 ms. Coincidence windows and the shortest slide step
are built on them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

SPEED_OF_LIGHT = 299_792_458.0  # m/s


@functools.lru_cache(maxsize=32)
def light_travel_time(a: str, b: str) -> float:
    """Seconds light takes between the sites of detectors ``a`` and ``b`` (lal prefixes)."""
    import lalsimulation

    locations = [lalsimulation.DetectorPrefixToLALDetector(d).location for d in (a, b)]
    return float(np.linalg.norm(locations[0] - locations[1]) / SPEED_OF_LIGHT)


def longest_light_travel(detectors: Sequence[str]) -> float:
    """The largest light-travel time between any two of ``detectors`` (0 for one)."""
    return max((light_travel_time(a, b) for a in detectors for b in detectors if a != b),
               default=0.0)
