"""Prediction from cached spectrograms: one or more checkpoints, ensembling and LIGO-swap TTA.

Every checkpoint must have been trained on a cache made the same way as the one read here
(``pipeline.classifier.checkpoint.check_cache_compatible``): the same image recipe, CQT,
band-pass and normalisation, whitened the same way, though possibly by another PSD (a data
set whitened by its own noise); how far that PSD is from the training one is recorded in the
prediction's provenance. All
models see each batch once, so the cache is read a single time whatever the number of
checkpoints.

Test-time augmentation averages the probabilities of each image and of the image with its H1
and L1 channels exchanged: the two LIGO detectors are nearly alike, so a model should not care
which is which. The sign flip used on raw strain is no augmentation here: a CQT magnitude is
unchanged by it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.special import expit, logit, logsumexp
from scipy.stats import rankdata
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler
from tqdm import tqdm

from pipeline.classifier.checkpoint import (
    check_cache_compatible,
    load_model_from_checkpoint,
    psd_distance,
)
from pipeline.classifier.config import ENSEMBLE_METHODS, PredictConfig
from pipeline.classifier.precision import Precision
from pipeline.training.augment import check_ligo_pair
from preprocess.cache import CacheManifest, read_manifest
from preprocess.dataset import SpectrogramCache, collate_batch
from preprocess.layout import label_file, read_split
from runtime import devices
from runtime.errors import ignore_interrupt
from runtime.outputs import PRODUCER, claim_file
from runtime.provenance import atomic_path, library_versions, write_json_atomic

log = logging.getLogger(__name__)

H1, L1 = 0, 1  # channels of the LIGO detectors in (B, 3, F, T)


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
    """``(B, 3, F, T)`` with channels H1 and L1 exchanged (V1 kept), in the input's memory
    format and with no index data copied from the host."""
    swapped = images.clone(memory_format=torch.preserve_format)
    swapped[:, H1], swapped[:, L1] = images[:, L1], images[:, H1]
    return swapped


def mean_probability_logit(logits: np.ndarray, axis: int = 0) -> np.ndarray:
    """The logit of the mean of ``sigmoid(logits)`` along ``axis``, computed in log space.

    Equal to ``logit(mean(p))`` but exact where float64 probabilities round to 1.0 (logits above
    ~37), so the most confident predictions keep their order.
    """
    logits = np.asarray(logits, dtype=np.float64)
    log_n = math.log(logits.shape[axis])
    log_p = logsumexp(-np.logaddexp(0.0, -logits), axis=axis) - log_n  # log mean(p)
    log_q = logsumexp(-np.logaddexp(0.0, logits), axis=axis) - log_n  # log mean(1 - p)
    return log_p - log_q


@torch.inference_mode()
def predict_logits(
    models: Sequence[nn.Module], loader: DataLoader, precision: Precision | None = None,
    tta: bool = False, progress: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Ids in loader order and logits ``(M, N)``, one row per model (with ``tta``: the logit of
    the probability averaged over the views).

    Each batch goes to the device once (``precision.to_device``; default: full precision on
    the CPU) and every model sees it under ``precision.autocast()``; logits stay on the device
    until the end, so no batch waits for the previous one's results.
    """
    precision = precision or Precision(torch.device("cpu"))
    ids: list[str] = []
    rows: list[list[torch.Tensor]] = [[] for _ in models]
    for images, _, batch_ids in tqdm(loader, desc="predict", disable=not progress):
        images = precision.to_device(images)  # (B, 3, F, T) float32
        views = [images, swap_ligo_channels(images)] if tta else [images]
        with precision.autocast():
            for row, model in zip(rows, models, strict=True):
                row.append(torch.stack([model(v).view(-1).float() for v in views]))  # (V, B)
        ids.extend(batch_ids)
    logits = [torch.cat(r, dim=1).double().cpu().numpy() if r else np.zeros((1, 0))
              for r in rows]  # each (V, N)
    return ids, np.stack([mean_probability_logit(v, axis=0) for v in logits])


