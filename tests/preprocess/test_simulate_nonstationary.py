"""Non-stationary noise and glitches: the PSD asked for, SNRs, where glitches land, bytes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.signal

from preprocess.cli import main
from preprocess.layout import DETECTORS, SAMPLE_RATE, load_sample, sample_path
from preprocess.psd.read import read_psd
from preprocess.simulate import SimulationConfig, injection_columns, simulate, simulate_sample
from preprocess.simulate.glitches import GLITCH_COLUMNS
from preprocess.simulate.noise_condition import NoiseCondition
from preprocess.simulate.sample import condition_psds, observing_psds, sample_psds
from preprocess.simulate.snr import optimal_snr
from runtime.outputs import LOCK
from tests.tolerances import assert_within_standard_errors, standard_error

VARYING = SimulationConfig(n_train=24, n_test=0, seed=21, psd_scale_min=0.5, psd_scale_max=2.0,
                           psd_shape_mix=0.5)


def _welch(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hann periodograms ``(S, 3, F)`` of whole samples ``(S, 3, N)`` and their frequencies
    (1024-sample Welch segments leak the <20 Hz wall into 50-125 Hz by ~2 %, whole samples
    by < 0.5 %)."""
    return scipy.signal.welch(samples, fs=SAMPLE_RATE, nperseg=samples.shape[-1], axis=-1)


def _band_power(freqs: np.ndarray, psd: np.ndarray, low: float, high: float) -> np.ndarray:
    return psd[..., (freqs >= low) & (freqs < high)].sum(-1) * freqs[1]


def test_fixed_scale_gives_scale_times_nominal_psd() -> None:
    """Noise at a fixed scale per detector has exactly that multiple of psd.csv's power."""
    scale = 1.7
    config = SimulationConfig(n_train=40, n_test=0, seed=7, signal_fraction=0.0,
                              psd_scale_min=scale, psd_scale_max=scale)
    samples = np.stack([simulate_sample(config, "train", i)[0] for i in range(40)])
    freqs, welch = _welch(samples)
    grid = np.fft.rfftfreq(4096, 1 / SAMPLE_RATE)
    for low, high in ((50, 125), (125, 250), (250, 500)):
        measured = _band_power(freqs, welch, low, high)  # (S, 3)
        expected = scale * _band_power(grid, sample_psds(config), low, high)
        # 5 standard errors of the mean of 40 independent samples: ~1-2 %, ~5 % at V1's lines
        assert_within_standard_errors(measured.mean(axis=0), expected,
                                      standard_error(measured), what=f"{low}-{high} Hz")
    strain, _, row = simulate_sample(config, "train", 0)
    assert [row[f"psd_scale_{d}"] for d in DETECTORS] == pytest.approx([scale] * 3)
    stationary = simulate_sample(replace(config, psd_scale_min=1, psd_scale_max=1), "train", 0)
    np.testing.assert_allclose(strain, np.sqrt(scale) * stationary[0], rtol=1e-9, atol=1e-30)
    assert "psd_scale_H1" not in stationary[2]


def test_each_sample_has_its_recorded_psd() -> None:
    """Per sample: the whitened noise (by its recorded PSD) has unit power; by psd.csv not."""
    config = replace(VARYING, signal_fraction=0.0)
    grid = np.fft.rfftfreq(4096, 1 / SAMPLE_RATE)
    band = (grid >= 30) & (grid < 900)
    ratios, nominal_ratios, scales = [], [], []
    for i in range(16):
        strain, _, row = simulate_sample(config, "train", i)
        condition = NoiseCondition(np.array([row[f"psd_scale_{d}"] for d in DETECTORS]),
                                   np.array([row[f"psd_mix_{d}"] for d in DETECTORS]))
        psd = condition_psds(config, condition)[0]
        window = scipy.signal.windows.hann(4096)
        power = np.abs(np.fft.rfft(strain * window, axis=-1)) ** 2 / SAMPLE_RATE
        power *= 2 / np.sum(window**2)  # one-sided periodogram, 1/Hz
        ratios.append(np.mean(power[:, band] / psd[:, band], axis=-1))
        nominal_ratios.append(np.mean(power[:, band] / sample_psds(config)[:, band], axis=-1))
        scales.append(condition.scale)
    ratios, nominal_ratios, scales = map(np.array, (ratios, nominal_ratios, scales))
    # ~1700 periodogram bins per detector: the mean ratio errs by a few per cent
    np.testing.assert_allclose(ratios, 1.0, atol=0.12)
    assert scales.min() >= 0.5 and scales.max() <= 2.0 and scales.std() > 0.2
    assert np.corrcoef(np.log(nominal_ratios.ravel()), np.log(scales.ravel()))[0, 1] > 0.8


