"""The network search's models and inference: checkpoints in, a score per window and slide out.

``NetworkModels.load`` rebuilds one or more checkpoints (an ensemble) trained on caches made
the same way (their image recipes, ``preprocess.recipe``, must not differ; a cache whitened by
another PSD is the same recipe). ``slide_logits`` scores the windows of a
segment for a list of time slides: at slide ``k`` window ``w`` meets detector ``i``'s images of
window ``(w + k * m * i) mod W`` (``m`` windows per slide step, cyclically within the
segment, as ``pipeline.search.slides`` slides in seconds), so every slide reuses the images
computed once: a slide costs inference only. Scores are the logit of the probability averaged
over the ensemble (and over the H1 <-> L1 exchange with ``tta``), float32 whatever the autocast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.classifier.checkpoint import checkpoint_recipe, load_model_from_checkpoint
from pipeline.classifier.precision import Precision
from pipeline.classifier.predict import mean_probability_logit, swap_ligo_channels
from pipeline.training.augment import check_ligo_pair
from preprocess.recipe import ImageRecipe


@dataclass
class NetworkModels:
    """An ensemble of trained models, the image recipe they read, and how they run."""

    models: list[nn.Module]
    precision: Precision
    recipe: ImageRecipe  # how every checkpoint's training images were made
    training_psd: np.ndarray | None  # (D, F) strain^2/Hz, the first checkpoint's cache PSD
    checkpoints: list[str]

    @classmethod
    def load(cls, checkpoints: Sequence[str | Path], precision: Precision) -> NetworkModels:
        """Rebuild ``checkpoints`` on ``precision.device``; ``ValueError`` naming the first
        whose image recipe differs from the first one's."""
        if not checkpoints:
            raise ValueError("no checkpoint given: pass --checkpoint RUN/best.pt")
        models, recipe, training_psd = [], None, None
        for path in checkpoints:
            model, checkpoint = load_model_from_checkpoint(path)
            if recipe is None:
                recipe = checkpoint_recipe(checkpoint)
                psd = checkpoint.get("cache_psd")
                training_psd = None if psd is None else np.asarray(psd, dtype=np.float64)
            else:
                differences = recipe.differences(checkpoint_recipe(checkpoint))
                if differences:
                    raise ValueError(f"{path}: trained on images made otherwise than "
                                     f"{checkpoints[0]}'s ({'; '.join(differences)}): an "
                                     "ensemble must read the same images")
            models.append(precision.prepare_model(model).eval())
        return cls(models, precision, recipe, training_psd, [str(c) for c in checkpoints])

    @property
    def detectors(self) -> tuple[str, ...]:
        return self.recipe.detectors

    def check_tta(self) -> None:
        check_ligo_pair(self.detectors, "--tta")


@torch.inference_mode()
def slide_logits(images: torch.Tensor, slides: Sequence[int], step_windows: int,
                 network: NetworkModels, batch: int = 256, tta: bool = False) -> np.ndarray:
    """Scores ``(len(slides), W)`` float32 of the windows of one piece at each slide.

    ``images`` ``(W, D, F, T)`` float16 are one piece's windows, on the models' device
    (``windows.segment_images``); slide ``k`` takes detector ``i``'s images from window
    ``(w + k * step_windows * i) mod W``, gathered where the images are. The models' logits
    stay there until the chunk of slides is done: one wait for a GPU per chunk.
    """
    n_windows, n_detectors = images.shape[:2]
    device = images.device
    offsets = torch.arange(n_detectors, device=device)  # (D,)
    views = len(network.models) * (2 if tta else 1)
    raw = torch.empty((views, len(slides), n_windows), dtype=torch.float32, device=device)
    for row, slide in enumerate(slides):
        for lo in range(0, n_windows, batch):
            window = torch.arange(lo, min(lo + batch, n_windows), device=device)  # (B,)
            index = (window[:, None] + slide * step_windows * offsets[None, :]) % n_windows
            stacked = images[index, offsets[None, :]]  # (B, D, F, T): each detector's window
            raw[:, row, lo : lo + len(window)] = _logits(stacked, network, tta)
    logits = raw.double().cpu().numpy()  # (M * V, S, W)
    return mean_probability_logit(logits, axis=0).astype(np.float32)


def _logits(images: torch.Tensor, network: NetworkModels, tta: bool) -> torch.Tensor:
    """Every model's (and view's) logit ``(M * V, B)`` float32 of one batch, on the device."""
    x = network.precision.to_device(images)
    views = [x, swap_ligo_channels(x)] if tta else [x]
    with network.precision.autocast():
        return torch.stack([model(v).view(-1).float() for model in network.models
                            for v in views])
