"""nnAudio's CQT as configured here: image shape, and agreement with librosa."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
from scipy.signal import chirp

from preprocess.cqt import CQT, CQTConfig
from preprocess.layout import N_TIME, SAMPLE_RATE


def test_default_image_shape():
    cqt = CQT(CQTConfig())
    assert cqt.n_bins == 69
    assert cqt.image_shape(3, N_TIME) == (3, 69, 129)
    images = cqt(torch.randn(2, 3, N_TIME))
    assert images.shape == (2, 3, 69, 129)
    assert torch.isfinite(images).all() and (images >= 0).all()


def test_chirp_agrees_with_librosa():
    t = np.arange(N_TIME) / SAMPLE_RATE
    x = chirp(t, f0=30, t1=2.0, f1=400, method="logarithmic").astype(np.float32)
    ours = CQT(CQTConfig())(torch.from_numpy(x)[None, None])[0, 0].numpy()  # (69, 129)
    # librosa refuses bins whose wavelets reach past Nyquist: compare the lowest 57 (20-507 Hz).
    n_bins = 57
    theirs = np.abs(librosa.cqt(x, sr=SAMPLE_RATE, hop_length=32, fmin=20.0, n_bins=n_bins,
                                bins_per_octave=12, norm=1, window="hann", pad_mode="reflect"))
    inner = slice(8, -8)  # frames away from the padded edges
    a, b = ours[:n_bins, inner], theirs[:, inner]
    correlation = np.corrcoef((a / a.max()).ravel(), (b / b.max()).ravel())[0, 1]
    assert correlation >= 0.98
    # the ridge follows the chirp: the loudest bin rises with time
    ridge = a.argmax(axis=0)
    assert ridge[-1] - ridge[0] > 30 and np.all(np.diff(ridge) >= -1)


def test_log_scaling_and_config_checks():
    x = torch.randn(1, 3, N_TIME)
    magnitude = CQT(CQTConfig())(x)
    logged = CQT(CQTConfig(scaling="log"))(x)
    torch.testing.assert_close(logged, torch.log1p(magnitude))
    with pytest.raises(ValueError, match="scaling"):
        CQTConfig(scaling="db")
    with pytest.raises(ValueError, match="fmin < fmax"):
        CQTConfig(fmin=600, fmax=500)
