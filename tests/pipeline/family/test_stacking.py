"""Ensemble stacking: a known answer on synthetic scores, no leakage, weights files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from pipeline.family.stacking import (
    StackWeights,
    apply_stack,
    fit_stack,
    frame_logits,
    load_weights,
    member_matrix,
    save_weights,
    to_logits,
)

TRUE_COEF, TRUE_INTERCEPT = np.array([2.0, 0.5, 0.0]), -0.5


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Members' logits x ``(3, n)`` with P(signal) = sigmoid(-0.5 + 2 x_0 + 0.5 x_1): the
    stack's true weights are (2, 0.5, 0) with intercept -0.5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, n))
    targets = (rng.random(n) < expit(TRUE_INTERCEPT + TRUE_COEF @ x)).astype(int)
    return x, targets


def test_stack_recovers_known_weights() -> None:
    logits, targets = synthetic(40_000)
    weights, held_out = fit_stack(logits, targets, ["a", "b", "noise"], c=1e4)
    assert weights.members == ["a", "b", "noise"]
    # maximum-likelihood weights err by the square root of the inverse Fisher information's
    # diagonal (0.013-0.021 here): 5 standard errors each
    design = np.vstack([np.ones(len(targets)), logits]).T  # (N, 1 + members)
    p = expit(design @ np.r_[TRUE_INTERCEPT, TRUE_COEF])
    se = np.sqrt(np.diag(np.linalg.inv(design.T @ (design * (p * (1 - p))[:, None]))))
    assert np.all(np.abs(np.asarray(weights.coef) - TRUE_COEF) < 5 * se[1:]), weights.coef
    assert weights.intercept == pytest.approx(TRUE_INTERCEPT, abs=5 * se[0])
    truth = roc_auc_score(targets, TRUE_COEF @ logits)
    assert weights.cv_auc == pytest.approx(truth, abs=0.003)
    assert roc_auc_score(targets, held_out) == pytest.approx(weights.cv_auc)
    expected = expit(weights.intercept + np.asarray(weights.coef) @ logits)
    assert apply_stack(weights, logits) == pytest.approx(expected)


def test_stack_is_scored_without_leaking() -> None:
    """Twenty members of pure noise: a regression scored on its own training samples finds
    signal that is not there; the cross-validated score does not."""
    rng = np.random.default_rng(3)
    logits, targets = rng.normal(size=(20, 200)), np.arange(200) % 2
    weights, held_out = fit_stack(logits, targets, [f"m{i}" for i in range(20)], c=1e4)
    in_sample = roc_auc_score(targets, apply_stack(weights, logits))
    assert in_sample > 0.65
    assert weights.cv_auc < 0.56 and weights.cv_auc < in_sample - 0.1
    assert not np.allclose(held_out, apply_stack(weights, logits))


def test_saturated_probabilities_keep_their_order() -> None:
    """A briefly trained network may put every sample above 1 - 1e-13: the logits the stack
    sees must still tell them apart."""
    probs = np.array([1 - 1e-13, 1 - 1e-14, 1 - 1e-15, 1.0, 0.0])
    logits = to_logits(probs)
    assert np.isfinite(logits).all() and np.all(np.diff(logits[:4]) > 0)
    frame = pd.DataFrame({"id": ["a", "b"], "target": [1.0, 1.0], "logit": [40.0, 50.0]})
    assert frame_logits(frame) == pytest.approx([40.0, 50.0])  # exact logits preferred
    assert frame_logits(frame.drop(columns="logit")) == pytest.approx(to_logits([1.0, 1.0]))


def test_stack_errors() -> None:
    logits, targets = synthetic(50)
    weights, _ = fit_stack(logits, targets, ["a", "b", "c"])
    with pytest.raises(ValueError, match="2 members' predictions for 3 weights"):
        apply_stack(weights, logits[:2])
    with pytest.raises(ValueError, match="2 member names for 3 rows"):
        fit_stack(logits, targets, ["a", "b"])
    with pytest.raises(ValueError, match="both classes twice"):
        fit_stack(logits[:, :3], np.array([0, 0, 1]), ["a", "b", "c"])
    with pytest.raises(ValueError, match="expected logits of shape"):
        fit_stack(logits[0], targets, ["a"])


def test_weights_round_trip_with_relative_checkpoints(tmp_path) -> None:
    family = tmp_path / "family"
    weights = StackWeights(["r16", "mnv3"], [1.5, 0.25], -0.1,
                           {"r16": [str(family / "r16/fold0/best.pt")],
                            "mnv3": [str(family / "mnv3/fold0/best.pt")]}, cv_auc=0.9)
    path = save_weights(family / "ensemble_weights.json", weights)
    stored = json.loads(path.read_text())
    assert stored["checkpoints"]["r16"] == ["r16/fold0/best.pt"]  # the folder can move
    moved = tmp_path / "moved"
    family.rename(moved)
    loaded = load_weights(moved / "ensemble_weights.json")
    assert loaded.coef == [1.5, 0.25] and loaded.intercept == -0.1 and loaded.cv_auc == 0.9
    assert loaded.checkpoints["mnv3"] == [str(moved / "mnv3/fold0/best.pt")]


def test_weights_file_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no.json: no such ensemble weights file"):
        load_weights(tmp_path / "no.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json: not JSON"):
        load_weights(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"coef": [1]}')
    with pytest.raises(ValueError, match="other.json: not a gwspec ensemble weights file"):
        load_weights(tmp_path / "other.json")


def test_member_matrix_aligns_ids_and_refuses_others() -> None:
    a = pd.DataFrame({"id": ["x", "y", "z"], "p": [0.1, 0.2, 0.3]})
    b = pd.DataFrame({"id": ["z", "x", "y"], "p": [0.9, 0.7, 0.8]})
    ids, matrix = member_matrix({"a": a, "b": b}, "p")
    assert ids.tolist() == ["x", "y", "z"]
    assert matrix == pytest.approx(np.array([[0.1, 0.2, 0.3], [0.7, 0.8, 0.9]]))
    with pytest.raises(ValueError, match="c: predictions cover other ids than a's"):
        member_matrix({"a": a, "c": b.assign(id=["z", "x", "w"])}, "p")
