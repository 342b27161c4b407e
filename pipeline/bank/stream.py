"""The stream search's bank: full-length aligned-spin templates, placed as every bank is.

``build_search_bank`` draws its candidates from the same prior and places them the same way as
the 2-s bank (``placement.py``), but its templates are not cut: each is the frequency-domain
waveform (``SimInspiralChooseFDWaveform``, h+ face-on) from ``f_lower`` to the ringdown, merger
near t = 0, generated on whatever grid a filter block needs (``SearchBank.spectra``), and its
matches are measured on a 16-s grid against the simulator's design PSD of the first detector.
Its minimal match is checked independently by ``bank_matches``: the best match of fresh draws
from the prior (another seed) against the placed bank. Measured for the default 200 templates
(2000 candidates, about 150 s on one core): covering match 0.919 over the candidates; over 200
fresh draws, minimum 0.866, 1st percentile 0.877, 10th 0.941, median 0.972 (``bench/search.py``
prints it for its bank). A search bank is saved as ``bank.hdf`` in the search folder
(``save_search_bank``) and can be given to another search (``--bank``).

The default bank (``SearchBankConfig()`` placed against H1's design PSD: a few minutes on one
core) ships with gwspec (``data/search-bank.hdf``, ``default_bank``), so a search with the
default bank settings starts at once; ``tests/pipeline/bank/test_stream.py`` checks it against
fresh draws from the prior, and ``build_search_bank`` places it again on request.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import lal
import lalsimulation
import numpy as np

from pipeline.bank.config import SearchBankConfig
from pipeline.bank.placement import approximant, draw_candidates, farthest_point, overlap_series
from preprocess.layout import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_BANK = Path(__file__).resolve().parent / "data" / "search-bank.hdf"
DEFAULT_PLACEMENT = "H1"  # whose design PSD the shipped bank was placed against


@dataclass
class SearchBank:
    """Templates of the stream search: parameters ``(K, 4)`` = m1, m2, chi1z, chi2z."""

    config: SearchBankConfig
    params: np.ndarray  # (K, 4) float64
    covering_match: float = float("nan")  # worst candidate's best match after placement
    n_candidates: int = 0

    @property
    def durations(self) -> np.ndarray:
        """Upper bounds ``(K,)`` on each template's length from ``f_lower`` to merger, s."""
        return np.array([lalsimulation.SimInspiralChirpTimeBound(
            self.config.f_lower, m1 * lal.MSUN_SI, m2 * lal.MSUN_SI, s1, s2)
            for m1, m2, s1, s2 in self.params])

    def spectra(self, delta_f: float, n_freq: int) -> np.ndarray:
        """Templates ``(K, n_freq)`` complex64 on the grid ``k * delta_f``, each scaled to a
        largest ``|h|`` of 1 (the filter normalises by each template's sigma)."""
        out = np.empty((len(self.params), n_freq), dtype=np.complex64)
        for k, row in enumerate(self.params):
            h = fd_template(*row, self.config, delta_f, n_freq)
            out[k] = h / np.abs(h).max()
        return out

    def summary(self) -> dict:
        """What is recorded next to results: size, ranges, lengths, covering match."""
        durations = self.durations
        return {"n_templates": len(self.params), "n_candidates": self.n_candidates,
                "covering_match": self.covering_match,
                "mass1_range": [float(self.params[:, 0].min()), float(self.params[:, 0].max())],
                "mass2_range": [float(self.params[:, 1].min()), float(self.params[:, 1].max())],
                "duration_range_s": [float(durations.min()), float(durations.max())]}


def fd_template(mass1: float, mass2: float, chi1z: float, chi2z: float,
                config: SearchBankConfig, delta_f: float, n_freq: int) -> np.ndarray:
    """h+ face-on ``(n_freq,)`` complex128 on ``k * delta_f``: zero below ``f_lower``, merger
    (amplitude peak) near t = 0, so the correlation index is the merger time."""
    f_max = (n_freq - 1) * delta_f
    hp, _ = lalsimulation.SimInspiralChooseFDWaveform(
        mass1 * lal.MSUN_SI, mass2 * lal.MSUN_SI, 0.0, 0.0, chi1z, 0.0, 0.0, chi2z,
        1e6 * lal.PC_SI, 0.0, 0.0, 0.0, 0.0, 0.0, delta_f, config.f_lower, f_max,
        config.f_lower, None, approximant(config.approximant))
    h = np.zeros(n_freq, dtype=np.complex128)
    m = min(n_freq, len(hp.data.data))
    h[:m] = hp.data.data[:m]
    return h


