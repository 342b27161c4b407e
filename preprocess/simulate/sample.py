"""One simulated sample, reproducible from (seed, split, index) alone.

Ids and labels of a split are fixed by the seed; each sample's random state is derived from
``[seed, split number, index]``, so any worker can make any sample and the output does not
depend on how the work is shared out.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from preprocess.layout import DETECTORS, N_TIME, SAMPLE_RATE, SPLITS, check_split
from preprocess.simulate.config import SimulationConfig
from preprocess.simulate.glitches import (
    GLITCH_COLUMNS,
    draw_glitches,
    glitch_columns,
    glitch_strain,
)
from preprocess.simulate.noise import colored_noise, detector_psds
from preprocess.simulate.noise_condition import (
    NoiseCondition,
    condition_columns,
    distortion_factor,
    draw_condition,
    family,
    match_sensitivity,
    sensitivity_ratio,
)
from preprocess.simulate.priors import draw_parameters, draw_snr
from preprocess.simulate.snr import network_snr, optimal_snr
from preprocess.simulate.waveform import REFERENCE_DISTANCE_MPC, polarizations, project

ID_STREAM = 2  # SeedSequence words after the seed: 0/1 are the splits' samples, 2 ids, 3 labels
LABEL_STREAM = 3
NOISE, SIGNAL, CONDITION, GLITCH = range(4)  # a sample's streams (``_sample_streams``)
SIGNAL_COLUMNS = (  # injections.csv columns after id, split, target (NaN for noise only)
    "mass1", "mass2", "spin1x", "spin1y", "spin1z", "spin2x", "spin2y", "spin2z", "distance",
    "ra", "dec", "polarization", "inclination", "phase", "merger_time",
    *(f"snr_{d}" for d in DETECTORS),
    "snr_network",
)  # fmt: skip
INJECTION_COLUMNS = ("id", "split", "target", *SIGNAL_COLUMNS)  # of a stationary, clean run


def signal_columns(config: SimulationConfig) -> tuple[str, ...]:
    """``SIGNAL_COLUMNS`` with one ``snr_<det>`` per detector of ``config``."""
    snrs = tuple(f"snr_{d}" for d in config.detectors)
    return (*SIGNAL_COLUMNS[:-len(DETECTORS) - 1], *snrs, "snr_network")


def injection_columns(config: SimulationConfig) -> tuple[str, ...]:
    """``injections.csv`` columns: ``INJECTION_COLUMNS`` (with ``config``'s detectors), then
    the noise condition's (``psd_scale_<det>``, ...) and the glitches' when ``config`` makes
    them."""
    glitches = GLITCH_COLUMNS if config.has_glitches else ()
    return ("id", "split", "target", *signal_columns(config), *condition_columns(config),
            *glitches)


def split_size(config: SimulationConfig, split: str) -> int:
    return config.n_train if check_split(split) == "train" else config.n_test


@functools.lru_cache(maxsize=8)
def sample_ids(config: SimulationConfig) -> dict[str, tuple[str, ...]]:
    """Unique 10-hex-character ids per split, in generation order (index ``i`` -> ``ids[i]``)."""
    rng = np.random.default_rng([config.seed, ID_STREAM])
    total = config.n_train + config.n_test
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < total:
        for value in rng.integers(0, 16**10, size=total - len(ids)):
            text = f"{int(value):010x}"
            if text not in seen:
                seen.add(text)
                ids.append(text)
    return {"train": tuple(ids[: config.n_train]), "test": tuple(ids[config.n_train :])}


@functools.lru_cache(maxsize=8)
def split_targets(config: SimulationConfig, split: str) -> np.ndarray:
    """Targets ``(n,)`` of a split: exactly ``round(signal_fraction * n)`` ones, shuffled."""
    n = split_size(config, split)
    n_signal = int(math.floor(config.signal_fraction * n + 0.5))
    rng = np.random.default_rng([config.seed, LABEL_STREAM, SPLITS.index(split)])
    targets = np.zeros(n, dtype=np.int64)
    targets[:n_signal] = 1
    rng.shuffle(targets)
    targets.setflags(write=False)
    return targets


def _on_noise_grid(config: SimulationConfig, psds: np.ndarray) -> np.ndarray:
    """PSDs ``(3, 2049)`` on the sample grid moved to the long noise stretch's grid.

    Interpolated linearly rather than evaluated afresh, so the noise has exactly the spectrum
    the sample-grid table states: the narrow lines of the Virgo curve would otherwise carry
    more or less power than the 0.5-Hz grid can show.
    """
    n_long = int(round(config.noise_duration * SAMPLE_RATE / 2)) * 2
    freqs = np.fft.rfftfreq(n_long, 1.0 / SAMPLE_RATE)
    sample_freqs = np.fft.rfftfreq(N_TIME, 1.0 / SAMPLE_RATE)
    out = np.stack([np.interp(freqs, sample_freqs, psd) for psd in psds])
    out[:, freqs < min(config.noise_f_low, config.seismic_f_low)] = 0.0
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=8)
def noise_psds(config: SimulationConfig) -> np.ndarray:
    """PSDs ``(3, n_long // 2 + 1)`` of ``psd.csv`` on the grid of the long noise stretch."""
    return _on_noise_grid(config, sample_psds(config))


def sample_psds(config: SimulationConfig) -> np.ndarray:
    """PSDs ``(3, 2049)`` on the rFFT grid of one 2-s sample (what ``psd.csv`` holds)."""
    names = tuple(config.psd_names[d] for d in config.detectors)
    return detector_psds(
        names, N_TIME, config.noise_f_low, config.seismic_f_low, config.seismic_slope
    )


@functools.lru_cache(maxsize=8)
def observing_psds(config: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Observing-run curves rescaled to the design sensitivity (``match_sensitivity``): on
    the sample grid ``(3, 2049)`` and on the long noise grid, extended below like the design."""
    names = tuple(config.observing_psd_names[d] for d in config.detectors)
    curves = detector_psds(
        names, N_TIME, config.noise_f_low, config.seismic_f_low, config.seismic_slope
    )
    short = match_sensitivity(sample_psds(config), curves)
    short.setflags(write=False)
    return short, _on_noise_grid(config, short)


@functools.lru_cache(maxsize=8)
def family_psds(config: SimulationConfig, detector: str) -> tuple[np.ndarray, np.ndarray]:
    """Each curve of ``detector``'s family, rescaled to its design curve's sensitivity: on the
    sample grid ``(C, 2049)`` and on the long noise grid (empty when it has no family)."""
    names = family(config, detector)
    index = config.detectors.index(detector)
    design = sample_psds(config)[index : index + 1]
    short = [match_sensitivity(design, detector_psds(
        (name,), N_TIME, config.noise_f_low, config.seismic_f_low, config.seismic_slope))[0]
        for name in names]
    short = np.stack(short) if short else np.zeros((0, design.shape[1]))
    long = _on_noise_grid_rows(config, short)
    return short, long


def _on_noise_grid_rows(config: SimulationConfig, psds: np.ndarray) -> np.ndarray:
    """Any number of sample-grid PSDs ``(C, 2049)`` on the long noise grid (as
    ``_on_noise_grid`` does for three)."""
    if not len(psds):
        return np.zeros((0, noise_psds(config).shape[1]))
    return np.stack([_on_noise_grid(config, np.repeat(row[None], 3, axis=0))[0] for row in psds])


def _observing(config: SimulationConfig, condition: NoiseCondition) -> tuple[np.ndarray, ...]:
    """The observing curves ``(3, F)`` this condition mixes in, on both grids: the fixed ones,
    or each detector's draw from its family."""
    short, long = (np.array(a) for a in observing_psds(config))
    if condition.curve is not None:
        for d, detector in enumerate(config.detectors):
            if condition.curve[d] >= 0:
                family_short, family_long = family_psds(config, detector)
                short[d], long[d] = family_short[condition.curve[d]], family_long[
                    condition.curve[d]]
    return short, long


def condition_psds(
    config: SimulationConfig, condition: NoiseCondition | None
) -> tuple[np.ndarray, np.ndarray]:
    """A sample's PSDs on the sample grid ``(3, 2049)`` and the long noise grid.

    ``condition`` None (stationary noise) gives ``psd.csv`` itself, untouched. A distortion
    multiplies the shape on both grids, rescaled by one factor per detector (found on the
    sample grid) that keeps the undistorted sensitivity.
    """
    if condition is None:
        return sample_psds(config), noise_psds(config)
    short, long = _observing(config, condition) if condition.mix.any() else (None, None)
    unit = NoiseCondition(scale=np.ones(len(config.detectors)), mix=condition.mix)
    shape_short = unit.psd(sample_psds(config), short)
    shape_long = unit.psd(noise_psds(config), long)
    if condition.distortion is not None:
        f_short = np.fft.rfftfreq(N_TIME, 1.0 / SAMPLE_RATE)
        f_long = np.fft.rfftfreq(2 * (shape_long.shape[1] - 1), 1.0 / SAMPLE_RATE)
        distorted = shape_short * distortion_factor(condition.distortion, f_short,
                                                    config.psd_distortion)
        ratio = 1.0 / sensitivity_ratio(shape_short, distorted)[:, None]  # (D, 1)
        shape_short = distorted * ratio
        shape_long = shape_long * distortion_factor(condition.distortion, f_long,
                                                    config.psd_distortion) * ratio
    scale = condition.scale[:, None]
    return scale * shape_short, scale * shape_long


def _sample_streams(config: SimulationConfig, split: str, index: int) -> list[np.random.Generator]:
    """Independent streams of one sample: noise, signal, noise condition, glitches.

    Children 0 and 1 are what the noise and signal always used, so options that add streams
    leave the draws of a run without them unchanged.
    """
    return np.random.default_rng([config.seed, SPLITS.index(split), index]).spawn(4)


def make_signal(
    config: SimulationConfig, rng: np.random.Generator, psd: np.ndarray
) -> tuple[np.ndarray, dict[str, float]]:
    """A clean signal ``(3, N_TIME)`` scaled to a drawn network SNR against the sample's
    ``psd`` ``(3, 2049)``, and its parameters."""
    params = draw_parameters(rng, config)
    target_snr = draw_snr(rng, config)
    h_plus, h_cross, epoch = polarizations(
        params, config.approximant, config.f_lower, REFERENCE_DISTANCE_MPC
    )
    signal = project(h_plus, h_cross, epoch, params, config.gps_time, config.detectors)
    snrs = optimal_snr(signal, psd, config.f_lower)
    reference_snr = network_snr(snrs)
    if reference_snr <= 0:
        raise RuntimeError(f"waveform {params} leaves no power in the window")
    scale = target_snr / reference_snr
    params.distance = REFERENCE_DISTANCE_MPC / scale if scale > 0 else math.inf
    row = params.to_dict()
    for detector, value in zip(config.detectors, snrs * scale, strict=True):
        row[f"snr_{detector}"] = float(value)
    row["snr_network"] = network_snr(snrs * scale)
    return signal * scale, row


def simulate_sample(
    config: SimulationConfig, split: str, index: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Sample ``index`` of ``split``: ``(strain (D, N_TIME), clean signal (D, N_TIME), row)``.

    ``row`` holds id, split, target and, for a signal, the injection parameters and SNRs
    (NaN for noise-only samples), then the noise condition and glitches when ``config`` makes
    them: one row of ``injections.csv``. The strain is noise + glitches + signal.
    """
    sample_id = sample_ids(config)[split][index]
    target = int(split_targets(config, split)[index])
    streams = _sample_streams(config, split, index)
    condition = draw_condition(streams[CONDITION], config) if config.varies_psd else None
    psd, long_psd = condition_psds(config, condition)
    noise = colored_noise(long_psd, streams[NOISE], N_TIME)
    row: dict = {"id": sample_id, "split": split, "target": target}
    if target:
        signal, params = make_signal(config, streams[SIGNAL], psd)
    else:
        signal, params = np.zeros_like(noise), dict.fromkeys(signal_columns(config), math.nan)
    row.update(params)
    if condition is not None:
        row.update(condition.columns(config))
    if config.has_glitches:
        glitches = draw_glitches(streams[GLITCH], config)
        noise = noise + glitch_strain(glitches, psd, config.f_lower, config.detectors)
        row.update(glitch_columns(glitches))
    return noise + signal, signal, row
