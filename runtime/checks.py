"""Numbers from options, configurations and files: finite and in range, or one clear line.

A NaN passes every ``> 0`` test and an infinity passes most, so every numeric setting is read
through these: ``positive("stride", x)`` raises ``ValueError("stride must be a finite number
> 0, got nan")``. ``finite_float`` is the same check as an ``argparse`` type, so a bad option
is refused before anything runs.
"""

from __future__ import annotations

import argparse
import math
from typing import Any


def _number(name: str, value: Any, what: str) -> float:
    """``value`` as a float, or ``ValueError("<name> must be a finite number <what>, got ...")``."""
    message = f"{name} must be a finite number{' ' + what if what else ''}, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not math.isfinite(number):
        raise ValueError(message)
    return number


def finite(name: str, value: Any) -> float:
    """``value`` as a float; ``ValueError`` naming ``name`` unless it is a finite number."""
    return _number(name, value, "")


def positive(name: str, value: Any) -> float:
    """``value`` as a float; ``ValueError`` unless it is finite and > 0."""
    number = _number(name, value, "> 0")
    if number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def non_negative(name: str, value: Any) -> float:
    """``value`` as a float; ``ValueError`` unless it is finite and >= 0."""
    number = _number(name, value, ">= 0")
    if number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def in_range(name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float; ``ValueError`` unless it is finite and in ``[low, high]``."""
    what = f"in [{low:g}, {high:g}]"
    number = _number(name, value, what)
    if not low <= number <= high:
        raise ValueError(f"{name} must be a finite number {what}, got {value!r}")
    return number


def whole(name: str, value: Any, low: int = 0) -> int:
    """``value`` as an int; ``ValueError`` unless it is a whole number >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    return value


def finite_float(text: str) -> float:
    """An ``argparse`` type: a finite float, else the option's error names the value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value
