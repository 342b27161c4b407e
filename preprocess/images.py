"""Images from raw strain: whitening, band-pass, per-sample normalisation and CQT, as float16.

``ImageMaker`` is the one place images are made: ``build-cqt`` calls it on batches of G2Net
samples, the network search on windows of continuous strain. Its float16 checks refuse images
that would overflow float16 or lose more than 0.1% of their values to 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from preprocess.cqt import CQT
from preprocess.normalize import normalizers
from preprocess.recipe import ImageRecipe
from preprocess.whiten import Whitener, whitening_filter
from runtime import devices

FLOAT16_MAX = 65504.0


def _float16_problem(low: float, high: float, flushed: float, where: str) -> str:
    """Why images of range ``[low, high]``, of which a share ``flushed`` float16 turns into 0,
    cannot be stored, or "" (overflow to inf, or more than 0.1% of values lost to 0)."""
    largest = max(abs(low), abs(high))
    if not math.isfinite(largest) or largest >= FLOAT16_MAX:
        return (f"{where}: CQT values overflow float16 (max {largest:.3g}); use --cqt-scaling "
                "log or a larger --raw-scale")
    if flushed > 1e-3:
        return f"{where}: {flushed:.1%} of CQT values underflow float16"
    return ""


def check_float16(stats: torch.Tensor, where: str) -> None:
    """``ValueError`` unless images of ``make``'s statistics ``(K, 3)`` (one row per batch,
    on the host) can be stored as float16."""
    low, high = float(stats[:, 0].min()), float(stats[:, 1].max())
    problem = _float16_problem(low, high, float(stats[:, 2].max()), where)
    if problem:
        raise ValueError(problem)


class ImageMaker:
    """Whitening + CQT (+ per-sample normalisation) on the device for batches of raw samples.

    Made from an image recipe (``preprocess.recipe``): what ``build-cqt`` stores, and what a
    search over continuous strain computes for each window, so a window of a stream gives the
    images its 2 s give as a G2Net sample whitened by the same PSD. ``set_psd`` swaps the
    whitening PSD (a search's running estimate) without rebuilding the CQT kernels.
    """

    def __init__(self, recipe: ImageRecipe, psd: np.ndarray | None, device: torch.device):
        self.device, self.recipe, self.whiten = device, recipe, recipe.whiten
        self.cqt = CQT(recipe.cqt).to(device)
        level, rows = normalizers(recipe.normalize, recipe.whiten, self.cqt)
        self.whitener = Whitener(psd, recipe.whiten, level).to(device)  # sample-psd: spectra
        self.rows = rows.to(device)  # row-median divides |CQT| rows
        self.image_shape = self.cqt.image_shape(len(recipe.detectors), recipe.whiten.n_time)

    def set_psd(self, psd: np.ndarray) -> None:
        """Whiten from now on with ``psd`` ``(D, F)`` (strain^2/Hz on the rFFT grid of
        ``whiten.n_time`` samples), the CQT and normalisation kept."""
        filt = torch.from_numpy(whitening_filter(psd, self.whiten)).to(torch.complex64)
        self.whitener.filter = filt.to(self.device)

    @torch.inference_mode()
    def make(self, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, D, N)`` float32 (strain / ``raw_scale``) -> float16 images ``(B, D, F, T)``
        and their float16 statistics ``(3,)`` (lowest, highest, share flushed to 0), both on
        the device: nothing waits for it."""
        white = self.whitener(samples.to(self.device, non_blocking=True))
        images = self.cqt.scale(self.rows(self.cqt.magnitudes(white)))
        stored = images.half()
        low, high = torch.aminmax(images)
        flushed = ((stored == 0) & (images != 0)).sum()  # values float16 turns into 0
        return stored, torch.stack([low, high, flushed.float() / max(images.numel(), 1)])

    def __call__(self, samples: torch.Tensor, where: str) -> np.ndarray:
        """``make``'s images on the host, once their float16 checks pass: the images and the
        checks come back in one transfer, so a GPU is waited for once per batch."""
        stored, stats = self.make(samples)
        host, stats = devices.to_host(stored, stats)
        check_float16(stats[None], where)
        return host.numpy()
