"""FAR, injection matching and sensitive volume against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.search.evaluate.volume import (
    CHIRP_MASS_REFERENCE,
    far_at,
    injection_set,
    injection_statistics,
    monte_carlo_volume,
    sensitive_distance,
    sensitive_volume,
    threshold_at,
)


def test_far_of_a_known_background_is_the_analytic_rate() -> None:
    rng = np.random.default_rng(1)
    duration, rate = 1e6, 0.02  # s, background triggers per s
    stats = rng.exponential(1.0, size=rng.poisson(rate * duration))  # P(stat > x) = e^-x
    thresholds = np.array([0.0, 1.0, 2.0, 4.0])
    measured = far_at(stats, duration, thresholds)
    expected = rate * np.exp(-thresholds)
    # Poisson counts: within 5 standard errors sqrt(N) / T of the analytic rate
    assert np.all(np.abs(measured - expected) <= 5 * np.sqrt(expected * duration) / duration)
    # the threshold at a FAR lets at most floor(F T) background triggers above it
    for far in (1e-4, 1e-3, 1e-2):
        x = threshold_at(stats, duration, far)
        assert far_at(stats, duration, np.array([x]))[0] <= far
        assert np.sum(stats >= x) == math.floor(far * duration) + 1
    assert threshold_at(stats, duration, 1.0) == -math.inf  # more allowed than there are


def test_injection_found_by_a_trigger_within_its_var() -> None:
    times = np.array([10.0, 20.25, 30.0])
    stats, var = np.array([5.0, 7.0, 9.0]), np.array([0.3, 0.3, 0.1])
    tc = np.array([10.2, 20.0, 30.2, 50.0])
    found = injection_statistics(times, stats, var, tc)
    assert found.tolist() == [5.0, 7.0, -np.inf, -np.inf]


def write_table(path, frame: pd.DataFrame):
    frame.to_csv(path, index=False)
    return path


# (prior, d_max, R0): with the chirp prior a chirp mass of 10 reaches 350 * (10 / 1.22)^(5/6)
# = 2000 Mpc of luminosity distance, so R0 = 1000 Mpc lies inside every injection's sphere
@pytest.mark.parametrize(("prior", "d_max", "r0"), [("volume", 400.0, 150.0),
                                                    ("chirp", 350.0, 1000.0)])
def test_sensitive_volume_of_a_distance_cut_is_the_sphere(tmp_path, prior: str, d_max: float,
                                                          r0: float) -> None:
    """Injections uniform in volume (of distance or of chirp distance) up to d_max, found when
    closer than R0: the estimator's mean is the sphere of radius R0, within 5 of its own
    standard errors."""
    rng = np.random.default_rng(2)
    n = 20000
    radius = d_max * rng.uniform(0, 1, n) ** (1 / 3)
    mchirp = rng.uniform(10.0, 40.0, n)
    if prior == "chirp":  # radius is the chirp distance; the luminosity distance follows
        distance = radius * (mchirp / CHIRP_MASS_REFERENCE) ** (5 / 6)
        frame = pd.DataFrame({"tc": np.arange(n), "distance": distance,
                              "chirp_distance": radius, "mchirp": mchirp})
    else:
        distance = radius
        frame = pd.DataFrame({"tc": np.arange(n), "distance": distance})
    chosen = injection_set(write_table(tmp_path / "inj.csv", frame), prior, d_max)
    volume, error = sensitive_volume(chosen.distance < r0, chosen.weights, chosen.v_max)
    exact = 4 * math.pi / 3 * r0**3
    assert abs(volume - exact) <= 5 * error
    distance_r, distance_error = sensitive_distance(volume, error)
    assert abs(distance_r - r0) <= 5 * distance_error
    # all found: the whole prior volume, with no error
    everything, none = sensitive_volume(np.ones(n, bool), np.ones(n), 7.0)
    assert everything == pytest.approx(7.0) and none == 0


def test_monte_carlo_volume_for_another_prior() -> None:
    rng = np.random.default_rng(3)
    d_max, r0, n = 300.0, 120.0, 20000
    distance = rng.uniform(0, d_max, n)  # uniform in distance: p(d) = 1 / d_max
    volume, error = monte_carlo_volume(distance < r0, distance,
                                       lambda d: np.full_like(d, 1 / d_max))
    assert abs(volume - 4 * math.pi / 3 * r0**3) <= 5 * error
