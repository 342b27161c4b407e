"""Ensembles of several models' probabilities: mean, mean of ranks, and a fitted stack.

The stack is a logistic regression on the members' logits, fitted on out-of-fold predictions
(each made by a model that never trained on that sample). Its own score must not leak either:
``fit_stack`` also returns cross-validated stacked predictions, each from a regression fitted
without that sample, and it is those that are scored. The regression fitted on all the
out-of-fold predictions is what is saved (``save_weights``, JSON) and applied to new data
(``predict_with_weights``, ``pipeline predict --weights``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from pipeline.classifier.config import PredictConfig
from pipeline.classifier.predict import predict
from runtime.provenance import library_versions, write_json_atomic

ENSEMBLES = ("mean", "rank", "stack")
WEIGHTS_FORMAT = "gwspec-stack-weights-1"
# Probabilities are clipped to [EPS, 1 - EPS] before the logit: float64 keeps logits up to ~36.7
# (a briefly trained network can put every sample above 1 - 1e-13; a coarser clip erases it).
EPS = 1e-16


@dataclass
class StackWeights:
    """A fitted stack: ``p = sigmoid(intercept + sum_m coef[m] * logit_m)``."""

    members: list[str]  # member names, in the order of ``coef``
    coef: list[float]  # one weight per member
    intercept: float
    checkpoints: dict[str, list[str]] = field(default_factory=dict)  # member -> its checkpoints
    cv_auc: float | None = None  # ROC AUC of the cross-validated stacked predictions
    c: float = 1.0  # inverse L2 strength of the regression


def to_logits(probs: np.ndarray) -> np.ndarray:
    """Logits of probabilities (any shape), clipped to [EPS, 1 - EPS] first."""
    return logit(np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS))


def features(logits: np.ndarray) -> np.ndarray:
    """Members' logits ``(M, N)`` -> the stack's inputs ``(N, M)``."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape (members, samples), got {logits.shape}")
    return logits.T


def fit_stack(logits: np.ndarray, targets: np.ndarray, members: Sequence[str], *,
              folds: int = 5, seed: int = 0, c: float = 1.0) -> tuple[StackWeights, np.ndarray]:
    """Fit the stack on out-of-fold ``logits`` ``(M, N)``; returns the weights fitted on all
    samples and the cross-validated stacked probabilities ``(N,)``."""
    x, y = features(logits), np.asarray(targets, dtype=np.int64)
    if len(members) != x.shape[1]:
        raise ValueError(f"{len(members)} member names for {x.shape[1]} rows of probabilities")
    smallest = int(np.bincount(y, minlength=2).min()) if len(y) else 0
    if smallest < 2:
        raise ValueError(f"stacking needs both classes twice at least, the targets hold "
                         f"{smallest} of one")
    cv = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    model = LogisticRegression(C=c, max_iter=1000)
    held_out = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    model.fit(x, y)
    weights = StackWeights(list(members), [float(w) for w in model.coef_[0]],
                           float(model.intercept_[0]), cv_auc=float(roc_auc_score(y, held_out)),
                           c=c)
    return weights, held_out


def apply_stack(weights: StackWeights, logits: np.ndarray) -> np.ndarray:
    """Stacked probabilities ``(N,)`` of members' logits ``(M, N)`` (``weights.members``
    order)."""
    x = features(logits)
    if x.shape[1] != len(weights.coef):
        raise ValueError(f"{x.shape[1]} members' predictions for {len(weights.coef)} weights")
    return expit(weights.intercept + x @ np.asarray(weights.coef))


def save_weights(path: str | Path, weights: StackWeights) -> Path:
    """Write the weights as JSON; checkpoint paths are stored relative to the file's folder."""
    path = Path(path)
    data = asdict(weights)
    data["checkpoints"] = {m: [_relative(c, path.parent) for c in paths]
                           for m, paths in weights.checkpoints.items()}
    write_json_atomic(path, {"format": WEIGHTS_FORMAT, **data, "versions": library_versions()})
    return path


def _relative(path: str | Path, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def load_weights(path: str | Path) -> StackWeights:
    """Read ``save_weights``' file; checkpoint paths come back resolved against its folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ensemble weights file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from error
    if not isinstance(data, dict) or data.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path}: not a gwspec ensemble weights file ({WEIGHTS_FORMAT})")
    try:
        weights = StackWeights(data["members"], data["coef"], data["intercept"],
                               data.get("checkpoints", {}), data.get("cv_auc"), data.get("c", 1))
    except KeyError as error:
        raise ValueError(f"{path}: lacks {error}") from error
    if len(weights.members) != len(weights.coef):
        raise ValueError(f"{path}: {len(weights.members)} members for {len(weights.coef)} weights")
    return replace(weights, checkpoints={m: [str(path.parent / c) for c in paths]
                                         for m, paths in weights.checkpoints.items()})


def predict_with_weights(
    cache: str | Path, split: str, weights_path: str | Path, config: PredictConfig | None = None,
    data: str | Path | None = None, progress: bool = True, fill: float | None = None,
) -> pd.DataFrame:
    """Apply saved stack weights to a cache: each member's checkpoints (mean over its folds),
    then the stack on their logits; an ``id,target`` frame in the row order of
    ``pipeline.classifier.predict.predict``."""
    weights = load_weights(weights_path)
    config = replace(config or PredictConfig(), ensemble="mean")
    frames = []
    for member in weights.members:
        checkpoints = weights.checkpoints.get(member)
        if not checkpoints:
            raise ValueError(f"{weights_path}: no checkpoints for member {member!r}")
        frames.append(predict(cache, split, checkpoints, config, data=data, progress=progress,
                              fill=fill))
    logits = np.stack([frame_logits(f) for f in frames])  # (M, N), same row order
    return pd.DataFrame({"id": frames[0]["id"], "target": apply_stack(weights, logits)})


def frame_logits(frame: pd.DataFrame, probability: str = "target") -> np.ndarray:
    """Logits ``(N,)`` of a predictions frame: its exact ``logit`` column where it has one, else
    those of its ``probability`` column (``prediction`` in an ``oof.csv``)."""
    if "logit" in frame.columns:
        return frame["logit"].to_numpy(dtype=np.float64)
    return to_logits(frame[probability].to_numpy())


def member_matrix(frames: Mapping[str, pd.DataFrame], column: str) -> tuple[pd.Series, np.ndarray]:
    """Ids of the first frame and ``column`` of every frame aligned to them: ``(M, N)``."""
    names = list(frames)
    ids = frames[names[0]]["id"].astype(str)
    rows = []
    for name in names:
        by_id = frames[name].assign(id=frames[name]["id"].astype(str)).set_index("id")[column]
        missing = ~ids.isin(by_id.index)
        if missing.any() or len(by_id) != len(ids):
            raise ValueError(f"{name}: predictions cover other ids than {names[0]}'s "
                             "(members must share folds and seed)")
        rows.append(by_id.loc[ids.to_numpy()].to_numpy(dtype=np.float64))
    return ids.reset_index(drop=True), np.stack(rows)
