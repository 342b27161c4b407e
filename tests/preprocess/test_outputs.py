"""Output folders and files: a command writes only into what it created."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main as pipeline_main
from preprocess.cache import write_cache
from preprocess.cli import main as preprocess_main
from preprocess.outputs import MARKER, OutputError, claim_dir, claim_file, owner_kind


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
