"""Time slides never pair a detector with itself; light-travel times bound them."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.search.sites import light_travel_time, longest_light_travel
from pipeline.search.slides import check_step, max_slides, shifts, slides_in


def test_light_travel_times() -> None:
    assert light_travel_time("H1", "L1") == pytest.approx(0.0100, abs=2e-4)
    assert light_travel_time("H1", "V1") == pytest.approx(0.0273, abs=3e-4)
    assert light_travel_time("L1", "H1") == light_travel_time("H1", "L1")
    assert longest_light_travel(("H1", "L1", "V1")) == light_travel_time("H1", "V1")
    assert longest_light_travel(("H1",)) == 0.0


def test_a_step_shorter_than_a_signal_is_refused() -> None:
    check_step(8.0, 7.5, "the longest template")
    with pytest.raises(ValueError, match="slide step 2 s must be longer than 2.03 s"):
        check_step(2.0, 2.03, "a window plus the light-travel time")


@pytest.mark.parametrize("n_detectors", [2, 3])
def test_slides_never_pair_a_detector_with_itself(n_detectors: int) -> None:
    span, step = 400.0, 8.0
    count = max_slides(span, step, n_detectors)
    assert count == (49 if n_detectors == 2 else 24)
    lags = {}  # (i, j) -> lags over slides, cyclic in the span
    for k in range(1, count + 1):
        offsets = shifts(k, step, n_detectors)
        for i in range(n_detectors):
            for j in range(i + 1, n_detectors):
                lag = (offsets[j] - offsets[i]) % span
                assert min(lag, span - lag) >= step  # never near zero lag
                lags.setdefault((i, j), []).append(lag)
    for values in lags.values():
        assert len(set(np.round(values, 6))) == len(values)  # every slide is new data
    assert slides_in(span, 1000, step, n_detectors) == count
