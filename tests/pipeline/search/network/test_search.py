"""The network search: window images as build-cqt makes them, slides that pair other windows,
loud injections found within var, and a resume after kill -9 to the same triggers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pipeline.search.config import SlideConfig
from pipeline.search.network import search as net_search
from pipeline.search.network.config import NetworkSearchConfig
from pipeline.search.network.models import NetworkModels, slide_logits
from pipeline.search.network.windows import segment_images, window_starts
from pipeline.search.triggers import read_trigger_file
from preprocess.build import build_cache
from preprocess.config import BuildOptions
from preprocess.images import ImageMaker
from preprocess.layout import sample_path
from preprocess.psd.config import PSDConfig
from preprocess.psd.running import FixedPSD
from preprocess.stream.config import SAMPLE_RATE, ReadOptions, StreamConfig
from preprocess.stream.readers import ReadReport, StrainSet
from tests.pipeline.search.helpers import DETECTORS
from tests.tolerances import assert_float16_close, median_float16_step

REPO = Path(__file__).resolve().parents[4]
QUIET = BuildOptions(workers=0, progress=False, batch_size=16)
# 48-s pieces, windows every 0.5 s, 3 slides of 4 s: small enough for a test
CONFIG = NetworkSearchConfig(stride=0.5, slides=SlideConfig(step=4.0, count=3),
                             read=ReadOptions(max_duration=48.0, min_duration=32.0),
                             psd=PSDConfig(span=32.0), psd_update=8.0, slides_per_file=2,
                             device="cpu")


def _segment(stream: Path) -> tuple[np.ndarray, float]:
    strain = StrainSet((str(stream / "foreground"),), DETECTORS, ReadOptions(min_duration=32))
    a, b = next(iter(strain.segments(ReadReport())))
    return strain.checked(a, b), a / SAMPLE_RATE


def test_a_windows_images_are_build_cqts_images(stream, checkpoint, tmp_path) -> None:
    """Window 37 of a stream segment, written as a G2Net sample and built by build-cqt with
    the training cache's PSD, gives the images the search made of it (same code, same PSD:
    equal to float16 rounding)."""
    network = NetworkModels.load([checkpoint], _cpu())
    data, _ = _segment(stream)
    starts = window_starts(data.shape[-1], 4096, 1024)
    psd = FixedPSD(network.recipe.whiten.frequencies, network.training_psd)
    maker = ImageMaker(network.recipe, network.training_psd, torch.device("cpu"))
    images = segment_images(data, starts, psd, maker, update=8 * SAMPLE_RATE)  # (W, 2, F, T)
    g2net = tmp_path / "g2net"
    ids = [f"win{k:05d}" for k in (37, 3)]
    for sample_id, k in zip(ids, (37, 3), strict=True):
        path = sample_path(g2net, "train", sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, data[:, starts[k] : starts[k] + 4096])
    pd.DataFrame({"id": ids, "target": [0, 1]}).to_csv(g2net / "training_labels.csv",
                                                      index=False)
    (g2net / "simulation.json").write_text(json.dumps({"detectors": list(DETECTORS)}))
    cache = build_cache(g2net, "train", tmp_path / "cache", options=QUIET,
                        psd_from=Path(checkpoint).parent / "cache")
    built = {i: k for i, k in zip(ids, (37, 3), strict=True)}
    from preprocess.dataset import SpectrogramCache

    stored = SpectrogramCache(cache.manifest.root, dtype=torch.float16)
    for position, sample_id in enumerate(stored.ids):
        expected = stored[position][0].numpy().astype(np.float32)
        mine = images[built[sample_id]].numpy().astype(np.float32)
        # both are float16 roundings of float32 results of the same code on the same numbers
        assert_float16_close(mine, expected, floor=median_float16_step(expected),
                             what=f"window {built[sample_id]}")


def test_slides_pair_each_detector_with_other_windows(checkpoint) -> None:
    """At slide k the second detector's images come from k * (step / stride) windows later,
    cyclically, never from the window itself: checked by a model that reports which window
    each channel came from."""
    network = NetworkModels.load([checkpoint], _cpu())
    n_windows = 40
    images = np.zeros((n_windows, 2, 4, 4), dtype=np.float16)
    images[:, 0] = np.arange(n_windows)[:, None, None]  # channel 0 holds its window index
    images[:, 1] = 100 + np.arange(n_windows)[:, None, None]
    network.models = [_Pick(1)]  # the logit is channel 1's pixel: its window's index + 100
    scores = slide_logits(torch.from_numpy(images), range(0, 4), 8, network, batch=16)
    for k, row in enumerate(scores):
        source = (np.arange(n_windows) + 8 * k) % n_windows
        np.testing.assert_allclose(row, 100 + source, rtol=1e-6)
        if k:
            assert (source != np.arange(n_windows)).all()


def test_loud_injections_are_found_within_var(stream_loud, checkpoint, tmp_path,
                                              monkeypatch) -> None:
    """With a model that reports the brightness of a window's merger region, every loud
    injection has a zero-lag trigger within var of its tc, louder than every slide's
    trigger; the trigger files carry the durations (analysed and background)."""
    real = NetworkModels.load

    def bright(checkpoints, precision):
        network = real(checkpoints, precision)
        network.models = [_MergerBrightness()]
        return network

    monkeypatch.setattr(NetworkModels, "load", bright)
    out = net_search.run_network_search(stream_loud / "foreground", [checkpoint],
                                        tmp_path / "search", CONFIG, progress=False)
    zero, attrs, analysed = read_trigger_file(out / "zerolag-network.hdf")
    slides, slide_attrs, _ = read_trigger_file(out / "slides-network.hdf")
    result = json.loads((out / "result.json").read_text())
    assert attrs["duration"] == pytest.approx(result["analysed_seconds"])
    assert slide_attrs["duration"] == pytest.approx(result["slides"]["background_seconds"])
    assert (slides["slide"] > 0).all() and (zero["slide"] == 0).all()
    injections = pd.read_csv(stream_loud / "injections.csv")
    inside = injections[[((analysed[:, 0] + 2 <= tc) & (tc <= analysed[:, 1] - 2)).any()
                         for tc in injections["tc"]]]
    assert len(inside) >= 2
    loudest_noise = slides["stat"].max()
    for tc in inside["tc"]:
        near = zero[(zero["time"] - tc).abs() <= zero["var"]]
        assert len(near) == 1 and near["stat"].iloc[0] > loudest_noise, tc


def test_a_killed_search_resumes_to_the_same_triggers(stream, checkpoint, tmp_path) -> None:
    reference = net_search.run_network_search(stream / "foreground", [checkpoint],
                                              tmp_path / "ref", CONFIG, progress=False)
    out = tmp_path / "killed"
    script = ("import sys\nfrom pathlib import Path\n"
              "from pipeline.search.network import search as net_search\n"
              "from tests.pipeline.search.network.test_search import CONFIG\n"
              "net_search.run_network_search(sys.argv[1], [sys.argv[2]], sys.argv[3], CONFIG, "
              "progress=False)\n")
    process = subprocess.Popen([sys.executable, "-c", script, str(stream / "foreground"),
                                str(checkpoint), str(out)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(out.glob("segments/*/scores-*.npy")) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "result.json").exists()
    net_search.run_network_search(stream / "foreground", [checkpoint], out, CONFIG,
                                  progress=False)
    for name in ("zerolag-network.csv", "slides-network.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(reference / name))
    with pytest.raises(ValueError, match="stride: 0.5 -> 1.0"):
        net_search.run_network_search(stream / "foreground", [checkpoint], out,
                                      replace(CONFIG, stride=1.0), progress=False)


@pytest.fixture(scope="module")
def stream_loud(tmp_path_factory) -> Path:
    """96 s of H1 L1 noise with an injection every 24 s at chirp distances of 20-25 Mpc:
    network SNRs in the hundreds, which any sensible detector finds."""
    from preprocess.stream.simulate import simulate_stream

    config = StreamConfig(seed=12, detectors=DETECTORS, duration=96, segment_duration=96,
                          chunk_duration=32, injection_edge=16.0, mass_min=20.0, mass_max=40.0,
                          distance_min=20.0, distance_max=25.0)
    return simulate_stream(config, tmp_path_factory.mktemp("loud") / "s", workers=1,
                           progress=False)


def _cpu():
    from pipeline.classifier.precision import Precision

    return Precision(torch.device("cpu"))


class _Pick(nn.Module):
    """A 'model' whose logit is one pixel of one channel (the window index it came from)."""

    def __init__(self, channel: int):
        super().__init__()
        self.channel = channel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.channel, 0, 0].view(-1, 1)


class _MergerBrightness(nn.Module):
    """A 'model' whose logit is the mean brightness of the frames 1.2-1.9 s into a window,
    where training put the mergers, over the bins below 300 Hz, in the dimmer detector: a
    chirp merging there in both detectors lights it up, one in a single detector (what a
    slide pairs an injection with) does not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = slice(int(1.2 * 64), int(1.9 * 64))  # 64 frames per second (hop 32)
        return x[:, :, :40, frames].mean(dim=(2, 3)).amin(dim=1).view(-1, 1)


