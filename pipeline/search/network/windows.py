"""The network search's windows: their times, their whitening PSD, and their images.

A piece ``(D, n)`` of strain at 2048 Hz is cut into windows of the model's length (2 s, ``N``
samples) every ``stride`` s: window ``w`` covers samples ``[w * stride, w * stride + N)``.
Each detector's images of every window are computed once (``segment_images``), with
``preprocess.images.ImageMaker`` made from the model's image recipe, the code ``build-cqt``
runs, so a window's images are those its 2 s give written as a G2Net sample and whitened by
the same PSD; a time slide then only pairs different windows' images (``models.slide_logits``).

The PSD (``window_psd``) is by default the training estimator run over the data around
(``preprocess.psd.running.RunningPSD`` with ``TrainingAverage``: tapered 2-s periodograms every
second, glitch and signal power gated out, the median), over the ``span`` s preceding (or
centred on) each block of windows, renewed every ``update`` s: stream windows are whitened as
the training samples were, however the noise drifts. ``--psd training`` whitens with the
training cache's own PSD (a fixed one, as G2Net solutions did), ``--psd FILE`` with a file's.
"""

from __future__ import annotations

import numpy as np
import torch

from preprocess.images import ImageMaker, check_float16
from preprocess.psd.config import PSDConfig
from preprocess.psd.read import read_psd
from preprocess.psd.running import FixedPSD, RunningPSD, on_grid, window_starts
from preprocess.recipe import ImageRecipe
from runtime import devices

__all__ = ["covered_seconds", "segment_images", "window_psd", "window_starts"]


def covered_seconds(n_windows: int, window: float, stride: float) -> float:
    """Seconds of strain ``n_windows`` windows of ``window`` s every ``stride`` s cover: the
    analysed time (a stride longer than a window leaves the time between them unanalysed)."""
    if n_windows < 1:
        return 0.0
    return (n_windows - 1) * min(stride, window) + window


def window_psd(data: np.ndarray, config: PSDConfig, recipe: ImageRecipe,
               training: np.ndarray | None) -> RunningPSD | FixedPSD:
    """The PSD that whitens the windows of one piece ``(D, n)`` (strain), as ``config`` asks."""
    whiten = recipe.whiten
    if config.running:
        return RunningPSD.training(data, config, whiten)
    if config.file:
        return FixedPSD(*read_psd(config.file, recipe.detectors))
    if training is None:
        raise ValueError("--psd training: the model's checkpoint holds no training PSD (its "
                         "cache was not whitened)")
    return FixedPSD(whiten.frequencies, training)


def segment_images(data: np.ndarray, starts: np.ndarray, psd: RunningPSD | FixedPSD,
                   maker: ImageMaker, update: int, batch: int = 64,
                   where: str = "segment") -> torch.Tensor:
    """Images ``(W, D, F, T)`` float16, on the maker's device, of the windows at ``starts``
    (every ``stride`` samples from 0) of ``data`` ``(D, n)`` (strain).

    The piece goes to the device once; windows are cut there, in blocks of ``update`` samples
    of start time, each block whitened by ``psd.at`` of its stretch on the window's frequency
    grid (``maker.set_psd``), in batches of ``batch``. The convolutions run in full float32 on
    a GPU, as ``build-cqt``'s do; the float16 checks wait for the device once per piece.
    """
    whiten, device = maker.whiten, maker.device
    length = whiten.n_time
    out = torch.empty((len(starts), *maker.image_shape), dtype=torch.float16, device=device)
    if not len(starts):
        return out
    stride = int(starts[1] - starts[0]) if len(starts) > 1 else length
    if (starts % stride).any():
        raise ValueError("window starts must lie on one stride grid from the piece's start")
    scaled = torch.from_numpy((data / whiten.raw_scale).astype(np.float32)).to(device)
    windows = scaled.unfold(-1, length, stride)  # (D, W', N) views: window w at w * stride
    blocks = (starts // max(update, 1)).astype(np.int64)
    stats = []
    with devices.full_float32(device):
        for block in np.unique(blocks):
            rows = np.flatnonzero(blocks == block)
            a, b = int(starts[rows[0]]), int(starts[rows[-1]]) + length
            maker.set_psd(on_grid(psd.frequencies, psd.at(a, b), whiten.frequencies))
            for i in range(0, len(rows), batch):
                chosen = torch.from_numpy(rows[i : i + batch])
                positions = torch.from_numpy(starts[rows[i : i + batch]] // stride)
                images, found = maker.make(windows[:, positions.to(device)].transpose(0, 1))
                out[chosen.to(device)] = images
                stats.append(found)
    check_float16(torch.stack(stats).cpu(), where)
    return out
