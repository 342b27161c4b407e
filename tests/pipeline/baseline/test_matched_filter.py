"""Matched filter: recovery of injected templates in design noise, ranking, and the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.bank.config import BankConfig
from pipeline.bank.snippet import DF, band_mask, build_bank
from pipeline.baseline.config import MatchedFilterConfig
from pipeline.baseline.matched_filter import MatchedFilter, run_matched_filter
from pipeline.cli import main
from preprocess.layout import DETECTORS, N_TIME, SAMPLE_RATE, read_split
from preprocess.psd.read import read_psd
from preprocess.simulate.noise import colored_noise, design_psd

SHIFTS = (0, 8, -30)  # samples of each detector's arrival after H1's (inside the windows)
SNRS = (6.0, 6.0, np.sqrt(28.0))  # per-detector optimal SNR: network 10


@pytest.fixture(scope="module")
def psds() -> tuple[np.ndarray, np.ndarray]:
    """Design PSDs on the sample grid ``(3, 2049)`` and on an 8-s noise grid."""
    short = np.stack([design_psd(d, np.fft.rfftfreq(N_TIME, 1 / SAMPLE_RATE)) for d in DETECTORS])
    long = np.stack([design_psd(d, np.fft.rfftfreq(4 * N_TIME, 1 / SAMPLE_RATE))
                     for d in DETECTORS])
    return short, long


@pytest.fixture(scope="module")
def matched_filter(psds) -> MatchedFilter:
    config = MatchedFilterConfig(bank=BankConfig(n_templates=20))
    return MatchedFilter(build_bank(config.bank, psds[0][0]), psds[0], config)


def inject(bank_spectrum: np.ndarray, psd: np.ndarray, merger: int, scale: float = 1.0):
    """The template in three detectors ``(3, N)``, merging at ``merger`` (+ SHIFTS), SNRS."""
    waveform = np.fft.irfft(bank_spectrum * SAMPLE_RATE, n=N_TIME)  # merger at index 0
    out = np.empty((3, N_TIME))
    for d in range(3):
        mask = band_mask(psd[d], 20.0)
        optimal = np.sqrt(4 * DF * np.sum(np.abs(bank_spectrum[mask]) ** 2 / psd[d][mask]))
        out[d] = np.roll(waveform, merger + SHIFTS[d]) * SNRS[d] * scale / optimal
    return out


def test_recovers_injected_template_snr_and_time(matched_filter, psds) -> None:
    bank = 7
    signal = inject(matched_filter.bank.spectra[bank], psds[0], 3000)
    clean = matched_filter(signal)
    assert clean.template == bank and clean.time_index == 3000
    assert clean.snr == pytest.approx(10.0, rel=0.02)
    assert clean.detector_snr == pytest.approx(np.array(SNRS), rel=0.02)
    rng = np.random.default_rng(11)
    results = [matched_filter(colored_noise(psds[1], rng) + signal) for _ in range(6)]
    # unit Gaussian noise moves a network SNR by ~1 (maximising over templates, times and
    # phases adds ~+0.3): within 5 standard errors of the mean of the six
    assert np.mean([r.snr for r in results]) == pytest.approx(10.0, abs=5 / np.sqrt(len(results)))
    assert all(abs(r.time_index - 3000) <= 2 for r in results)
    assert sum(r.template == bank for r in results) >= 4


def test_loud_injection_outranks_noise(matched_filter, psds) -> None:
    rng = np.random.default_rng(12)
    noise_scores = [matched_filter(colored_noise(psds[1], rng)).snr for _ in range(8)]
    assert 3 < np.mean(noise_scores) < 8  # max of ~|z|^2 over templates and times, 3 detectors
    signal = inject(matched_filter.bank.spectra[3], psds[0], 3500, scale=1.2)
    loud = matched_filter(colored_noise(psds[1], rng) + signal).snr
    assert loud > max(noise_scores)


def test_valid_merger_times_exclude_wrap_and_taper(matched_filter) -> None:
    config = matched_filter.bank.config
    taper = int(round(matched_filter.config.taper * SAMPLE_RATE))
    assert matched_filter.valid.start == config.pre_samples + taper
    assert matched_filter.valid.stop == N_TIME - max(config.post_samples, taper)


def test_command_scores_split_in_order(simulated_data, tmp_path) -> None:
    out = tmp_path / "mf.csv"
    argv = ["baseline", "matched-filter", "--data", str(simulated_data), "--split", "test",
            "--out", str(out), "--n-templates", "20", "--no-progress"]
    assert main(argv) == 0
    scores = pd.read_csv(out, dtype={"id": str})
    assert list(scores.columns) == ["id", "target"]
    assert scores["id"].tolist() == read_split(simulated_data, "test")["id"].tolist()
    assert np.isfinite(scores["target"]).all()
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["bank"]["n_templates"] == 20 and meta["config"]["bank"]["mass_min"] == 10.0
    # Loud signals stand out from the noise-only samples.
    injections = pd.read_csv(simulated_data / "injections.csv", dtype={"id": str})
    merged = scores.merge(injections[["id", "target", "snr_network"]], on="id")
    loud = merged[merged["snr_network"] > 10]["target_x"]
    noise = merged[merged["target_y"] == 0]["target_x"]
    assert loud.mean() > noise.mean()
    # Two worker processes give the same scores; an existing output is not overwritten.
    again = run_matched_filter(simulated_data, "test", tmp_path / "mf2.csv",
                               MatchedFilterConfig(bank=BankConfig(n_templates=20)),
                               workers=2, progress=False)
    assert np.allclose(pd.read_csv(again)["target"], scores["target"])
    assert main(argv) == 2


def test_scaled_psd_whitens_by_the_scale(matched_filter, psds) -> None:
    """A signal of known SNRs against ``scale x PSD`` is recovered at those SNRs given the
    scale, and at SNR / sqrt(scale) when the filter assumes the nominal PSD."""
    scale = np.array([0.5, 1.0, 3.0])
    signal = inject(matched_filter.bank.spectra[5], psds[0], 2800) * np.sqrt(scale)[:, None]
    scaled = matched_filter(signal, scale)
    assert scaled.detector_snr == pytest.approx(np.array(SNRS), rel=0.02)
    assert scaled.snr == pytest.approx(10.0, rel=0.02)
    nominal = matched_filter(signal)
    assert nominal.detector_snr == pytest.approx(np.array(SNRS) * np.sqrt(scale), rel=0.02)


def test_estimated_noise_level_tracks_the_scale(psds) -> None:
    config = MatchedFilterConfig(bank=BankConfig(n_templates=2), noise_level="estimated")
    mf = MatchedFilter(build_bank(config.bank, psds[0][0]), psds[0], config)
    rng = np.random.default_rng(4)
    scale = np.array([0.5, 1.0, 2.0])
    estimates = np.array([mf.estimate_scale(mf.whiten(colored_noise(psds[1] * scale[:, None],
                                                                    rng)))
                          for _ in range(12)])
    # each estimate is the median of K whitened periodogram bins: sd 1 / (ln 2 sqrt(K)) ~ 3 %;
    # the mean of 12 within 5 standard errors, each one within 5 sd
    sd = 1 / (np.log(2) * np.sqrt([band.sum() for band in mf.estimate_band]))  # (D,)
    np.testing.assert_allclose(estimates.mean(0), scale,
                               rtol=5 * sd.max() / np.sqrt(len(estimates)))
    assert (np.abs(estimates / scale - 1) < 5 * sd).all()
    # A signal barely moves the median: by a few per cent at network SNR 30.
    signal = inject(mf.bank.spectra[0], psds[0], 3000, scale=3.0)
    noise = colored_noise(psds[1], rng)
    loud, quiet = (mf.estimate_scale(mf.whiten(noise + s)) for s in (signal, 0 * signal))
    assert (loud >= quiet).all() and (loud / quiet < 1.1).all()
    with pytest.raises(ValueError, match="unknown noise level 'median'"):
        MatchedFilterConfig(noise_level="median")


def test_command_noise_levels(tmp_path) -> None:
    from preprocess.layout import load_sample, sample_path
    from preprocess.simulate import SimulationConfig, simulate

    data = simulate(SimulationConfig(n_train=0, n_test=12, seed=9, psd_scale_min=0.25,
                                     psd_scale_max=4.0), tmp_path / "data", workers=1,
                    progress=False)
    base = ["baseline", "matched-filter", "--data", str(data), "--n-templates", "8",
            "--no-progress"]
    for level in ("auto", "nominal", "estimated"):
        assert main([*base, "--out", str(tmp_path / f"{level}.csv"), "--noise-level", level]) == 0
    used = {level: json.loads((tmp_path / f"{level}.json").read_text())["noise_level_used"]
            for level in ("auto", "nominal", "estimated")}
    assert used == {"auto": "recorded", "nominal": "nominal", "estimated": "estimated"}
    scores = {level: pd.read_csv(tmp_path / f"{level}.csv", dtype={"id": str})
              for level in used}
    injections = pd.read_csv(data / "injections.csv", dtype={"id": str}).set_index("id")
    config = MatchedFilterConfig(bank=BankConfig(n_templates=8))
    mf = MatchedFilter(build_bank(config.bank, read_psd(data)[1][0]), read_psd(data)[1], config)
    for sample_id, score in scores["auto"].head(3).itertuples(index=False):
        scale = injections.loc[sample_id, [f"psd_scale_{d}" for d in DETECTORS]].to_numpy(float)
        strain = load_sample(sample_path(data, "test", sample_id))
        assert mf(strain, scale).snr == pytest.approx(score, rel=1e-5)
    assert not np.allclose(scores["auto"]["target"], scores["nominal"]["target"])
    # Estimated levels follow the recorded ones: scores close to the recorded-level scores.
    np.testing.assert_allclose(scores["estimated"]["target"], scores["auto"]["target"], rtol=0.1)


def test_recorded_noise_level_needs_a_record(simulated_data, tmp_path) -> None:
    argv = ["baseline", "matched-filter", "--data", str(simulated_data), "--n-templates", "4",
            "--no-progress", "--out", str(tmp_path / "mf.csv")]
    assert main([*argv, "--noise-level", "recorded"]) == 2
    assert not (tmp_path / "mf.csv").exists()
    assert main(argv) == 0  # auto: stationary data records no scale, so the nominal PSD
    assert json.loads((tmp_path / "mf.json").read_text())["noise_level_used"] == "nominal"


def test_bad_inputs_name_the_file_and_the_way_out(simulated_data, tmp_path, capsys) -> None:
    """The matched filter has no --skip-bad: its message says what to do instead; a PSD file
    it cannot use is named; an id that is a path never reaches a file."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(simulated_data, data)
    argv = ["baseline", "matched-filter", "--data", str(data), "--n-templates", "4",
            "--no-progress"]
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert main([*argv, "--out", str(tmp_path / "a.csv"), "--psd", str(evil)]) == 2
    assert f"{evil}: not a readable PSD .npy" in capsys.readouterr().err
    np.save(evil, np.ones((2, 5)))
    assert main([*argv, "--out", str(tmp_path / "a.csv"), "--psd", str(evil)]) == 2
    assert f"{evil}: holds 2 PSD rows, for 3 detectors (H1 L1 V1)" in capsys.readouterr().err

    first = read_split(data, "test")["id"].iloc[0]
    path = data / "test" / first[0] / first[1] / first[2] / f"{first}.npy"
    np.save(path, np.full((3, N_TIME), np.nan))
    assert main([*argv, "--out", str(tmp_path / "b.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"sample {first}: holds NaN" in err and "--skip-bad" not in err
    assert err.endswith("(the matched filter scores every sample of the split: fix or replace "
                        "the file)")

    submission = pd.read_csv(data / "sample_submission.csv", dtype={"id": str})
    submission.loc[0, "id"] = "../../../etc/passwd"
    submission.to_csv(data / "sample_submission.csv", index=False)
    assert main([*argv, "--out", str(tmp_path / "c.csv")]) == 2
    assert "sample_submission.csv: 1 bad id(s): row 2: id '../../../etc/passwd'" in \
        capsys.readouterr().err
    assert not (tmp_path / "c.csv").exists()