def test_scores_that_are_not_finite_stop_the_search(stream, checkpoint, tmp_path) -> None:
    """A checkpoint whose weights are NaN scores NaN: the search stops in one line and keeps
    nothing of the piece, where it used to write NaN triggers."""
    damaged = torch.load(checkpoint, weights_only=True)
    damaged["model"] = {k: v.float().fill_(float("nan")) if v.is_floating_point() else v
                        for k, v in damaged["model"].items()}
    path = tmp_path / "nan.pt"
    torch.save(damaged, path)
    out = tmp_path / "s"
    with pytest.raises(ValueError, match=r"nan\.pt: \d+ window score\(s\) of .* are not finite"):
        net_search.run_network_search(stream / "foreground", [path], out, CONFIG,
                                      progress=False)
    assert not list(out.glob("segments/*/scores-*.npy")) and not (out / "result.json").exists()


def test_window_images_are_made_in_full_float32(stream, checkpoint, monkeypatch) -> None:
    """On a GPU cuDNN would run nnAudio's convolutions in TF32 by default, and a window's
    images would no longer be build-cqt's (which builds in full float32): the search asks for
    full float32 around every image it makes, on any device."""
    from contextlib import contextmanager

    from runtime import devices

    asked = []

    @contextmanager
    def recording(device):
        asked.append(device)
        yield

    monkeypatch.setattr(devices, "full_float32", recording)
    network = NetworkModels.load([checkpoint], _cpu())
    data, _ = _segment(stream)
    starts = window_starts(data.shape[-1], 4096, 1024)[:8]
    psd = FixedPSD(network.recipe.whiten.frequencies, network.training_psd)
    maker = ImageMaker(network.recipe, network.training_psd, torch.device("cpu"))
    images = segment_images(data, starts, psd, maker, update=8 * SAMPLE_RATE, batch=3)
    assert asked == [torch.device("cpu")] and images.shape[0] == 8
    assert images.dtype == torch.float16 and images.device.type == "cpu"
