"""Prediction from cached spectrograms: one or more checkpoints, ensembling and LIGO-swap TTA.

Every checkpoint must have been trained on a cache of the same configuration as the one read
here (``pipeline.checkpoint.check_cache_compatible``). All models see each batch once, so the
cache is read a single time whatever the number of checkpoints.

Test-time augmentation averages the probabilities of each image and of the image with its H1
and L1 channels exchanged: the two LIGO detectors are nearly alike, so a model should not care
which is which. The sign flip used on raw strain is no augmentation here: a CQT magnitude is
unchanged by it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.checkpoint import check_cache_compatible, load_model_from_checkpoint
from preprocess.cache import SpectrogramCache, read_manifest
from preprocess.layout import read_split
from preprocess.provenance import atomic_path, library_versions, write_json_atomic

log = logging.getLogger(__name__)

ENSEMBLE_METHODS = ("mean", "rank")
H1, L1 = 0, 1  # channels of the LIGO detectors in (B, 3, F, T)


@dataclass
class PredictConfig:
    """How checkpoints are run and combined."""

    ensemble: str = "mean"  # "mean" of probabilities or "rank": mean of ranks scaled to [0, 1]
    tta: bool = False  # also predict with H1 <-> L1 exchanged and average the probabilities
    batch_size: int = 64  # images per forward pass
    device: str = "cpu"  # torch device of the models
    num_workers: int = 0  # DataLoader worker processes


def ensemble(preds: Sequence[np.ndarray], method: str = "mean") -> np.ndarray:
    """Combine per-model predictions ``[(N,), ...]`` into ``(N,)``.

    ``mean`` averages probabilities; ``rank`` averages each model's ranks scaled to [0, 1]
    (ties share their mean rank), which ignores how differently calibrated the models are.
    """
    if method not in ENSEMBLE_METHODS:
        raise ValueError(f"unknown ensemble method {method!r}; expected one of "
                         f"{', '.join(ENSEMBLE_METHODS)}")
    if not preds:
        raise ValueError("nothing to ensemble")
    stack = np.stack([np.asarray(p, dtype=np.float64) for p in preds])  # (M, N)
    if method == "rank":
        n = stack.shape[1]
        ranks = rankdata(stack, axis=1) - 1  # (M, N), 0 .. n-1
        stack = ranks / (n - 1) if n > 1 else np.full_like(stack, 0.5)
    return stack.mean(axis=0)


def swap_ligo_channels(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, F, T)`` with channels H1 and L1 exchanged (V1 kept)."""
    order = [L1, H1, *range(2, images.shape[1])]
    return images[:, order]


@torch.inference_mode()
def predict_probabilities(
    models: Sequence[nn.Module], loader: DataLoader, device: str | torch.device = "cpu",
    tta: bool = False, progress: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Ids in loader order and probabilities ``(M, N)``, one row per model."""
    ids: list[str] = []
    rows: list[list[np.ndarray]] = [[] for _ in models]
    for images, _, batch_ids in tqdm(loader, desc="predict", disable=not progress):
        images = images.to(device)  # (B, 3, F, T)
        views = [images, swap_ligo_channels(images)] if tta else [images]
        for row, model in zip(rows, models, strict=True):
            # float64: float32 rounds every logit above ~17 to probability 1.0, losing the order
            probs = [torch.sigmoid(model(v).view(-1).double()) for v in views]  # [(B,)]
            row.append(torch.stack(probs).mean(0).cpu().numpy())
        ids.extend(batch_ids)
    return ids, np.stack([np.concatenate(r) if r else np.zeros(0) for r in rows])


def resolve_cache(cache: str | Path, split: str) -> Path:
    """``CACHE/<split>`` when it holds a cache, else ``CACHE`` (checked to be of ``split``)."""
    cache = Path(cache)
    if (cache / split / "manifest.json").is_file():
        return cache / split
    manifest = read_manifest(cache)
    stored = manifest.config.get("split", manifest.info.get("split"))
    if stored is not None and stored != split:
        raise ValueError(f"{cache}: cache of split {stored!r}, asked for {split!r}")
    return cache


def align(ids: Sequence[str], probs: np.ndarray, order: pd.Series, source: str) -> np.ndarray:
    """Probabilities ``(N,)`` re-ordered to ``order``; refuses ids missing on either side."""
    by_id = pd.Series(probs, index=pd.Index(ids, dtype=str))
    missing = ~order.isin(by_id.index)
    if missing.any():
        raise ValueError(f"{source}: {int(missing.sum())} id(s) not in the cache, first "
                         f"{order[missing].iloc[0]!r}")
    extra = ~by_id.index.isin(order)
    if extra.any():
        raise ValueError(f"{source}: lacks {int(extra.sum())} cached id(s), first "
                         f"{by_id.index[extra][0]!r}")
    return by_id.loc[order.to_numpy()].to_numpy()


def predict(
    cache: str | Path, split: str, checkpoints: Sequence[str | Path],
    config: PredictConfig | None = None, data: str | Path | None = None, progress: bool = True,
) -> pd.DataFrame:
    """Ensembled probabilities as an ``id,target`` frame.

    Rows follow the cache (the split CSV's order), or ``data``'s split CSV (the sample
    submission for test) when given, whose ids must equal the cache's.
    """
    config = config or PredictConfig()
    if not checkpoints:
        raise ValueError("no checkpoint given")
    ensemble([np.zeros(1)], config.ensemble)  # reject an unknown method before the work
    root = resolve_cache(cache, split)
    dataset = SpectrogramCache(root)
    models = []
    for path in checkpoints:
        model, checkpoint = load_model_from_checkpoint(path, config.device)
        try:
            check_cache_compatible(checkpoint, dataset.manifest)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        models.append(model)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=False,
                        num_workers=config.num_workers)
    ids, probs = predict_probabilities(models, loader, config.device, config.tta, progress)
    combined = ensemble(list(probs), config.ensemble)
    if data is None:
        return pd.DataFrame({"id": ids, "target": combined})
    order = read_split(data, split)["id"]
    source = f"{data} ({split} ids)"
    return pd.DataFrame({"id": order.to_numpy(), "target": align(ids, combined, order, source)})


def write_predictions(
    frame: pd.DataFrame, out: str | Path, config: PredictConfig,
    checkpoints: Sequence[str | Path], cache: str | Path,
) -> Path:
    """Write the submission CSV atomically and its provenance as ``out`` with ``.json``."""
    out = Path(out)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    write_json_atomic(out.with_suffix(".json"), {
        "cache": str(cache),
        "checkpoints": [str(c) for c in checkpoints],
        "config": asdict(config),
        "n_samples": len(frame),
        "versions": library_versions(),
    })
    return out
