"""preprocess inspect: the manifest table and the example grid."""

from __future__ import annotations

import re

import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from preprocess.cache import read_manifest, write_cache
from preprocess.cli import main
from preprocess.dataset import SpectrogramCache
from preprocess.inspect import manifest_table


def _cache(tmp_path, targets):
    rng = np.random.default_rng(1)
    n = len(targets)
    images = rng.random((n, 3, 69, 129)).astype(np.float16)
    ids = [f"id{i:04d}" for i in range(n)]
    config = {"cqt": {"fmin": 20.0, "bins_per_octave": 12, "hop_length": 32,
                      "sample_rate": 2048}, "whiten": {"bandpass_low": 20.0,
                                                        "bandpass_high": 500.0}}
    psd = np.full((3, 2049), 1e-46)
    write_cache(tmp_path / "cache", images, ids, np.array(targets), config, psd=psd,
                shard_size=4, info={"split": "test", "psd_source": "unit test"},
                rejected={"idbad": "holds NaN or infinite values"})
    return tmp_path / "cache", ids


def test_table_names_what_matters(tmp_path):
    root, _ = _cache(tmp_path, [1, 0, 1, 0, 0])
    cache = SpectrogramCache(root)
    table = manifest_table(read_manifest(root), cache.targets)
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in table.splitlines())
    assert rows["samples"] == "5" and rows["shards"] == "2" and rows["rejected"] == "1"
    assert rows["image shape"] == "3x69x129 float16" and rows["targets"] == "noise 3, signal 2"
    assert rows["idbad"] == "holds NaN or infinite values" and rows["cqt.fmin"] == "20.0"
    assert rows["PSD source"] == "unit test" and "nnAudio" in rows["versions"]
    assert rows["PSD range"].startswith("ASD 20-500 Hz: H1 1.00e-23..1.00e-23")


def test_png_grid_with_injections(tmp_path, capsys):
    root, ids = _cache(tmp_path, [-1] * 6)
    injections = tmp_path / "injections.csv"
    pd.DataFrame({"id": ids, "split": "test", "target": [1, 0, 1, 0, 1, 0],
                  "snr_network": [9.5, np.nan, 4.25, np.nan, 12.0, np.nan]}).to_csv(
        injections, index=False)
    code = main(["inspect", str(root), "--png", str(tmp_path / "grid.png"), "--injections",
                 str(injections), "--examples", "2"])
    assert code == 0 and "unknown 6" in capsys.readouterr().out
    pixels = mpimg.imread(tmp_path / "grid.png")
    assert pixels.shape[0] > 300 and pixels.shape[1] > 1000  # 2 rows x (3 + 3) panels
    assert pixels[..., :3].std() > 0.05  # not blank
    assert main(["inspect", str(tmp_path / "nothing")]) == 2
