"""Training checkpoints: atomic save, validated load, model rebuild, compatibility checks.

A checkpoint is a dict saved with ``torch.save`` and loadable with ``weights_only=True``:

==================  ===========================================================================
key                 value
==================  ===========================================================================
format              ``CHECKPOINT_FORMAT`` (str)
model_name          name for ``models.create_model``
model_kwargs        keyword options for ``models.create_model`` (num_classes=1 implied; in_chans
                    from image_shape, 3 without it)
model               the model's state_dict (no DDP / torch.compile prefixes)
optimizer           AdamW state_dict
scheduler           timm ``CosineLRScheduler`` state_dict
scaler              ``torch.amp.GradScaler`` state_dict (disabled unless float16 AMP)
epoch               completed epochs (1 after the first)
global_step         optimiser steps taken
best_auc            best validation ROC AUC so far, best_epoch its epoch
epochs_since_best   epochs without improvement (early stopping counter)
history             list of the per-epoch metric rows (as in metrics.csv)
rng                 python / numpy / torch / cuda generator states after the epoch
config              resolved ``TrainConfig`` as a dict
world_size          number of training processes
cache_config_hash   the training cache's config hash, cache_config its configuration
cache_psd           the training cache's whitening PSD ``(3, F)`` float64 tensor (or None)
versions            ``runtime.provenance.library_versions()``
==================  ===========================================================================
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models import create_model
from preprocess.cache import CacheManifest
from preprocess.recipe import ImageRecipe
from runtime.provenance import atomic_path

CHECKPOINT_FORMAT = "gwspec-train-checkpoint-1"
REQUIRED_KEYS = (
    "model_name", "model_kwargs", "model", "config", "cache_config_hash", "cache_config",
    "versions", "epoch",
)
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DDP and torch.compile wrappers


def rng_states() -> dict[str, Any]:
    """Every global random generator's state, in tensors and plain types (weights_only-safe)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (global state)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "cached_gaussian": cached},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of ``rng_states`` (CUDA states only when this machine has the same GPUs)."""
    random.setstate(states["python"])
    n = states["numpy"]
    np.random.set_state(  # noqa: NPY002 (global state)
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
         n["cached_gaussian"])
    )
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def unwrap_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip DDP (``module.``) and torch.compile (``_orig_mod.``) prefixes from parameter names."""
    out = {}
    for key, value in state.items():
        while key.startswith(_WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        out[key] = value
    return out


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` atomically (temporary name, then rename) and return its path."""
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {', '.join(missing)}")
    path = Path(path)
    # Serialised in memory first: its size is checked against the free space, and a disk that
    # fills anyway fails a plain write (a DiskFullError), not torch's archive writer.
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **checkpoint}, buffer)
    data = buffer.getbuffer()
    with atomic_path(path, len(data)) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint; ``FileNotFoundError`` / ``ValueError`` naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for a truncated or foreign file
        # torch's own text is advice for code that calls torch.load, not for this command's user
        raise ValueError(f"{path}: not a gwspec checkpoint, or a damaged one (give best.pt or "
                         "last.pt from a pipeline train run directory)") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a gwspec training checkpoint (format {CHECKPOINT_FORMAT})")
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return checkpoint


def build_model(checkpoint: dict[str, Any]) -> nn.Module:
    """The checkpoint's architecture with its weights loaded (on the CPU, train mode); its input
    channels are the training images' (one per detector)."""
    in_chans = int(checkpoint.get("image_shape", [3])[0])
    model = create_model(checkpoint["model_name"], in_chans=in_chans,
                         **checkpoint["model_kwargs"])
    model.load_state_dict(unwrap_state_dict(checkpoint["model"]))
    return model


def load_model_from_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the checkpoint's model on ``device`` in eval mode; returns (model, checkpoint)."""
    checkpoint = load_checkpoint(path)
    try:
        model = build_model(checkpoint)
    except RuntimeError as error:  # state_dict of another architecture
        raise ValueError(f"{path}: weights do not fit model {checkpoint['model_name']!r} "
                         f"({str(error).splitlines()[0]})") from error
    return model.to(device).eval(), checkpoint


def checkpoint_recipe(checkpoint: dict[str, Any]) -> ImageRecipe:
    """The image recipe of the model's training cache: how its inputs must be made."""
    return ImageRecipe.from_config(checkpoint["cache_config"])


def check_cache_compatible(checkpoint: dict[str, Any], manifest: CacheManifest,
                           same_psd: bool = False) -> None:
    """Raise ``ValueError`` naming the settings where ``manifest``'s cache differs from training.

    Images made another way (sample rate, CQT bins, band-pass, taper, normalisation, ...) would
    be silently misread by the model, so they are refused. The contract is the image recipe
    with its whitening *method* (``ImageRecipe.differences``): a cache whitened the same way
    with another PSD (another data set's own noise) is accepted, unless ``same_psd`` (resuming
    a training run on the same data); ``psd_distance`` says how far the two PSDs are.
    """
    if checkpoint["cache_config_hash"] == manifest.config_hash:
        return
    trained, held = checkpoint_recipe(checkpoint), manifest.recipe
    if trained.detectors != held.detectors:
        raise ValueError(f"{manifest.root}: the model was trained on detectors "
                         f"{' '.join(trained.detectors)}, the cache holds "
                         f"{' '.join(held.detectors)}: build a cache of the model's detectors, "
                         "or train a model on these")
    diffs = trained.differences(held, ignore_psd=not same_psd)
    psd = (checkpoint["cache_config"].get("psd_sha256"), manifest.config.get("psd_sha256"))
    if same_psd and psd[0] != psd[1]:
        diffs.append(f"psd_sha256: {psd[0]!r} -> {psd[1]!r}")
    if not diffs:  # the same images (the format version says how they are stored)
        return
    hint = ""
    if trained.normalize != held.normalize:
        hint = (f"; build this cache with --normalize {trained.normalize.method}, as the "
                "model's training cache was")
    raise ValueError(
        f"{manifest.root}: cache configuration differs from the one the model was trained on "
        f"(checkpoint -> cache: {'; '.join(diffs)}){hint}"
    )


def psd_distance(checkpoint: dict[str, Any], manifest: CacheManifest) -> dict[str, Any] | None:
    """How far the cache's whitening PSD is from the training cache's, per detector: the
    median and the largest ``|ln(S_cache / S_train)|`` over the band-pass band (0 for the same
    PSD; 0.1 is about 10% in power). None when either PSD is unknown."""
    trained = checkpoint.get("cache_psd")
    if trained is None or manifest.psd is None:
        return None
    trained = np.asarray(trained, dtype=np.float64)
    if trained.shape != manifest.psd.shape:
        return None
    whiten = manifest.recipe.whiten
    freqs = whiten.frequencies
    high = whiten.bandpass_high or freqs[-1]
    band = (freqs >= max(whiten.bandpass_low, freqs[1])) & (freqs <= high)
    band &= (trained > 0).all(axis=0) & (manifest.psd > 0).all(axis=0)
    log_ratio = np.abs(np.log(manifest.psd[:, band] / trained[:, band]))  # (3, K)
    return {"band_hz": [float(freqs[band][0]), float(freqs[band][-1])],
            "median_abs_log_ratio": np.median(log_ratio, axis=1).round(4).tolist(),
            "max_abs_log_ratio": log_ratio.max(axis=1).round(4).tolist()}
