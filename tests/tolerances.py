"""Float tolerances that follow from the numbers compared, not from guesses.

Two sources of difference between two computations of the same quantity:

- float16 storage. A cache image is float16, so each value is rounded once to the float16
  grid, whose spacing at ``|x|`` is ``2**(floor(log2|x|) - 10)`` for normal values (between
  ``2**-11`` and ``2**-10`` of the value) and ``2**-24`` below ``2**-14`` (subnormals). Two
  float32 results a hair apart can round to neighbouring float16 values: the two roundings
  (half a step each) differ by at most one step of the larger value.
- float32 arithmetic. A float32 sum of ``n`` terms, in whatever order a kernel set, a thread
  count or a batch shape gives, errs by at most ``n * 2**-24`` times the sum of the terms'
  magnitudes (Higham's bound; ``sqrt(n) * 2**-24`` is typical), so two orders differ by at
  most twice that. The error is absolute, set by the largest terms: a result near zero whose
  terms are O(1) can differ by far more than ``2**-24`` of itself. Hence the absolute
  ``floor`` of ``assert_float16_close``, which each caller derives from the typical magnitude
  of what it compares.
"""

from __future__ import annotations

import numpy as np
import torch

FLOAT32_UNIT_ROUNDOFF = 2.0**-24  # half the float32 spacing at 1: the error of one rounding
FLOAT16_MANTISSA_BITS = 10  # float16 spacing in [1, 2) is 2**-10
FLOAT16_MIN_NORMAL = 2.0**-14  # below it float16 is subnormal, with a fixed spacing 2**-24


def _float64(x: torch.Tensor | np.ndarray | float) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def float16_step(x: torch.Tensor | np.ndarray | float) -> np.ndarray:
    """Spacing of the float16 grid at each ``|x|`` (float64 array of ``x``'s shape):
    ``2**(floor(log2|x|) - 10)`` for ``|x| >= 2**-14``, ``2**-24`` below."""
    magnitude = np.abs(_float64(x))
    exponent = np.floor(np.log2(np.maximum(magnitude, FLOAT16_MIN_NORMAL)))
    return np.exp2(exponent - FLOAT16_MANTISSA_BITS)


def median_float16_step(x: torch.Tensor | np.ndarray) -> float:
    """One float16 step at the median magnitude of ``x``: an absolute floor on the scale of a
    typical value of ``x`` (between ``2**-11`` and ``2**-10`` of that median)."""
    return float(float16_step(np.median(np.abs(_float64(x)))))


def float32_sum_error(n_terms: int, magnitude: float) -> float:
    """Worst-case rounding error of a float32 sum of ``n_terms`` terms in any order:
    ``n * 2**-24 * magnitude``, ``magnitude`` being the sum of the terms' magnitudes (Higham;
    ``sqrt(n) * 2**-24`` is typical). For a mean pass the mean magnitude. Two orders differ
    by at most twice this."""
    return n_terms * FLOAT32_UNIT_ROUNDOFF * magnitude


def standard_error(samples: torch.Tensor | np.ndarray, axis: int = 0) -> np.ndarray:
    """Standard error of the mean along ``axis``, from the samples' own scatter:
    ``std(ddof=1) / sqrt(n)``. Statistical checks here allow 5 of them: honest noise fails
    such a comparison with a chance of ~1e-6 (~1e-5 when the scatter is itself estimated
    from ~40 samples), while a bias of a few standard errors still shows."""
    x = _float64(samples)
    return x.std(axis=axis, ddof=1) / np.sqrt(x.shape[axis])


def assert_within_standard_errors(
    measured: np.ndarray, expected: np.ndarray, error: np.ndarray, k: float = 5.0,
    what: str = "estimates",
) -> None:
    """Assert ``|measured - expected| <= k * error`` elementwise (``error``: standard errors of
    ``measured``, e.g. from ``standard_error``); on failure shows every deviation in units of
    its standard error."""
    measured, expected, error = (_float64(v) for v in (measured, expected, error))
    z = (measured - expected) / error
    assert np.all(np.abs(z) <= k), (
        f"{what}: more than {k:g} standard errors off; deviations in standard errors: "
        f"{np.array2string(z, precision=2)}, measured {measured}, expected {expected}")


def assert_float16_close(
    actual: torch.Tensor | np.ndarray,
    expected: torch.Tensor | np.ndarray,
    steps: float = 2.0,
    floor: float = 0.0,
    what: str = "values",
) -> None:
    """Assert ``|actual - expected| <= steps * float16_step(max(|actual|, |expected|)) + floor``
    elementwise (and equal shapes).

    ``steps``: float16 steps allowed at each value's magnitude; 1 covers the two roundings to
    float16 (half a step each), a second one relative float32 differences up to ``2**-11`` of
    the value. ``floor``: absolute allowance for float32 errors set by the typical magnitude
    of the array rather than by each value (see the module docstring); state its origin at
    each call. On failure lists the worst elements: index, both values and the bound.
    """
    a, e = _float64(actual), _float64(expected)
    assert a.shape == e.shape, f"{what}: shapes differ, {a.shape} != {e.shape}"
    bound = steps * float16_step(np.maximum(np.abs(a), np.abs(e))) + floor
    difference = np.abs(a - e)
    bad = ~(difference <= bound)  # NaN on either side fails
    if not bad.any():
        return
    excess = np.where(bad, difference / bound, -np.inf)
    excess[np.isnan(excess) & bad] = np.inf
    worst = np.argsort(excess, axis=None)[::-1][: min(5, int(bad.sum()))]
    lines = [f"  at {tuple(int(i) for i in np.unravel_index(k, a.shape))}: actual "
             f"{a.flat[k]:.8g}, expected {e.flat[k]:.8g}, |difference| {difference.flat[k]:.3g}"
             f" > bound {bound.flat[k]:.3g}" for k in worst]
    raise AssertionError(
        f"{what}: {int(bad.sum())} of {a.size} elements differ by more than {steps:g} float16 "
        f"steps + {floor:.3g}; the worst:\n" + "\n".join(lines))