def _white_candidates(params: np.ndarray, config: SearchBankConfig, psd: np.ndarray,
                      n_time: int) -> np.ndarray:
    """Whitened unit-norm full-length templates ``(C, F)`` complex64 on ``n_time``'s grid."""
    delta_f = SAMPLE_RATE / n_time
    white = np.stack([fd_template(*row, config, delta_f, len(psd)) for row in params])
    mask = (np.arange(len(psd)) * delta_f >= config.f_lower) & (psd > 0)
    white *= np.where(mask, np.where(mask, psd, 1.0) ** -0.5, 0.0)
    norm = np.sqrt(4 * delta_f * np.sum(np.abs(white) ** 2, axis=-1, keepdims=True))
    return (white / norm).astype(np.complex64)


def placement_psd(config: SearchBankConfig, detector: str = "H1") -> np.ndarray:
    """The PSD ``(F,)`` matches are measured against: the simulator's design curve of
    ``detector`` on the placement grid (``placement_duration`` s)."""
    from preprocess.simulate.noise import design_psd

    n_time = int(round(config.placement_duration * SAMPLE_RATE))
    return design_psd(detector, np.fft.rfftfreq(n_time, 1.0 / SAMPLE_RATE))


def default_bank(config: SearchBankConfig, detector: str) -> SearchBank | None:
    """The shipped bank when ``config`` is the default and its matches would be measured
    against ``detector``'s design PSD as the shipped one's were; else None."""
    if config != SearchBankConfig() or detector != DEFAULT_PLACEMENT or not DEFAULT_BANK.is_file():
        return None
    bank = load_search_bank(DEFAULT_BANK)
    return bank if bank.config == config else None


def build_search_bank(config: SearchBankConfig, psd: np.ndarray,
                      progress: bool = False) -> SearchBank:
    """Place ``config.n_templates`` full-length templates by farthest-point selection among
    ``n_templates * candidates_per_template`` prior draws; ``psd`` ``(F,)`` on the placement
    grid (``placement_psd``). ``progress``: a bar over the templates placed."""
    candidates = draw_candidates(config)
    n_time = int(round(config.placement_duration * SAMPLE_RATE))
    white = _white_candidates(candidates, config, psd, n_time)
    chosen, best = farthest_point(white, config.n_templates, n_time, progress=progress)
    log.info("search bank: %d full-length templates, covering match %.3f over %d candidates",
             len(chosen), best.min(), len(candidates))
    return SearchBank(config, candidates[chosen], float(best.min()), len(candidates))


def bank_matches(bank: SearchBank, psd: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """Best match ``(S,)`` of ``n_draws`` fresh draws from the bank's prior (another seed than
    the placement's candidates) against the bank: the minimal match, checked independently."""
    from dataclasses import replace

    draws = draw_candidates(replace(bank.config, seed=seed, n_templates=n_draws,
                                    candidates_per_template=1))
    n_time = int(round(bank.config.placement_duration * SAMPLE_RATE))
    templates = _white_candidates(bank.params, bank.config, psd, n_time)
    signals = _white_candidates(draws, bank.config, psd, n_time)
    return np.array([np.abs(overlap_series(s[None], templates, n_time)).max()
                     for s in signals])


def save_search_bank(bank: SearchBank, path: str | Path) -> None:
    """Write the bank (parameters, configuration, covering match) to HDF5, atomically."""
    import h5py

    from runtime.provenance import atomic_path, canonical_json

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("params", data=bank.params)
        f["params"].attrs["columns"] = "mass1 mass2 spin1z spin2z"
        f.attrs.update(format="gwspec-search-bank", config=canonical_json(asdict(bank.config)),
                       covering_match=bank.covering_match, n_candidates=bank.n_candidates)


def load_search_bank(path: str | Path) -> SearchBank:
    """A bank ``save_search_bank`` wrote; ``ValueError`` naming the file otherwise."""
    import json

    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such template bank file")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != "gwspec-search-bank":
                raise ValueError(f"{path}: not a gwspec search bank (no format attribute)")
            params = f["params"][()]
            config = SearchBankConfig(**json.loads(f.attrs["config"]))
            covering, n = float(f.attrs["covering_match"]), int(f.attrs["n_candidates"])
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 bank ({error})") from error
    if params.ndim != 2 or params.shape[1] != 4 or not len(params):
        raise ValueError(f"{path}: params must be (K, 4), got {params.shape}")
    return SearchBank(config, params, covering, n)
