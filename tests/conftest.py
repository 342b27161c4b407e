"""Shared fixtures: seeds, and one small simulated G2Net-layout data set reused across tests."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code that still uses the legacy global state
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _release_output_locks():
    """Output folders a test's commands locked are released after it (as a command's end
    releases them), so tests never hold hundreds of locks."""
    yield
    from runtime.outputs import release_all

    release_all()


@pytest.fixture(scope="session")
def simulated_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated data set (48 train, 16 test) in the G2Net layout, made once per session.

    Tests must treat it as read-only; copy it to ``tmp_path`` to modify it.
    """
    from preprocess.simulate import SimulationConfig, simulate

    out = tmp_path_factory.mktemp("g2net") / "data"
    simulate(SimulationConfig(n_train=48, n_test=16, seed=1234), out, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def gwosc_files() -> list[Path]:
    """The shipped GWOSC files around GW150914 (``data/gwosc``), their sha256 checked first.
    Read-only."""
    from pipeline.demo.real import shipped_files

    return shipped_files()
