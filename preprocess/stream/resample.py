"""Resampling strain to 2048 Hz: scipy's polyphase decimation with a Kaiser-window FIR.

``scipy.signal.resample_poly`` applies a zero-phase FIR and keeps every ``factor``-th sample,
so output sample ``j`` sits at input sample ``j * factor``. Its default filter (20 taps per
output sample) droops by several dB well below the new Nyquist frequency; the filter here is
``scipy.signal.firwin`` with ``kaiserord``'s length for ``ATTENUATION_DB`` of ripple and
stop-band rejection over the band ``PASSBAND_HZ``-1024 Hz: flat to 0.001 dB up to 800 Hz and
at least 78 dB down from 1024 Hz (``kaiserord``'s formula is approximate), so nothing above
the new Nyquist frequency aliases in (93 taps at 4096 Hz, 369 at 16384 Hz).
A FIR needs ``margin`` input samples either side of an output stretch; readers drop the first
and last ``trim_seconds`` of each contiguous run of resampled data, where those are missing.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.signal import firwin, kaiserord, resample_poly

from preprocess.stream.config import SAMPLE_RATE

PASSBAND_HZ = 800.0  # flat (to the ripple) up to here
ATTENUATION_DB = 80.0  # ripple and rejection: 1e-4 in amplitude


def factor_of(rate: float) -> int:
    """The integer decimation factor from ``rate`` Hz to 2048 Hz; ``ValueError`` otherwise."""
    factor = rate / SAMPLE_RATE
    if factor < 1 or abs(factor - round(factor)) > 1e-9:
        raise ValueError(f"sample rate {rate:g} Hz is not a whole multiple of {SAMPLE_RATE} Hz")
    return int(round(factor))


@functools.lru_cache(maxsize=8)
def antialias_taps(factor: int) -> np.ndarray:
    """Odd-length low-pass FIR ``(n,)`` for decimating by ``factor`` to 2048 Hz."""
    rate = SAMPLE_RATE * factor
    nyquist_out = SAMPLE_RATE / 2
    numtaps, beta = kaiserord(ATTENUATION_DB, (nyquist_out - PASSBAND_HZ) / (rate / 2))
    numtaps += 1 - numtaps % 2  # odd: a whole-sample delay, removed by resample_poly
    taps = firwin(numtaps, (nyquist_out + PASSBAND_HZ) / 2, window=("kaiser", beta), fs=rate)
    taps.setflags(write=False)
    return taps


def margin(factor: int) -> int:
    """Input samples an output sample depends on either side, rounded up to ``factor``."""
    if factor == 1:
        return 0
    half = len(antialias_taps(factor)) // 2
    return -(-half // factor) * factor


def trim_seconds(factor: int) -> int:
    """Whole seconds at each end of a resampled run whose outputs lack their full input."""
    return 0 if factor == 1 else math.ceil(margin(factor) / (SAMPLE_RATE * factor))


def decimate(x: np.ndarray, factor: int) -> np.ndarray:
    """``x`` ``(n,)`` at ``2048 * factor`` Hz as ``(ceil(n / factor),)`` at 2048 Hz."""
    x = np.asarray(x, dtype=np.float64)
    if factor == 1:
        return x
    return resample_poly(x, 1, factor, window=np.array(antialias_taps(factor)))
