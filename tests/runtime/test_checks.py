"""Numbers from options and files: NaN and infinity fail every check that a plain ``> 0``
would pass them through, each with one line naming the setting."""

from __future__ import annotations

import argparse
import math

import pytest

from runtime.checks import finite, finite_float, in_range, non_negative, positive, whole


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "abc", None, True])
def test_what_is_not_a_finite_number_is_refused_everywhere(value) -> None:
    for check in (finite, positive, non_negative):
        with pytest.raises(ValueError, match=r"^stride must be a finite number"):
            check("stride", value)
    with pytest.raises(ValueError, match=r"^level must be a finite number in \[1, 2\]"):
        in_range("level", value, 1, 2)


def test_ranges_and_whole_numbers() -> None:
    assert positive("x", "2.5") == 2.5 and non_negative("x", 0) == 0.0
    assert in_range("x", 1.5, 1, 2) == 1.5 and whole("n", 3, 1) == 3
    with pytest.raises(ValueError, match="x must be a finite number > 0, got 0"):
        positive("x", 0)
    with pytest.raises(ValueError, match="x must be a finite number >= 0, got -1"):
        non_negative("x", -1)
    with pytest.raises(ValueError, match="n must be a whole number >= 1, got 2.5"):
        whole("n", 2.5, 1)


def test_the_argparse_type_names_the_value() -> None:
    assert finite_float("1e-3") == 1e-3
    for text, reason in (("nan", "not a finite number"), ("inf", "not a finite number"),
                         ("x", "not a number")):
        with pytest.raises(argparse.ArgumentTypeError, match=f"'{text}' is {reason}"):
            finite_float(text)
