"""False-alarm rate, injections found, and sensitive volume and distance, as MLGWSC-1 scores them.

Following the first Machine Learning Gravitational-Wave Search Challenge (Schäfer et al. 2023,
PRD 107, 023021, its ``evaluate.py``):

- **FAR** at a threshold ``x``: the number of background triggers louder than ``x`` over the
  background time. At a target FAR ``F`` the threshold is the ``(k + 1)``-th loudest
  background statistic, ``k = floor(F T)``: at most ``k`` background triggers lie above it.
  The lowest FAR a background supports is ``1 / T``, one louder trigger; a target below it is
  flagged, never claimed.
- **Found**: an injection is found at ``x`` when a foreground trigger within that trigger's
  ``var`` of its ``tc`` is louder than ``x`` (its statistic is the loudest such trigger's).
  ``evaluate.py`` counts matching triggers; gwspec counts injections, which is the same
  whenever candidates are clustered further apart than ``2 var`` (they are, by default).
- **Sensitive volume**, for injections drawn uniform in volume of a distance up to ``d_max``:
  ``V = V_max / N * sum_found w_i``, ``V_max = 4 pi d_max^3 / 3``. With the chirp-distance prior
  (MLGWSC-1's: ``dc = d (Mc_ref / Mc)^(5/6)`` uniform in volume up to ``dc_max``) an injection of
  chirp mass ``Mc`` samples a sphere of luminosity radius ``dc_max (Mc / Mc_ref)^(5/6)``, so
  ``w = (Mc / Mc_max)^(5/2)`` with ``d_max = dc_max (Mc_max / Mc_ref)^(5/6)``; with the plain
  volume prior ``w = 1``. Its standard error is the sample's:
  ``V_max / N * sqrt(sum_found w^2 - (sum_found w)^2 / N)``, and the sensitive distance is
  ``R = (3 V / 4 pi)^(1/3)`` with ``sigma_R = R sigma_V / (3 V)``. Like ``evaluate.py`` it
  treats the sphere inside the prior's lower bound as sampled with the same found fraction.
- For any other distance prior ``p(d)``: the Monte-Carlo estimator
  ``V = (1/N) sum_found 4 pi d_i^2 / p(d_i)`` (``monte_carlo_volume``), the sum of found
  weights times the prior's volume.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SECONDS_PER_MONTH = 30 * 86400.0  # a month of data, as MLGWSC-1's data sets hold
CHIRP_MASS_REFERENCE = 1.4 * 2 ** (-1 / 5)  # Msun (preprocess.stream.injections, PyCBC's)
PRIORS = ("chirp", "volume")


def far_at(background: np.ndarray, duration: float, thresholds: np.ndarray) -> np.ndarray:
    """FAR ``(M,)`` per second at each threshold: background triggers louder, over ``duration``."""
    ordered = np.sort(np.asarray(background, dtype=np.float64))
    louder = len(ordered) - np.searchsorted(ordered, thresholds, side="right")
    return louder / duration


def threshold_at(background: np.ndarray, duration: float, far: float) -> float:
    """The statistic a candidate must exceed for a FAR of at most ``far`` per second."""
    k = math.floor(far * duration + 1e-9)
    ordered = np.sort(np.asarray(background, dtype=np.float64))[::-1]
    return float(ordered[k]) if k < len(ordered) else -math.inf


def injection_statistics(times: np.ndarray, stats: np.ndarray, variances: np.ndarray,
                         tc: np.ndarray) -> np.ndarray:
    """Per injection ``(N,)``: the loudest statistic of triggers within their ``var`` of its
    ``tc``, ``-inf`` when none is."""
    out = np.full(len(tc), -np.inf)
    if not len(times):
        return out
    order = np.argsort(times)
    t, s, v = times[order], stats[order], variances[order]
    reach = float(v.max())
    lo = np.searchsorted(t, tc - reach, side="left")
    hi = np.searchsorted(t, tc + reach, side="right")
    for i in np.flatnonzero(hi > lo):
        near = slice(lo[i], hi[i])
        ok = np.abs(t[near] - tc[i]) <= v[near]
        if ok.any():
            out[i] = s[near][ok].max()
    return out


@dataclass
class InjectionSet:
    """Injections as the estimator needs them: each ``(N,)``."""

    tc: np.ndarray
    distance: np.ndarray  # luminosity, Mpc
    snr: np.ndarray  # optimal network SNR (NaN when not recorded)
    weights: np.ndarray  # w_i of the module docstring
    v_max: float  # Mpc^3
    prior: str
    d_max: float  # Mpc
    stream: str | None = None  # the stream they were made for (read_injection_table)

    def select(self, keep: np.ndarray) -> InjectionSet:
        return InjectionSet(self.tc[keep], self.distance[keep], self.snr[keep],
                            self.weights[keep], self.v_max, self.prior, self.d_max,
                            self.stream)


def read_injection_table(path: str | Path) -> tuple[pd.DataFrame, str | None]:
    """An injection table (MLGWSC-1 ``injections.hdf`` or gwspec's ``injections.csv``) and the
    identity of the stream it was made for (the HDF file's ``stream`` attribute, or the
    ``config_hash`` of the ``stream.json`` beside a CSV; None when neither records it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such injection table")
    if path.suffix in (".hdf", ".h5", ".hdf5"):
        from preprocess.stream.mlgwsc import read_injections

        columns, attrs = read_injections(path)
        frame, stream = pd.DataFrame(columns), attrs.get("stream")
    else:
        from preprocess.layout import read_csv

        frame, stream = read_csv(path), _stream_record(path).get("config_hash")
    missing = [c for c in ("tc", "distance") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: injection table lacks column(s) {', '.join(missing)}")
    return frame, None if stream is None else str(stream)


def _stream_record(path: Path) -> dict:
    """The ``stream.json`` beside an injection table ({} when there is none)."""
    record = path.parent / "stream.json"
    try:
        return json.loads(record.read_text()) if record.is_file() else {}
    except (OSError, ValueError):
        return {}


def _finite(path: Path, name: str, values: np.ndarray, positive: bool = False) -> np.ndarray:
    """``values`` of column ``name`` once every one is finite (and > 0 if ``positive``)."""
    bad = ~np.isfinite(values) | ((values <= 0) if positive else False)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{path}: column {name} must be finite{' and > 0' if positive else ''}"
                         f"; row {row + 1} holds {values[row]:g}")
    return values


def injection_set(path: str | Path, prior: str = "auto", distance_max: float = 0.0) -> InjectionSet:
    """The injections of ``path`` with their weights (module docstring).

    ``prior`` ``auto``: the ``stream.json`` beside the table, else ``chirp`` when the table has
    ``chirp_distance``, else ``volume``. ``distance_max`` (Mpc; chirp distance for ``chirp``)
    0: ``stream.json``'s, else the table's largest (a little below the prior's bound).
    """
    path = Path(path)
    frame, stream = read_injection_table(path)
    recorded = _stream_record(path).get("config", {})
    if prior == "auto":
        prior = recorded.get("distance_prior") or (
            "chirp" if "chirp_distance" in frame.columns else "volume")
    if prior not in PRIORS:
        raise ValueError(f"distance prior {prior!r}: expected one of {', '.join(PRIORS)}")
    column = "chirp_distance" if prior == "chirp" else "distance"
    if column not in frame.columns:
        raise ValueError(f"{path}: the {prior} prior needs column {column}")
    if not distance_max:
        distance_max = float(recorded.get("distance_max") or frame[column].max())
        if not recorded:
            log.info("%s: largest %s %.1f Mpc taken as the prior's bound", path, column,
                     distance_max)
    _finite(path, column, frame[column].to_numpy(float), positive=True)
    if prior == "chirp":
        mchirp = _finite(path, "chirp mass", _chirp_mass(frame, path), positive=True)
        weights = (mchirp / mchirp.max()) ** 2.5
        d_max = distance_max * (mchirp.max() / CHIRP_MASS_REFERENCE) ** (5 / 6)
    else:
        weights, d_max = np.ones(len(frame)), distance_max
    snr = frame["snr_network"].to_numpy(float) if "snr_network" in frame else np.full(
        len(frame), np.nan)
    tc = _finite(path, "tc", frame["tc"].to_numpy(float))
    distance = _finite(path, "distance", frame["distance"].to_numpy(float), positive=True)
    return InjectionSet(tc, distance, snr, weights, 4 * math.pi / 3 * d_max**3, prior, d_max,
                        stream)


def _chirp_mass(frame: pd.DataFrame, path: Path) -> np.ndarray:
    if "mchirp" in frame.columns:
        return frame["mchirp"].to_numpy(float)
    if {"mass1", "mass2"} <= set(frame.columns):
        m1, m2 = frame["mass1"].to_numpy(float), frame["mass2"].to_numpy(float)
        return (m1 * m2) ** 0.6 / (m1 + m2) ** 0.2
    raise ValueError(f"{path}: the chirp prior needs mchirp or mass1, mass2")


def sensitive_volume(found: np.ndarray, weights: np.ndarray,
                     v_max: float) -> tuple[np.ndarray, np.ndarray]:
    """``(V, sigma_V)`` for found masks ``(..., N)`` (module docstring), Mpc^3."""
    n = found.shape[-1]
    w = np.where(found, weights, 0.0)
    total, squares = w.sum(axis=-1), (w**2).sum(axis=-1)
    variance = np.maximum(squares - total**2 / n, 0.0)
    return v_max / n * total, v_max / n * np.sqrt(variance)


def sensitive_distance(volume: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(R, sigma_R)``: the radius of a sphere of volume V and its propagated error."""
    radius = np.cbrt(3 * np.asarray(volume) / (4 * math.pi))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.where(volume > 0, radius * error / (3 * volume), np.nan)
    return radius, sigma


def monte_carlo_volume(found: np.ndarray, distances: np.ndarray,
                       pdf: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """``(V, sigma_V)`` for injections at ``distances`` drawn from the density ``pdf`` (1/Mpc):
    the mean over injections of ``found * 4 pi d^2 / p(d)``, and its standard error."""
    terms = np.where(found, 4 * math.pi * distances**2 / pdf(distances), 0.0)
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(len(terms)))
