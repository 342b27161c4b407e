"""Block filtering: an injected template comes back at its time, template and SNR; chi-squared."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.search.matched_filter.chisq import dof
from pipeline.search.matched_filter.filter import BlockFilter, padding, plan_blocks
from pipeline.search.matched_filter.inspiral import filter_segment, pad_samples
from preprocess.psd.running import FixedPSD
from preprocess.stream.config import SAMPLE_RATE
from tests.pipeline.search.helpers import (
    DETECTORS,
    FILTER,
    GPS,
    noise,
    sine_gaussian,
    template_signal,
    true_psd,
)

SECONDS = 96  # one segment: 8 s and 5 s of padding, three 32-s blocks


@pytest.fixture(scope="module")
def block_filter(bank) -> BlockFilter:
    return BlockFilter(bank, FILTER, SAMPLE_RATE)


def run(data: np.ndarray, block_filter: BlockFilter, bank, fixed: bool = False):
    """Triggers of ``data`` ``(2, n)``, whitened by the true PSD (``fixed``) or the running one."""
    psd = None
    if fixed:
        n = data.shape[-1]
        psd = FixedPSD(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), true_psd(n))
    pads = pad_samples(padding(bank, FILTER), SAMPLE_RATE)
    return filter_segment(data, GPS, DETECTORS, block_filter, FILTER, pads, psd)


def loudest_near(triggers, time: float, reach: float = 0.1) -> int:
    near = np.flatnonzero(np.abs(triggers.time - time) <= reach)
    assert len(near), f"no trigger within {reach} s of {time}"
    return int(near[np.argmax(triggers.snr[near])])


def test_blocks_tile_the_analysed_span() -> None:
    blocks = plan_blocks(1000, 300, 40, 20)
    kept = [b.keep for b in blocks]
    assert kept[0][0] == 40 and kept[-1][1] == 980
    assert all(a[1] == b[0] for a, b in zip(kept[:-1], kept[1:], strict=True))
    assert all(b.keep[0] - b.start >= 40 and b.start + 300 - b.keep[1] >= 20 for b in blocks)


def test_template_recovered_at_its_time_template_and_snr(bank, block_filter) -> None:
    n, k, merger = SECONDS * SAMPLE_RATE, 5, 40 * SAMPLE_RATE + 123
    clean = run(template_signal(bank, k, n, merger, 30.0), block_filter, bank, fixed=True)
    for detector in DETECTORS:
        t = clean.triggers[detector]
        i = loudest_near(t, GPS + merger / SAMPLE_RATE)
        assert t.template[i] == k
        assert abs(t.time[i] - (GPS + merger / SAMPLE_RATE)) <= 0.5 / SAMPLE_RATE
        # noise-free and whitened by the PSD it was scaled with: only the block grid's
        # interpolation of that PSD differs
        assert t.snr[i] == pytest.approx(30.0, rel=0.01)
        assert t.chisq[i] < 0.01  # a matching signal cancels bin by bin
    # in noise, with the running PSD: |z| moves by ~1 (unit-variance quadratures), so at SNR
    # 100 a 5% tolerance is 5 standard deviations; the timing error is ~1 / (2 pi f rho), < 1 ms
    data = noise(SECONDS) + template_signal(bank, k, n, merger, 100.0)
    noisy = run(data, block_filter, bank)
    for detector in DETECTORS:
        t = noisy.triggers[detector]
        i = loudest_near(t, GPS + merger / SAMPLE_RATE)
        assert t.template[i] == k
        assert abs(t.time[i] - (GPS + merger / SAMPLE_RATE)) <= 1.0 / SAMPLE_RATE
        assert t.snr[i] == pytest.approx(100.0, rel=0.05)


def test_chisq_of_signals_noise_and_a_glitch(bank, block_filter) -> None:
    n, k = SECONDS * SAMPLE_RATE, 3
    mergers = (np.array([12, 24, 36, 48, 60, 72, 84]) + 0.37) * SAMPLE_RATE
    data = noise(SECONDS, seed=8)
    for merger in mergers.astype(int):
        data = data + template_signal(bank, k, n, merger, 20.0)
    triggers = run(data, block_filter, bank)
    bins = FILTER.chisq_bins
    spread = np.sqrt(2 / dof(bins))  # std of a reduced chi-squared of 2p - 2 dof
    for detector in DETECTORS:
        t = triggers.triggers[detector]
        found = [loudest_near(t, GPS + m / SAMPLE_RATE) for m in mergers.astype(int)
                 if GPS + m / SAMPLE_RATE < triggers.analysed[1]]
        signal = t.chisq[found]
        # the template itself: noise alone is left, mean 1 within 5 standard errors
        assert abs(signal.mean() - 1) <= 5 * spread / np.sqrt(len(found))
    glitch = noise(SECONDS, seed=9)
    glitch[0] += sine_gaussian(n, 50 * SAMPLE_RATE, 20.0)
    t = run(glitch, block_filter, bank).triggers["H1"]
    near = np.abs(t.time - (GPS + 50)) < 0.5
    loud = near & (t.snr > 8)
    # a glitch fills a few bins: far above noise's 1 + 5 * 0.26
    assert loud.any() and np.all(t.chisq[loud] > 1 + 10 * spread)


def test_chisq_of_noise_triggers_has_its_expectation(bank) -> None:
    # threshold 4 for enough noise triggers (a few hundred): the statistical error of their
    # mean is 0.26 / sqrt(n), a few per cent, below the target's tolerance
    config = replace(FILTER, snr_threshold=4.0, template_cluster_window=0.5)
    block_filter = BlockFilter(bank, config, SAMPLE_RATE)
    pads = pad_samples(padding(bank, config), SAMPLE_RATE)
    segment = filter_segment(noise(SECONDS, seed=10), GPS, DETECTORS, block_filter, config, pads)
    chisq = np.concatenate([t.chisq for t in segment.triggers.values()])
    assert len(chisq) > 100
    # the target: mean 1 per degree of freedom within 10% on noise triggers
    assert abs(chisq.mean() - 1) < 0.1, chisq.mean()