def test_observing_curve_keeps_the_design_sensitivity() -> None:
    grid = np.fft.rfftfreq(4096, 1 / SAMPLE_RATE)
    band = (grid >= 20) & (grid < 500)
    design, observing = sample_psds(VARYING), observing_psds(VARYING)[0]
    np.testing.assert_allclose((1 / observing[:, band]).mean(-1), (1 / design[:, band]).mean(-1),
                               rtol=1e-9)
    assert not np.allclose(observing[:, band], design[:, band], rtol=0.1, atol=0)  # new shape


def test_signal_snr_is_against_the_sample_psd(tmp_path: Path) -> None:
    """Recorded SNRs recomputed from the clean signal and the sample's own PSD."""
    out = simulate(replace(VARYING, signal_fraction=1.0), tmp_path / "data", workers=1,
                   progress=False)
    injections = pd.read_csv(out / "injections.csv", dtype={"id": str})
    assert tuple(injections.columns) == injection_columns(VARYING)
    config = replace(VARYING, signal_fraction=1.0)
    for index in range(6):
        strain, clean, row = simulate_sample(config, "train", index)
        recorded = injections.set_index("id").loc[row["id"]]
        condition = NoiseCondition(
            np.array([recorded[f"psd_scale_{d}"] for d in DETECTORS]),
            np.array([recorded[f"psd_mix_{d}"] for d in DETECTORS]),
        )
        snrs = optimal_snr(clean, condition_psds(config, condition)[0], 20.0)
        np.testing.assert_allclose(snrs, [recorded[f"snr_{d}"] for d in DETECTORS], rtol=1e-6)
        np.testing.assert_array_equal(strain, load_sample(sample_path(out, "train", row["id"])))
    freqs, psd = read_psd(out)
    np.testing.assert_array_equal(psd, sample_psds(config))  # psd.csv stays the nominal PSD


def test_glitch_lands_where_recorded() -> None:
    """With and without glitches the same seed gives the same noise: the difference is the
    glitch, in the recorded detector, time and frequency, at the recorded SNR."""
    glitchy = replace(VARYING, glitch_rate=1.0, psd_shape_mix=0.0)
    clean_config = replace(glitchy, glitch_rate=0.0)
    seen = set()
    for index in range(20):
        strain, _, row = simulate_sample(glitchy, "train", index)
        without, _, clean_row = simulate_sample(clean_config, "train", index)
        assert {k: clean_row[k] for k in clean_row} == {k: row[k] for k in clean_row}
        glitches = json.loads(row["glitches"])
        assert row["n_glitches"] == len(glitches)
        difference = strain - without
        hit = {DETECTORS.index(g["detector"]) for g in glitches}
        for d in set(range(3)) - hit:
            assert not difference[d].any()
        if len(glitches) != 1:
            continue
        g = glitches[0]
        assert row["glitch_snr"] == g["snr"] and row["glitch_detector"] == g["detector"]
        d = DETECTORS.index(g["detector"])
        seen.add(g["type"])
        scale = row[f"psd_scale_{g['detector']}"]
        assert optimal_snr(difference[d], scale * sample_psds(glitchy)[d], 20.0) == (
            pytest.approx(g["snr"], rel=1e-6))
        envelope = np.abs(scipy.signal.hilbert(difference[d]))
        peak_time = np.argmax(envelope) / SAMPLE_RATE
        assert abs(peak_time - g["time"]) < max(0.1 * g["duration"], 0.005)
        spectrum = np.abs(np.fft.rfft(difference[d]))
        peak_frequency = np.argmax(spectrum) * 0.5
        if g["type"] != "scattered_light":  # the arch's spectrum spans 0 to its peak frequency
            assert abs(peak_frequency - g["frequency"]) < 0.3 * g["frequency"] + 2
        else:
            assert peak_frequency <= g["frequency"] * 1.1
    assert len(seen) >= 2


def test_glitch_columns_and_rate(tmp_path: Path) -> None:
    config = SimulationConfig(n_train=200, n_test=0, seed=3, glitch_rate=0.5,
                              glitch_types=("blip", "sine_gaussian"), glitch_snr_min=8,
                              glitch_snr_max=20)
    rows = [simulate_sample(config, "train", i)[2] for i in range(200)]
    frame = pd.DataFrame(rows, columns=list(injection_columns(config)))
    assert set(GLITCH_COLUMNS) <= set(frame.columns)
    assert not {f"psd_scale_{d}" for d in DETECTORS} & set(frame.columns)
    # Poisson(0.5) counts: the mean of 200 has a standard error sqrt(0.5 / 200); 5 of them
    assert frame["n_glitches"].mean() == pytest.approx(0.5, abs=5 * np.sqrt(0.5 / 200))
    with_glitch = frame[frame["n_glitches"] > 0]
    assert with_glitch["glitch_snr"].between(8, 20).all()
    assert with_glitch["glitch_time"].between(0.1, 1.9).all()
    assert set(with_glitch["glitch_type"]) == {"blip", "sine_gaussian"}
    assert frame.loc[frame["n_glitches"] == 0, "glitch_snr"].isna().all()
    blips = with_glitch[with_glitch["glitch_type"] == "blip"]
    assert blips["glitch_q"].between(1, 3).all() and blips["glitch_duration"].lt(0.05).all()


