"""Output folders and files: a command writes only into what it created."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main as pipeline_main
from preprocess.cache import write_cache
from preprocess.cli import main as preprocess_main
from runtime.outputs import (
    MARKER,
    OutputError,
    check_writable,
    claim_dir,
    claim_file,
    owner_kind,
)

REPO = Path(__file__).resolve().parents[2]


def _user_folder(path):
    """A folder of the user's, holding a file with a name our outputs use."""
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("mine")
    (path / "manifest.json").write_text('{"mine": true}')
    return {p.name: p.read_bytes() for p in path.iterdir()}


def test_claim_dir_takes_empty_and_own_folders_only(tmp_path) -> None:
    assert claim_dir(tmp_path / "new", "cache") == tmp_path / "new"
    assert owner_kind(tmp_path / "new") == "cache"
    (tmp_path / "new" / "shard-00000.h5").write_bytes(b"")
    claim_dir(tmp_path / "new", "cache")  # ours: resumed
    with pytest.raises(OutputError, match="holds a gwspec cache, not a run"):
        claim_dir(tmp_path / "new", "run")
    before = _user_folder(tmp_path / "user")
    with pytest.raises(OutputError, match="holds files that are not a gwspec cache"):
        claim_dir(tmp_path / "user", "cache")
    assert {p.name: p.read_bytes() for p in (tmp_path / "user").iterdir()} == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file: exists and is not a folder"):
        claim_dir(tmp_path / "file", "report")


def test_claim_file_replaces_only_our_files(tmp_path) -> None:
    mine = tmp_path / "mine.csv"
    mine.write_text("id,target\n")
    with pytest.raises(OutputError, match="was not written by gwspec"):
        claim_file(mine)
    (tmp_path / "mine.json").write_text('{"producer": "gwspec"}')
    assert claim_file(mine) == mine
    with pytest.raises(OutputError, match="is a folder"):
        claim_file(tmp_path)


def test_commands_refuse_foreign_folders_and_regular_files(simulated_data, tmp_path,
                                                          capsys) -> None:
    """build-cqt, simulate, train, family and evaluate: exit 2 with one line, the user's files
    intact."""
    user = tmp_path / "user"
    before = _user_folder(user)
    regular = tmp_path / "regular"
    regular.write_text("x")
    cache = tmp_path / "cache"
    rng = np.random.default_rng(0)
    write_cache(cache, rng.normal(size=(20, 3, 8, 8)).astype(np.float16),
                [f"{i:04d}" for i in range(20)], np.arange(20) % 2, {"kind": "tiny"})
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["a", "b"], "target": [0, 1]}).to_csv(labels, index=False)
    pd.DataFrame({"id": ["a", "b"], "target": [0.2, 0.9]}).to_csv(tmp_path / "p.csv",
                                                                 index=False)
    commands = {
        "build-cqt": (preprocess_main, ["build-cqt", "--data", str(simulated_data), "--split",
                                        "train", "--no-progress", "--out"]),
        "simulate": (preprocess_main, ["simulate", "--n-train", "2", "--n-test", "0",
                                       "--overwrite", "--no-progress", "--out"]),
        "train": (pipeline_main, ["train", "--cache", str(cache), "--depth", "16",
                                  "--no-progress", "--out"]),
        "family": (pipeline_main, ["family", "--cache", str(cache), "--depths", "16",
                                   "--no-progress", "--out"]),
        "evaluate": (pipeline_main, ["evaluate", "--predictions", str(tmp_path / "p.csv"),
                                     "--labels", str(labels), "--out"]),
    }
    for name, (main, argv) in commands.items():
        for out, expected in ((user, "not a gwspec"), (regular, "is not a folder")):
            assert main([*argv, str(out)]) == 2, name
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and expected in err and str(out) in err, err
    assert {p.name: p.read_bytes() for p in user.iterdir()} == before
    assert not (user / MARKER).exists() and regular.read_text() == "x"


# Every file a command writes is checked like its main output (sidecars, figures)


def test_a_sidecar_never_replaces_a_users_file(tmp_path) -> None:
    with pytest.raises(OutputError, match="would be overwritten by its own provenance record"):
        claim_file(tmp_path / "out.json", "predictions")
    (tmp_path / "sub.json").write_text('{"mine": true}')
    with pytest.raises(OutputError, match=r"sub\.json: exists and was not written by gwspec"):
        claim_file(tmp_path / "sub.csv", "predictions")
    assert (tmp_path / "sub.json").read_text() == '{"mine": true}'
    assert not (tmp_path / "sub.csv").exists()


def test_predict_and_inspect_refuse_before_any_work(tmp_path, capsys) -> None:
    from tests.pipeline.classifier.test_predict import make_cache, make_checkpoint

    cache = make_cache(tmp_path / "cache", [f"id{i:03d}" for i in range(6)])
    checkpoint = make_checkpoint(tmp_path / "m.pt", cache, seed=0)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "sub.json").write_text("{}")
    for out, expected in (("mine/sub.csv", "sub.json: exists and was not written"),
                          ("mine/out.json", "own provenance record")):
        code = pipeline_main(["predict", "--cache", str(cache), "--checkpoint",
                              str(checkpoint), "--out", str(tmp_path / out), "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["sub.json"]
    (tmp_path / "holiday.png").write_bytes(b"my photo")
    assert preprocess_main(["inspect", str(cache), "--png", str(tmp_path / "holiday.png")]) == 2
    assert "holiday.png: exists and was not written by gwspec" in capsys.readouterr().err
    assert (tmp_path / "holiday.png").read_bytes() == b"my photo"


# One writer per folder


HOLD = ("import sys, time\n"
        "from runtime.outputs import claim_dir\n"
        "claim_dir(sys.argv[1], sys.argv[2])\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys) -> None:
    """A folder another process is writing (here: holding, as a running `pipeline train`
    would) is refused at once, with its pid and command line; free again when it ends."""
    from tests.pipeline.training.test_loop import make_cache

    cache = make_cache(tmp_path / "cache")
    out = tmp_path / "runs" / "x"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out), "run"],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = pipeline_main(["train", "--cache", str(cache), "--depth", "16", "--epochs", "1",
                              "--batch-size", "8", "--workers", "0", "--device", "cpu",
                              "--no-progress", "--lr", "0.01", "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        assert f"{out}: in use by another gwspec command (pid {holder.pid}" in err
        assert "claim_dir" not in err and "-c" in err  # the holder's command line
        assert sorted(p.name for p in out.iterdir()) == [".gwspec", ".gwspec.lock"]
    finally:
        holder.kill()
        holder.wait()
    assert claim_dir(out, "run") == out  # the lock died with its process


def test_other_ranks_join_the_folder_rank_0_locked(tmp_path) -> None:
    out = tmp_path / "cache"
    claim_dir(out, "cache", rank=0)
    (out / ".gwspec.tmp-999").write_text("{}")  # a marker being written by another rank
    assert claim_dir(out, "cache", rank=1) == out  # no lock taken, nothing foreign seen
    with pytest.raises(OutputError, match="holds a gwspec cache, not a run"):
        claim_dir(out, "run", rank=1)


def test_a_read_only_place_is_one_line_before_any_work(tmp_path, monkeypatch,
                                                        capsys) -> None:
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match="cannot write there .read-only file system"):
        check_writable(tmp_path / "new" / "deeper")
    code = preprocess_main(["simulate", "--out", str(tmp_path / "sim"), "--n-train", "2",
                            "--n-test", "0", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "read-only file system" in err, err
    assert not (tmp_path / "sim").exists()
