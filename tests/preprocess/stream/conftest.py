"""Small streams shared by the stream tests, made once per session in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from preprocess.stream.config import StreamConfig

# Two 96-s segments of three detectors: each holds three injections (edge 16 s covers the
# longest 10+10 Msun signal from 20 Hz, about 12 s) and, at 200 per hour per detector, about
# 16 glitches in all; the level drifts between 0.5 and 2 on a 60-s timescale.
SMALL = StreamConfig(seed=7, duration=192, segment_duration=96, gap_duration=8,
                     chunk_duration=32, injection_edge=16.0, level_min=0.5, level_max=2.0,
                     level_timescale=60.0, glitch_rate=200.0, psd_shape_mix=0.5)


@pytest.fixture(scope="session")
def small_stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``SMALL`` simulated with one worker and MLGWSC-1 files. Read-only for tests."""
    from preprocess.stream.simulate import simulate_stream

    out = tmp_path_factory.mktemp("stream") / "small"
    return simulate_stream(SMALL, out, workers=1, mlgwsc=True, progress=False)
