"""Injections: the time grid, the distance priors, and signals drawn 2-s tile by tile."""

from __future__ import annotations

import dataclasses
import math

import lal
import lalsimulation
import numpy as np
import pytest

from preprocess.simulate.waveform import polarizations
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.injections import (
    CHIRP_MASS_REFERENCE,
    check_edge,
    draw_injection,
    render,
    segment_injections,
    signal_reach,
)
from preprocess.stream.plan import Segment

CONFIG = StreamConfig(seed=2, injection_edge=16.0)
SEGMENT = Segment(0, 1238166018, 400)


def test_grid_keeps_every_tc_off_the_segment_edges() -> None:
    injections = segment_injections(CONFIG, SEGMENT)
    tcs = np.array([inj.tc for inj in injections])
    edge, jitter, spacing = CONFIG.injection_edge, CONFIG.injection_jitter, 24.0
    assert len(tcs) == math.floor((400 - 2 * (edge + jitter)) / spacing) + 1
    assert tcs.min() >= SEGMENT.start + edge and tcs.max() <= SEGMENT.stop - edge
    points = SEGMENT.start + edge + jitter + spacing * np.arange(len(tcs))
    assert np.abs(tcs - points).max() <= jitter and np.abs(tcs - points).std() > 0
    # keyed by the segment's start: the same draws whatever comes before it
    moved = Segment(5, SEGMENT.start, SEGMENT.duration)
    assert [i.tc for i in segment_injections(CONFIG, moved)] == list(tcs)


@pytest.mark.parametrize("prior", ["chirp", "volume"])
def test_distances_are_uniform_in_volume_between_the_bounds(prior: str) -> None:
    config = dataclasses.replace(CONFIG, distance_prior=prior, distance_min=100.0,
                                 distance_max=400.0)
    n = 2000
    injections = [draw_injection(config, SEGMENT, k, SEGMENT.start + 30.0) for k in range(n)]
    drawn = np.array([i.chirp_distance if prior == "chirp" else i.distance for i in injections])
    assert drawn.min() >= 100 and drawn.max() <= 400
    u = (drawn**3 - 100**3) / (400**3 - 100**3)  # uniform on [0, 1] for a volume prior
    assert abs(u.mean() - 0.5) < 5 / math.sqrt(12 * n)  # 5 standard errors of a mean
    assert abs((u < 0.25).mean() - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n)
    for inj in injections[:20]:  # PyCBC's chirp distance, from the luminosity distance
        expected = inj.distance * (CHIRP_MASS_REFERENCE / inj.mchirp) ** (5 / 6)
        assert inj.chirp_distance == pytest.approx(expected, rel=1e-12)
        assert inj.source.mass1 >= inj.source.mass2


def test_an_edge_shorter_than_the_longest_signal_is_refused() -> None:
    reach = signal_reach(dataclasses.replace(CONFIG, mass_min=5.0))
    assert 12 < reach < 60  # a 5+5 Msun binary lasts about 24 s from 20 Hz
    short = dataclasses.replace(CONFIG, mass_min=5.0, injection_edge=10.0)
    with pytest.raises(ValueError, match=r"injection-edge \(10 s\) is shorter than the longest "
                                         r"signal of the priors \(up to \d+\.\d s"):
        check_edge(short)
    check_edge(dataclasses.replace(CONFIG, mass_min=5.0, injection_edge=0.0,
                                   injection_spacing=0.0))  # no injections: nothing to check


def test_tiled_projection_matches_lalsimulation() -> None:
    config = dataclasses.replace(CONFIG, mass_min=10.0, mass_max=12.0)  # long: several tiles
    injection = segment_injections(config, SEGMENT)[0]
    first, ours = render(config, injection)
    assert ours.shape[1] % 4096 == 0 and ours.shape[1] >= 3 * 4096
    h_plus, h_cross, epoch = polarizations(injection.source, config.approximant, config.f_lower,
                                           injection.distance)
    series = []
    for h in (h_plus, h_cross):
        s = lal.CreateREAL8TimeSeries("h", lal.LIGOTimeGPS(injection.tc + epoch), 0,
                                      1 / SAMPLE_RATE, lal.StrainUnit, len(h))
        s.data.data = h
        series.append(s)
    source = injection.source
    for d, prefix in enumerate(config.detectors):
        detector = lalsimulation.DetectorPrefixToLALDetector(prefix)
        strain = lalsimulation.SimDetectorStrainREAL8TimeSeries(
            *series, source.ra, source.dec, source.polarization, detector)
        start = lal.LIGOTimeGPS(first // SAMPLE_RATE, (first % SAMPLE_RATE) * 10**9 // SAMPLE_RATE)
        window = lal.CreateREAL8TimeSeries("w", start, 0, 1 / SAMPLE_RATE, lal.StrainUnit,
                                           ours.shape[1])
        window.data.data = np.zeros(ours.shape[1])
        lalsimulation.SimAddInjectionREAL8TimeSeries(window, strain, None)
        error = np.abs(ours[d] - window.data.data)
        largest = np.abs(window.data.data).max()
        # lal interpolates with a finite kernel (the snippet simulator's test allows 3%); a
        # delay wrong by one sample would err by ~50%
        assert error.max() < 0.03 * largest, prefix
        joins = [error[k - 2 : k + 2].max() for k in range(4096, ours.shape[1], 4096)]
        assert max(joins) <= error.max()  # no seam where the 2-s tiles meet