def test_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    config = replace(VARYING, n_train=40, n_test=8, glitch_rate=1.0)  # 3 chunks
    one = simulate(config, tmp_path / "one", workers=1, progress=False)
    two = simulate(config, tmp_path / "two", workers=2, progress=False)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file() and p.name != LOCK)
    assert sum(f.suffix == ".npy" for f in files) == 48 and Path("injections.csv") in files
    assert all((one / f).read_bytes() == (two / f).read_bytes() for f in files)
    meta = json.loads((one / "simulation.json").read_text())
    assert meta["config"]["glitch_rate"] == 1.0 and meta["config"]["psd_scale_max"] == 2.0
    assert SimulationConfig(**meta["config"]) == config  # the record rebuilds the config


def test_new_options_off_leave_the_old_columns(simulated_data: Path) -> None:
    from preprocess.simulate import INJECTION_COLUMNS

    columns = pd.read_csv(simulated_data / "injections.csv", nrows=0).columns
    assert tuple(columns) == INJECTION_COLUMNS


def test_cli_options_reach_the_data(tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert main(["simulate", "--out", str(out), "--n-train", "6", "--n-test", "0",
                 "--workers", "1", "--no-progress", "--psd-scale-min", "0.5",
                 "--psd-scale-max", "2", "--glitch-rate", "3", "--glitch-types", "blip",
                 "--glitch-snr-min", "10", "--glitch-snr-max", "10"]) == 0
    frame = pd.read_csv(out / "injections.csv")
    assert frame["psd_scale_H1"].between(0.5, 2).all() and "psd_mix_H1" not in frame
    assert (frame.loc[frame["n_glitches"] > 0, "glitch_type"] == "blip").all()
    assert np.allclose(frame["glitch_snr"].dropna(), 10.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--psd-scale-min", "0"], "psd scale range must satisfy 0 < min <= max"),
        (["--psd-scale-min", "3"], "psd scale range must satisfy 0 < min <= max"),
        (["--psd-shape-mix", "1.5"], "psd-shape-mix must lie in [0, 1], got 1.5"),
        (["--glitch-rate", "-1"], "glitch-rate must be >= 0, got -1.0"),
        (["--glitch-types", "koi_fish"], "bad glitch type(s) ['koi_fish']"),
        (["--glitch-snr-min", "0"], "glitch snr range must satisfy 0 < min <= max"),
        (["--glitch-snr-distribution", "normal"], "unknown glitch snr distribution 'normal'"),
    ],
)
def test_bad_noise_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, options: list[str], message: str
) -> None:
    out = tmp_path / "data"
    argv = ["simulate", "--out", str(out), "--n-train", "2", "--n-test", "0", "--no-progress"]
    assert main([*argv, *options]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_curve_families_and_distortions_give_the_recorded_psd(tmp_path: Path) -> None:
    """Each noise sample's periodogram, divided by the PSD rebuilt from its injections.csv
    row (family curve, mix, distortion, scale), averages to 1 in every band: the recorded
    PSD is the one the noise has. Without the record (the nominal psd.csv) it does not."""
    from preprocess.simulate.noise_condition import condition_from_row

    config = SimulationConfig(
        n_train=48, n_test=0, seed=21, signal_fraction=0.0, psd_scale_min=0.5,
        psd_scale_max=2.0, psd_shape_mix=1.0, psd_distortion=0.4,
        psd_family_ligo=("aLIGOO3LowT1800545", "aLIGO140MpcT1800545"),
        psd_family_virgo=("AdVO3LowT1800545",))
    out = simulate(config, tmp_path / "data", workers=1, progress=False)
    rows = pd.read_csv(out / "injections.csv", dtype={"id": str})
    assert set(rows["psd_curve_H1"]) == set(config.psd_family_ligo)
    samples = np.stack([load_sample(sample_path(out, "train", i)) for i in rows["id"]])
    freqs, spectra = scipy.signal.welch(samples, fs=SAMPLE_RATE, nperseg=samples.shape[-1],
                                        axis=-1)  # one whole-sample periodogram (S, 3, F)
    recorded = np.stack([condition_psds(config, condition_from_row(config, row))[0]
                         for row in rows.to_dict(orient="records")])  # (S, 3, F)
    nominal = read_psd(out)[1]
    edges = (30.0, 60.0, 120.0, 250.0, 500.0, 1000.0)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        band = (freqs >= low) & (freqs < high)
        ratio = spectra[..., band].sum(-1) / recorded[..., band].sum(-1)  # (S, 3), mean 1
        # band powers of independent samples: 5 standard errors of their mean (~1-3 %)
        assert_within_standard_errors(ratio.mean(0), np.ones(3), standard_error(ratio),
                                      what=f"{low}-{high} Hz")
        plain = spectra[..., band].sum(-1) / nominal[:, band].sum(-1)
        assert np.abs(plain / ratio - 1).max() > 0.1  # the shapes really differ per sample
