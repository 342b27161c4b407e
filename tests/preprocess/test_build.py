"""The build-cqt job: round trip, resume after a crash, ranks, mismatches and bad input."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import preprocess.build as build_module
from preprocess.build import build_cache
from preprocess.cache import read_manifest
from preprocess.cli import main
from preprocess.config import BuildOptions, CQTConfig, NormalizeConfig, WhitenConfig
from preprocess.cqt import CQT
from preprocess.dataset import SpectrogramCache
from preprocess.layout import BadSampleError, load_sample, read_split, sample_path
from preprocess.normalize import SampleLevel
from preprocess.whiten import Whitener
from tests.preprocess.test_cache import damage_chunk
from tests.tolerances import assert_float16_close, median_float16_step

QUIET = BuildOptions(workers=0, progress=False, batch_size=4, shard_size=8)


def _tiny_layout(root, n=12, signals=(1, 3, 5, 7, 9, 10, 11)):
    """``n`` training samples of white noise (~1e-21), targets 1 at ``signals``."""
    rng = np.random.default_rng(7)
    ids = [f"{i:03d}f{i % 3}ab" for i in range(n)]
    for sample_id in ids:
        path = sample_path(root, "train", sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, rng.normal(scale=1e-21, size=(3, 4096)))
    targets = [int(i in signals) for i in range(n)]
    pd.DataFrame({"id": ids, "target": targets}).to_csv(root / "training_labels.csv", index=False)
    return ids


def _image_bytes(root):
    out = []
    for path in sorted(root.glob("shard-*.h5")):
        with h5py.File(path) as f:
            out.append((path.name, f["images"][...].tobytes(), f["ids"][...].tobytes()))
    return out


def _manifest_without_time(root):
    raw = json.loads((root / "manifest.json").read_text())
    raw.pop("created")
    return raw


@pytest.fixture(scope="module")
def train_cache(simulated_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("caches") / "train"
    options = BuildOptions(workers=2, progress=False, batch_size=8, shard_size=16)
    report = build_cache(simulated_data, "train", out, options=options)
    return out, report


def test_round_trip_matches_direct_computation(simulated_data, train_cache):
    out, report = train_cache
    assert report.built == [0, 1, 2] and report.manifest is not None
    manifest = read_manifest(out)
    frame = read_split(simulated_data, "train")
    cache = SpectrogramCache(out)
    assert list(cache.ids) == frame["id"].tolist()
    np.testing.assert_array_equal(cache.targets, frame["target"].to_numpy())
    assert manifest.image_shape == (3, 69, 129) and manifest.n_samples == 48
    assert "24 noise-only training samples" in manifest.info["psd_source"]

    whiten, cqt = WhitenConfig(), CQT(CQTConfig())
    level = SampleLevel(NormalizeConfig(), whiten)  # the default per-sample normalisation
    whitener = Whitener(manifest.psd, whiten, level)
    assert manifest.config["normalize"]["method"] == "sample-psd"
    for i, sample_id in enumerate(frame["id"]):
        raw = load_sample(sample_path(simulated_data, "train", sample_id))
        x = torch.from_numpy((raw / whiten.raw_scale).astype(np.float32))[None]
        with torch.no_grad():
            expected = cqt(whitener(x))[0].half().float()
        image, target, got_id = cache[i]
        assert got_id == sample_id and float(target) == frame["target"][i]
        # float16 on both sides (2 steps: the roundings, float32 summation order of a batch
        # of 8 against 1) + the whitening's absolute float32 error (rfft of the raw strain,
        # ~1e-4 of a typical pixel): below one float16 step at the median magnitude
        assert_float16_close(image, expected, floor=median_float16_step(expected), what=sample_id)


def test_test_split_reuses_training_psd(simulated_data, train_cache, tmp_path):
    out, _ = train_cache
    train = read_manifest(out)
    reused = build_cache(simulated_data, "test", tmp_path / "a", options=QUIET, psd_from=out)
    default = build_cache(simulated_data, "test", tmp_path / "b", options=QUIET)
    for report in (reused, default):
        np.testing.assert_array_equal(report.manifest.psd, train.psd)
        assert report.manifest.config_hash == train.config_hash  # same processing as train
        assert report.manifest.n_samples == 16
        assert set(SpectrogramCache(report.manifest.root).targets) == {-1}
    assert str(out.resolve()) in reused.manifest.info["psd_source"]
    assert "training samples" in default.manifest.info["psd_source"]


def test_interrupted_build_resumes_identically(tmp_path, monkeypatch):
    _tiny_layout(tmp_path / "data", n=30)
    clean = build_cache(tmp_path / "data", "train", tmp_path / "clean", options=QUIET)
    assert clean.built == [0, 1, 2, 3]

    real_write, written = build_module.write_shard, []

    def crash_on_third(path, *args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt("killed")
        written.append(path)
        real_write(path, *args, **kwargs)

    monkeypatch.setattr(build_module, "write_shard", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_cache(tmp_path / "data", "train", tmp_path / "resumed", options=QUIET)
    monkeypatch.undo()
    left = sorted(p.name for p in (tmp_path / "resumed").iterdir())
    # no temporary file
    assert left == [".gwspec", ".gwspec.lock", "build.json", "psd.npy", "shard-00000.h5",
                    "shard-00001.h5"]

    resumed = build_cache(tmp_path / "data", "train", tmp_path / "resumed", options=QUIET)
    assert resumed.skipped == [0, 1] and resumed.built == [2, 3]
    assert _image_bytes(tmp_path / "resumed") == _image_bytes(tmp_path / "clean")
    assert _manifest_without_time(tmp_path / "resumed") == _manifest_without_time(
        tmp_path / "clean")
    again = build_cache(tmp_path / "data", "train", tmp_path / "resumed", options=QUIET)
    assert again.built == [] and again.skipped == [0, 1, 2, 3]


def test_ranks_build_disjoint_shards(tmp_path):
    _tiny_layout(tmp_path / "data", n=30)
    single = build_cache(tmp_path / "data", "train", tmp_path / "one", options=QUIET)
    opts = {**vars(QUIET), "world_size": 2}
    first = build_cache(tmp_path / "data", "train", tmp_path / "two",
                        options=BuildOptions(**{**opts, "rank": 1}))
    assert first.built == [1, 3] and first.manifest is None  # rank 0's shards are missing
    assert not (tmp_path / "two" / "manifest.json").exists()
    last = build_cache(tmp_path / "data", "train", tmp_path / "two",
                       options=BuildOptions(**{**opts, "rank": 0}))
    assert last.built == [0, 2] and last.manifest is not None  # the last rank finishes it
    assert _image_bytes(tmp_path / "two") == _image_bytes(tmp_path / "one")
    assert last.manifest.config_hash == single.manifest.config_hash


def test_other_settings_are_refused(tmp_path):
    _tiny_layout(tmp_path / "data")
    build_cache(tmp_path / "data", "train", tmp_path / "c", options=QUIET)
    with pytest.raises(ValueError, match=r"cqt\.hop_length: cache has 32, requested 64"):
        build_cache(tmp_path / "data", "train", tmp_path / "c", CQTConfig(hop_length=64),
                    options=QUIET)
    with pytest.raises(ValueError, match=r"layout\.shard_size"):
        build_cache(tmp_path / "data", "train", tmp_path / "c",
                    options=BuildOptions(**{**vars(QUIET), "shard_size": 4}))
    code = main(["build-cqt", "--data", str(tmp_path / "data"), "--split", "train", "--out",
                 str(tmp_path / "c"), "--shard-size", "8", "--taper-alpha", "0.2",
                 "--no-progress", "--workers", "0"])
    assert code == 2


def _spoil(root, ids, kind):
    """Make one sample of shard 1 (rows 8-11) bad; returns (id, expected reason fragment)."""
    if kind == "shape":
        np.save(sample_path(root, "train", ids[9]), np.zeros((3, 4000)))
        return ids[9], "shape (3, 4000)"
    if kind == "nan":
        array = np.load(sample_path(root, "train", ids[11]))
        array[1, 100] = np.nan
        np.save(sample_path(root, "train", ids[11]), array)
        return ids[11], "NaN"
    if kind == "missing":
        sample_path(root, "train", ids[10]).unlink()
        return ids[10], "missing"
    if kind == "empty":
        sample_path(root, "train", ids[9]).write_bytes(b"")
        return ids[9], "unreadable .npy"
    if kind == "int16":
        np.save(sample_path(root, "train", ids[10]), np.ones((3, 4096), np.int16))
        return ids[10], "dtype int16"
    extra = sample_path(root, "train", "fffnolabel")
    extra.parent.mkdir(parents=True, exist_ok=True)
    np.save(extra, np.zeros((3, 4096)))
    return "fffnolabel", "missing from training_labels.csv"


@pytest.mark.parametrize("kind", ["shape", "nan", "missing", "empty", "int16", "unlabelled"])
def test_bad_sample_stops_with_its_name(tmp_path, capsys, kind):
    ids = _tiny_layout(tmp_path / "data")
    bad_id, reason = _spoil(tmp_path / "data", ids, kind)
    with pytest.raises(BadSampleError, match=re.escape(reason)) as caught:
        build_cache(tmp_path / "data", "train", tmp_path / "c", options=QUIET)
    assert caught.value.sample_id == bad_id and bad_id in str(caught.value.path)
    if kind != "unlabelled":  # found while building shard 1: shard 0 survives
        assert (tmp_path / "c" / "shard-00000.h5").is_file()
        assert not (tmp_path / "c" / "shard-00001.h5").exists()
    code = main(["build-cqt", "--data", str(tmp_path / "data"), "--split", "train", "--out",
                 str(tmp_path / "c"), "--shard-size", "8", "--batch-size", "4", "--workers", "1",
                 "--no-progress"])  # read in a DataLoader worker: still one line
    err = capsys.readouterr().err
    assert code == 2 and bad_id in err and len(err.strip().splitlines()) == 1


def test_skip_bad_records_every_rejection(tmp_path, caplog):
    ids = _tiny_layout(tmp_path / "data")
    spoiled = dict(_spoil(tmp_path / "data", ids, kind)
                   for kind in ("shape", "nan", "missing", "unlabelled"))
    with pytest.raises(BadSampleError):  # first run stops; the re-run with --skip-bad finishes
        build_cache(tmp_path / "data", "train", tmp_path / "c", options=QUIET)
    options = BuildOptions(**{**vars(QUIET), "skip_bad": True})
    report = build_cache(tmp_path / "data", "train", tmp_path / "c", options=options)
    manifest = report.manifest
    assert set(manifest.rejected) == set(spoiled)
    for sample_id, reason in spoiled.items():
        assert reason in manifest.rejected[sample_id]
    assert manifest.n_samples == len(ids) - 3
    cache = SpectrogramCache(tmp_path / "c")
    assert list(cache.ids) == [i for i in ids if i not in spoiled]
    assert any("skipped 3 bad sample" in r.getMessage() for r in caplog.records)


def test_cli_builds_with_cqt2010v2(simulated_data, train_cache, tmp_path):
    """``--cqt-kernel 2010v2`` is part of the config hash and its images survive float16."""
    train_out, _ = train_cache
    out = tmp_path / "c2010"
    code = main(["build-cqt", "--data", str(simulated_data), "--split", "test", "--out", str(out),
                 "--psd-from", str(train_out), "--cqt-kernel", "2010v2", "--threads", "1",
                 "--workers", "0", "--batch-size", "8", "--no-progress"])
    assert code == 0
    manifest = read_manifest(out)
    assert manifest.config["cqt"]["algorithm"] == "2010v2"
    assert manifest.config_hash != read_manifest(train_out).config_hash
    assert manifest.image_shape == (3, 69, 129) and manifest.n_samples == 16

    cache, whiten = SpectrogramCache(out), WhitenConfig()
    whitener = Whitener(manifest.psd, whiten, SampleLevel(NormalizeConfig(), whiten))
    cqt = CQT(CQTConfig(algorithm="2010v2"))
    for i in (0, 15):
        raw = load_sample(sample_path(simulated_data, "test", cache.ids[i]))
        x = torch.from_numpy((raw / whiten.raw_scale).astype(np.float32))[None]
        with torch.no_grad():
            expected = cqt(whitener(x))[0].half().float()
        # the bound of test_round_trip_matches_direct_computation
        assert_float16_close(cache[i][0], expected, floor=median_float16_step(expected),
                             what=cache.ids[i])


def test_bad_threads_are_refused(tmp_path):
    _tiny_layout(tmp_path / "data", n=4)
    with pytest.raises(ValueError, match="threads"):
        build_cache(tmp_path / "data", "train", tmp_path / "c",
                    options=BuildOptions(threads=-1, workers=0, progress=False))


def test_one_absurd_sample_is_named_and_poisons_nothing(tmp_path, capsys):
    """One value of 1e30 in a noise-only sample: the build stops before writing an image,
    naming file, id and --skip-bad; with --skip-bad the PSD and every image stay finite."""
    ids = _tiny_layout(tmp_path / "data")
    path = sample_path(tmp_path / "data", "train", ids[0])  # target 0: feeds the PSD
    array = np.load(path)
    array[0, 100] = 1e30
    np.save(path, array)
    argv = ["build-cqt", "--data", str(tmp_path / "data"), "--split", "train", "--out",
            str(tmp_path / "c"), "--shard-size", "8", "--batch-size", "4", "--workers", "0",
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and ids[0] in err
    assert "implausible" in err and "--skip-bad" in err
    assert not list((tmp_path / "c").glob("*.h5")) and not (tmp_path / "c" / "psd.npy").exists()
    assert main([*argv, "--skip-bad"]) == 0
    manifest = read_manifest(tmp_path / "c")
    assert list(manifest.rejected) == [ids[0]] and np.isfinite(manifest.psd).all()
    images = SpectrogramCache(tmp_path / "c", in_memory=True)._images
    assert images.shape[0] == len(ids) - 1 and (images.flatten(2).abs().amax(-1) > 0).all()


def test_a_stored_non_finite_psd_is_never_reused(tmp_path):
    _tiny_layout(tmp_path / "data")
    interrupted = tmp_path / "c"
    build_cache(tmp_path / "data", "train", interrupted, options=QUIET)
    (interrupted / "manifest.json").unlink()
    np.save(interrupted / "psd.npy", np.full((3, 2049), np.nan))
    with pytest.raises(ValueError, match=r"psd\.npy: the stored PSD holds NaN"):
        build_cache(tmp_path / "data", "train", interrupted, options=QUIET)


def test_a_moved_data_folder_resumes_the_same_cache(tmp_path, monkeypatch):
    """Only what changes the pixels is the cache's identity, not where the data lived."""
    _tiny_layout(tmp_path / "data")
    build_cache(tmp_path / "data", "train", tmp_path / "clean", options=QUIET)
    real_write = build_module.write_shard

    def crash_after_first(path, *args, **kwargs):
        real_write(path, *args, **kwargs)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(build_module, "write_shard", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        build_cache(tmp_path / "data", "train", tmp_path / "c", options=QUIET)
    monkeypatch.undo()
    (tmp_path / "data").rename(tmp_path / "moved")
    report = build_cache(tmp_path / "moved", "train", tmp_path / "c", options=QUIET)
    assert report.skipped == [0] and report.built == [1]
    assert _image_bytes(tmp_path / "c") == _image_bytes(tmp_path / "clean")


def test_a_damaged_shard_is_reported_and_rebuilt(tmp_path, capsys):
    _tiny_layout(tmp_path / "data")
    out = tmp_path / "c"
    build_cache(tmp_path / "data", "train", out, options=QUIET)
    clean = _image_bytes(out)
    damage_chunk(out / "shard-00001.h5", chunk=0)
    assert main(["inspect", str(out), "--verify"]) == 2
    captured = capsys.readouterr()
    assert "shard-00001.h5: rows 0-3 are damaged" in captured.out
    assert "1 damaged part(s)" in captured.err and len(captured.err.splitlines()) == 1
    report = build_cache(tmp_path / "data", "train", out, options=QUIET)
    assert report.built == [1] and report.skipped == [0]
    assert _image_bytes(out) == clean
    assert main(["inspect", str(out), "--verify"]) == 0


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("skip_bad", [[], ["--skip-bad"]])
def test_an_id_that_is_a_path_never_reaches_a_file(tmp_path, capsys, split, skip_bad):
    """A CSV id of ``../x`` or ``/etc/passwd`` is refused, row named, before any file is read;
    with or without --skip-bad (an id is no sample to skip: the CSV itself is wrong)."""
    ids = _tiny_layout(tmp_path / "data")
    np.save(tmp_path / "outside.npy", np.zeros((3, 4096)))  # what a traversal would reach
    labels = "training_labels.csv" if split == "train" else "sample_submission.csv"
    frame = pd.DataFrame({"id": [*ids[:4], "../../outside", "/etc/passwd"],
                          "target": [0, 1, 0, 1, 0, 0] if split == "train" else 0.5})
    frame.to_csv(tmp_path / "data" / labels, index=False)
    code = main(["build-cqt", "--data", str(tmp_path / "data"), "--split", split, "--out",
                 str(tmp_path / "cache"), "--no-progress", "--workers", "0", *skip_bad])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{labels}: 2 bad id(s): row 6: id '../../outside'" in err
    assert "row 7: id '/etc/passwd'" in err
    assert not (tmp_path / "cache").exists()  # refused before the output was touched


def test_every_sample_rejected_is_one_clear_line(tmp_path, capsys):
    ids = _tiny_layout(tmp_path / "data", n=6)
    build_cache(tmp_path / "data", "train", tmp_path / "train", options=QUIET)
    test = tmp_path / "data" / "test"
    for sample_id in ids[:3]:
        path = sample_path(tmp_path / "data", "test", sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.full((3, 4096), np.nan))
    pd.DataFrame({"id": ids[:3], "target": 0.5}).to_csv(
        tmp_path / "data" / "sample_submission.csv", index=False)
    code = main(["build-cqt", "--data", str(tmp_path / "data"), "--split", "test", "--out",
                 str(tmp_path / "test-cache"), "--psd-from", str(tmp_path / "train"),
                 "--no-progress", "--workers", "0", "--skip-bad"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "all 3 samples of the test split were rejected" in err, err
    assert f"first {ids[0]}: holds NaN" in err and test.is_dir()


def test_no_usable_training_noise_points_to_psd_from(tmp_path, capsys):
    _tiny_layout(tmp_path / "data", n=4, signals=(0, 1, 2, 3))  # signals only
    code = main(["build-cqt", "--data", str(tmp_path / "data"), "--split", "train", "--out",
                 str(tmp_path / "cache"), "--no-progress", "--workers", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "training_labels.csv: no noise-only (target 0) samples" in err
    assert "--psd-from CACHE" in err


def test_a_shard_with_damaged_metadata_is_rebuilt(tmp_path):
    _tiny_layout(tmp_path / "data")
    build_cache(tmp_path / "data", "train", tmp_path / "c", options=QUIET)
    before = _image_bytes(tmp_path / "c")
    shard = tmp_path / "c" / "shard-00001.h5"
    raw = bytearray(shard.read_bytes())
    raw[:512] = bytes(512)  # the superblock and root group's header: HDF5 cannot open it
    shard.write_bytes(bytes(raw))
    report = build_cache(tmp_path / "data", "train", tmp_path / "c", options=QUIET)
    assert report.built == [1] and _image_bytes(tmp_path / "c") == before


def test_batches_reach_the_device_step_uncopied(tmp_path, monkeypatch):
    """A batch with no rejected sample is handed on as the loader made it (pinned on a GPU):
    build-cqt used to copy every batch (``samples[keep]``), losing the pinned memory."""
    _tiny_layout(tmp_path / "data", n=12)
    loaded, computed = [], []
    real_loader, real_call = build_module._loader, build_module.ImageMaker.__call__

    def loader(*args, **kwargs):
        for rows, samples, problems in real_loader(*args, **kwargs):
            loaded.append(samples.data_ptr())
            yield rows, samples, problems

    def call(self, samples, where):
        computed.append(samples.data_ptr())
        return real_call(self, samples, where)

    monkeypatch.setattr(build_module, "_loader", loader)
    monkeypatch.setattr(build_module.ImageMaker, "__call__", call)
    build_cache(tmp_path / "data", "train", tmp_path / "c", options=QUIET)
    assert len(computed) == 3 and computed == loaded[1:]  # loaded[0]: the PSD estimate