def predict_probabilities(
    models: Sequence[nn.Module], loader: DataLoader, precision: Precision | None = None,
    tta: bool = False, progress: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Ids in loader order and probabilities ``(M, N)`` in float64, one row per model."""
    ids, logits = predict_logits(models, loader, precision, tta, progress)
    return ids, expit(logits)


def cache_loader(dataset: SpectrogramCache, batch_size: int, precision: Precision,
                 workers: int = 0) -> DataLoader:
    """Batches of a float16 cache in order: whole-batch reads (no per-sample collation),
    pinned for an overlapping copy when the device is a GPU."""
    batches = BatchSampler(SequentialSampler(dataset), batch_size, drop_last=False)
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate_batch,
                      num_workers=workers, pin_memory=precision.device.type == "cuda",
                      worker_init_fn=ignore_interrupt if workers else None)


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


def align(ids: Sequence[str], frame: pd.DataFrame, order: pd.Series, source: str,
          rejected: Mapping[str, str] | None = None, fill: float | None = None) -> pd.DataFrame:
    """The rows of ``frame`` (one per id of ``ids``) re-ordered to ``order``, with an ``id``
    column first.

    Refuses cached ids that ``order`` lacks. Ids of ``order`` with no prediction (samples that
    ``build-cqt --skip-bad`` rejected: ``rejected`` gives the reasons) are refused too, unless
    ``fill`` is given: they then get probability ``fill``.
    """
    frame = frame.set_index(pd.Index(ids, dtype=str))
    extra = ~frame.index.isin(order)
    if extra.any():
        raise ValueError(f"{source}: lacks {int(extra.sum())} cached id(s), first "
                         f"{frame.index[extra][0]!r}")
    missing = order[~order.isin(frame.index)]
    if len(missing) and fill is None:
        first = missing.iloc[0]
        reason = (rejected or {}).get(first, "not in the cache")
        raise ValueError(
            f"{source}: {len(missing)} id(s) have no prediction, first {first!r} ({reason}); "
            "fix those samples and rebuild the cache, or pass --fill-missing P to give them "
            "probability P"
        )
    if len(missing):
        log.warning("%s: %d id(s) rejected by build-cqt get probability %g, first %r", source,
                    len(missing), fill, missing.iloc[0])
        filler = {"target": fill, **({"logit": logit(fill)} if "logit" in frame else {})}
        frame = pd.concat([frame, pd.DataFrame(filler, index=pd.Index(missing, dtype=str))])
    return frame.loc[order.to_numpy()].rename_axis("id").reset_index()


def _expected_ids(manifest: CacheManifest, split: str, data: str | Path | None) -> pd.Series:
    """The ids a prediction of ``split`` must cover, from ``data`` or the data the cache was
    built from; empty (the cache's own ids) when that data is gone and nothing was rejected."""
    recorded = manifest.info.get("data")
    if data is not None:
        return read_split(data, split)["id"]
    if recorded and label_file(recorded, split).is_file():
        return read_split(recorded, split)["id"]
    rejected = {i: r for i, r in manifest.rejected.items() if not r.startswith("id missing")}
    if rejected:
        first = next(iter(rejected))
        raise ValueError(
            f"{manifest.root}: build-cqt rejected {len(rejected)} sample(s) (first {first!r}: "
            f"{rejected[first]}) and the data it was built from ({recorded}) is gone; pass "
            "--data with the data directory so the submission lists every id"
        )
    return pd.Series([], dtype=str)


def predict(
    cache: str | Path, split: str, checkpoints: Sequence[str | Path],
    config: PredictConfig | None = None, data: str | Path | None = None, progress: bool = True,
    fill: float | None = None,
) -> pd.DataFrame:
    """Ensembled probabilities as an ``id,target[,logit]`` frame, every id of the split's CSV.

    Rows follow the split's CSV (the sample submission for test) of ``data``, or of the data
    the cache was built from. ``logit`` (mean ensemble) is the logit of ``target``, exact where
    ``target`` rounds to 1.0: rank by it. Ids the cache lacks are refused unless ``fill`` gives
    their probability (see ``align``).
    """
    config = config or PredictConfig()
    if not checkpoints:
        raise ValueError("no checkpoint given")
    ensemble([np.zeros(1)], config.ensemble)  # reject an unknown method before the work
    root = resolve_cache(cache, split)
    dataset = SpectrogramCache(root, dtype=torch.float16)  # as stored; float32 on the device
    if config.tta:
        check_ligo_pair(dataset.manifest.detectors, "--tta")
    device = devices.resolve_device(config.device)
    devices.prepare(device, benchmark=True)  # one image shape throughout
    config = config.for_device(device.type)
    precision = Precision.for_inference(device, config.amp, config.channels_last)
    models, distances = [], {}
    for path in checkpoints:
        model, checkpoint = load_model_from_checkpoint(path)
        try:
            check_cache_compatible(checkpoint, dataset.manifest)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        distances[str(path)] = psd_distance(checkpoint, dataset.manifest)
        models.append(precision.prepare_model(model))
    loader = cache_loader(dataset, config.batch_size, precision, config.num_workers)
    ids, logits = predict_logits(models, loader, precision, config.tta, progress)
    bad = ~np.isfinite(logits).all(axis=1)
    if bad.any():
        raise ValueError(f"{checkpoints[int(np.argmax(bad))]}: the model predicts NaN or "
                         "infinite scores; its weights are damaged or training diverged")
    if config.ensemble == "mean":
        score = mean_probability_logit(logits, axis=0)  # (N,) exact order at any confidence
        frame = pd.DataFrame({"target": expit(score), "logit": score})
    else:
        frame = pd.DataFrame({"target": ensemble(list(logits), config.ensemble)})
    order = _expected_ids(dataset.manifest, split, data)
    if not len(order):  # the built-from data is gone and the cache lacks nothing
        out = frame.assign(id=ids)[["id", *frame.columns]]
    else:
        source = f"{data or dataset.manifest.info.get('data')} ({split} ids)"
        out = align(ids, frame, order, source, dataset.manifest.rejected, fill)
    out.attrs["whitening"] = {  # recorded in the prediction's provenance
        "cache_psd_source": dataset.manifest.info.get("psd_source"),
        "psd_distance_to_training": distances}
    out.attrs["ran"] = {"device": str(device), "batch_size": config.batch_size,
                        "num_workers": config.num_workers,
                        "precision": str(precision.amp_dtype or "float32").removeprefix("torch."),
                        "channels_last": precision.channels_last}
    return out


def write_predictions(
    frame: pd.DataFrame, out: str | Path, config: PredictConfig,
    checkpoints: Sequence[str | Path], cache: str | Path,
) -> Path:
    """Write the submission CSV atomically and its provenance as ``out`` with ``.json``."""
    out = claim_file(out, "predictions")
    with atomic_path(out, 64 * (len(frame) + 1)) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.17g")
    write_json_atomic(out.with_suffix(".json"), {
        "producer": PRODUCER,
        "cache": str(cache),
        "checkpoints": [str(c) for c in checkpoints],
        "config": asdict(config),
        "n_samples": len(frame),
        **({"whitening": frame.attrs["whitening"]} if "whitening" in frame.attrs else {}),
        **({"ran": frame.attrs["ran"]} if "ran" in frame.attrs else {}),
        "versions": library_versions(),
    })
    return out
