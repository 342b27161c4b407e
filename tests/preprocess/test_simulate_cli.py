"""``preprocess simulate`` end to end: reproducibility, refusal to clobber, and bad options."""

from __future__ import annotations

from pathlib import Path

import pytest

from preprocess.cli import main
from preprocess.simulate import SimulationConfig, simulate
from runtime.outputs import LOCK


def _files(root: Path) -> dict[str, bytes]:
    """Every file's bytes but the folder lock's (it records which process held it)."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK
    }


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    config = SimulationConfig(n_train=40, n_test=8, seed=5)  # 3 chunks: the pool shares them out
    one = _files(simulate(config, tmp_path / "one", workers=1, progress=False))
    two = _files(simulate(config, tmp_path / "two", workers=2, progress=False))
    assert len(one) == 48 + 6 + 1 and one.keys() == two.keys()  # samples, tables, .gwspec
    assert all(one[name] == two[name] for name in one)
    other = _files(
        simulate(SimulationConfig(n_train=40, n_test=8, seed=6), tmp_path / "other", workers=1,
                 progress=False)
    )  # fmt: skip
    assert one["training_labels.csv"] != other["training_labels.csv"]
    assert one["injections.csv"] != other["injections.csv"]


def test_cli_writes_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "data"
    args = ["simulate", "--out", str(out), "--n-train", "4", "--n-test", "2", "--no-progress"]
    assert main([*args, "--workers", "1", "--approximant", "IMRPhenomXPHM"]) == 0
    assert (out / "simulation.json").is_file()
    first = _files(out)
    assert main(args) == 2
    assert f"{out} already holds data; pass --overwrite" in capsys.readouterr().err
    assert _files(out) == first  # untouched
    assert main([*args, "--overwrite", "--seed", "3", "--workers", "1"]) == 0
    assert _files(out)["injections.csv"] != first["injections.csv"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--n-train", "-1", "--n-test", "2"], "n-train must be a non-negative integer, got -1"),
        (["--n-train", "2", "--n-test", "-3"], "n-test must be a non-negative integer, got -3"),
        (["--n-train", "0", "--n-test", "0"], "nothing to simulate"),
        (["--approximant", "TaylorF2"], "unknown approximant 'TaylorF2'; expected one of"),
        (["--snr-min", "-1"], "snr-min must be >= 0, got -1.0"),
        (["--snr-min", "9", "--snr-max", "3"], "snr-min (9.0) is above snr-max (3.0)"),
        (["--snr-distribution", "gaussian"], "unknown snr distribution 'gaussian'"),
        (["--signal-fraction", "1.5"], "signal-fraction must lie in [0, 1], got 1.5"),
        (["--workers", "0"], "workers must be >= 1, got 0"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, options: list[str], message: str
) -> None:
    counts = [] if "--n-train" in options else ["--n-train", "2", "--n-test", "2"]
    out = tmp_path / "data"
    assert main(["simulate", "--out", str(out), *counts, *options, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("preprocess simulate: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_an_interrupted_run_resumes_to_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preprocess.simulate import run

    config = SimulationConfig(n_train=70, n_test=10, seed=4, glitch_rate=0.5)
    whole = _files(simulate(config, tmp_path / "whole", workers=1, progress=False))
    real = run.simulate_sample

    def failing(config: SimulationConfig, split: str, index: int) -> tuple:
        if split == "train" and index == 40:
            raise KeyboardInterrupt
        return real(config, split, index)

    monkeypatch.setattr(run, "simulate_sample", failing)
    out = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        simulate(config, out, workers=1, progress=False)
    assert len(list(out.rglob("*.npy"))) == 40  # whole files only, no temporary names
    assert not (out / "simulation.json").exists()
    assert sorted(p.name for p in (out / run.PROGRESS_DIR).iterdir()) == [
        "config.json", "train-000000000.json"]  # chunk 32-63 was cut short: done again
    with pytest.raises(FileExistsError, match=r"incomplete run of other settings \(seed: 4 -> 5"):
        simulate(SimulationConfig(n_train=70, n_test=10, seed=5, glitch_rate=0.5), out,
                 workers=1, progress=False)
    monkeypatch.setattr(run, "simulate_sample", real)
    simulate(config, out, workers=2, progress=False)  # resumed, with another worker count
    assert _files(out) == whole and not (out / run.PROGRESS_DIR).exists()


def test_overwrite_deletes_nothing_through_a_link(tmp_path: Path, capsys) -> None:
    out = tmp_path / "data"
    args = ["simulate", "--out", str(out), "--n-train", "3", "--n-test", "1", "--no-progress",
            "--workers", "1"]
    assert main(args) == 0
    elsewhere = tmp_path / "elsewhere"
    (out / "train").rename(elsewhere)
    (out / "train").symlink_to(elsewhere)
    before = _files(out)
    assert main([*args, "--overwrite"]) == 2
    assert "train: is a symbolic link; gwspec deletes only what it wrote" in \
        capsys.readouterr().err
    assert _files(out) == before and len(list(elsewhere.rglob("*.npy"))) == 3


def test_the_space_a_simulation_needs_is_checked_first(tmp_path: Path, monkeypatch,
                                                       capsys) -> None:
    import shutil
    from collections import namedtuple

    from preprocess.simulate.run import needed_bytes

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 0, 50 * 2**20))
    out = tmp_path / "data"
    assert main(["simulate", "--out", str(out), "--n-train", "2000", "--n-test", "0",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "not enough disk space: needs about 2" in err and "52.4 MB free" in err, err
    assert not list(out.rglob("*.npy"))
    assert needed_bytes(2000) > 2000 * 3 * 4096 * 8  # every sample file counted, in blocks


def test_an_infinite_snr_is_refused_by_the_parser(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["simulate", "--out", str(tmp_path / "data"), "--n-train", "2", "--snr-max", "inf"])
    assert stopped.value.code == 2
    assert "argument --snr-max: 'inf' is not a finite number" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()

