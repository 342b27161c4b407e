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
    def __call__(self, samples: torch.Tensor, where: str) -> np.ndarray:
        """``(B, D, N)`` float32 (strain / ``raw_scale``) -> float16 images ``(B, D, F, T)``.

        The float16 checks are computed on the device with the images, and both come back in
        one transfer: a GPU is waited for once per batch.
        """
        white = self.whitener(samples.to(self.device, non_blocking=True))
        images = self.cqt.scale(self.rows(self.cqt.magnitudes(white)))
        stored = images.half()
        low, high = torch.aminmax(images)
        flushed = ((stored == 0) & (images != 0)).sum()  # values float16 turns into 0
        stats = torch.stack([low, high, flushed.float() / max(images.numel(), 1)])
        host, stats = devices.to_host(stored, stats)
        problem = _float16_problem(*stats.tolist(), where)
        if problem:
            raise ValueError(problem)
        return host.numpy()
