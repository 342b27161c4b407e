"""Fixtures of the search tests: one small bank and one small stream, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.bank.stream import SearchBank, build_search_bank, placement_psd
from preprocess.stream.config import StreamConfig
from tests.pipeline.search.helpers import BANK, DETECTORS


@pytest.fixture(scope="session")
def bank() -> SearchBank:
    """``BANK`` placed against H1's design PSD (about a second)."""
    return build_search_bank(BANK, placement_psd(BANK))


@pytest.fixture(scope="session")
def bank_file(bank: SearchBank, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bank`` saved as a search's ``bank.hdf``."""
    from pipeline.bank.stream import save_search_bank

    path = tmp_path_factory.mktemp("bank") / "bank.hdf"
    save_search_bank(bank, path)
    return path


@pytest.fixture(scope="session")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 96-s segments of H1-L1 Gaussian noise with an injection every 24 s (20-50 Msun, as
    the bank), simulated once. Read-only for tests."""
    from preprocess.stream.simulate import simulate_stream

    config = StreamConfig(seed=11, detectors=DETECTORS, duration=192, segment_duration=96,
                          gap_duration=8, chunk_duration=32, injection_edge=16.0,
                          mass_min=20.0, mass_max=50.0)
    return simulate_stream(config, tmp_path_factory.mktemp("stream") / "s", workers=1,
                           progress=False)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """An (untrained) ResNet16 checkpoint of an H1 L1 cache built the default way."""
    import torch

    from models import create_model
    from pipeline.classifier.checkpoint import save_checkpoint
    from preprocess.build import build_cache
    from preprocess.config import BuildOptions
    from preprocess.simulate import SimulationConfig, simulate
    from runtime.provenance import library_versions

    root = tmp_path_factory.mktemp("network")
    data = simulate(SimulationConfig(n_train=32, n_test=0, detectors=DETECTORS, seed=2),
                    root / "data", workers=1, progress=False)
    options = BuildOptions(workers=0, progress=False, batch_size=16)
    manifest = build_cache(data, "train", root / "cache", options=options).manifest
    torch.manual_seed(0)
    return save_checkpoint(root / "best.pt", {
        "model_name": "resnet16", "model_kwargs": {}, "image_shape": list(manifest.image_shape),
        "model": create_model("resnet16", in_chans=2).state_dict(), "config": {},
        "cache_config_hash": manifest.config_hash, "cache_config": manifest.config,
        "cache_psd": torch.from_numpy(manifest.psd), "versions": library_versions(),
        "epoch": 1,
    })
