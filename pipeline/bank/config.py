"""Template banks' settings: the prior, the placement and the templates (light, for ``--help``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from preprocess.layout import N_TIME, SAMPLE_RATE
from runtime.checks import finite, positive, whole


def check_bank_prior(bank: Any) -> None:
    """``ValueError`` unless a bank's prior and placement settings are usable (the snippet
    bank's and the stream search's alike)."""
    positive("bank mass_min", bank.mass_min)
    if not bank.mass_min <= positive("bank mass_max", bank.mass_max):
        raise ValueError(f"bank mass range [{bank.mass_min}, {bank.mass_max}] is not valid")
    whole("bank n_templates", bank.n_templates, 1)
    whole("bank candidates_per_template", bank.candidates_per_template, 1)
    if not 0 <= finite("bank spin_max", bank.spin_max) < 1:
        raise ValueError(f"bank spin_max must lie in [0, 1), got {bank.spin_max}")


@dataclass
class BankConfig:
    """The template family, its parameter range and how templates are placed."""

    n_templates: int = 200  # templates kept
    mass_min: float = 10.0  # Msun, detector frame: the simulator's component-mass prior
    mass_max: float = 50.0
    spin_max: float = 0.5  # aligned spins uniform in [-spin_max, spin_max]; 0 = non-spinning
    approximant: str = "IMRPhenomD"  # aligned-spin IMR model of lalsimulation
    f_lower: float = 20.0  # Hz: lowest frequency of the overlaps
    duration: float = 1.1  # s of template kept before the merger
    post_merger: float = 0.02  # s of template kept after the merger (ringdown)
    start_taper: float = 0.05  # s: half-Hann ramp at the cut start of a template
    candidates_per_template: int = 10  # candidates drawn per template kept
    seed: int = 0  # seed of the candidate draws

    def __post_init__(self) -> None:
        check_bank_prior(self)
        if not 0 < self.duration + self.post_merger < N_TIME / SAMPLE_RATE:
            raise ValueError("template duration + post_merger must be shorter than a sample")

    @property
    def pre_samples(self) -> int:
        """Samples kept before the merger."""
        return int(round(self.duration * SAMPLE_RATE))

    @property
    def post_samples(self) -> int:
        """Samples kept after the merger."""
        return int(round(self.post_merger * SAMPLE_RATE))


@dataclass(frozen=True)
class SearchBankConfig:
    """The template bank of the stream search: full-length aligned-spin templates.

    The prior and placement are those of the snippet bank (``BankConfig``, whose defaults
    these repeat); the templates are not cut: each runs from ``f_lower`` to the
    ringdown, generated in the frequency domain.
    """

    n_templates: int = 200  # templates kept
    mass_min: float = 10.0  # Msun, detector frame: the simulator's component-mass prior
    mass_max: float = 50.0
    spin_max: float = 0.5  # aligned spins uniform in [-spin_max, spin_max]
    approximant: str = "IMRPhenomD"  # a frequency-domain aligned-spin model of lalsimulation
    f_lower: float = 20.0  # Hz: templates and overlaps start here
    candidates_per_template: int = 10  # prior draws per template kept (farthest-point placement)
    seed: int = 0  # seed of the candidate draws
    placement_duration: float = 16.0  # s: grid of the placement matches (1/16-Hz resolution;
    # longer than the longest template, about 7 s from 20 Hz at 10+10 Msun)

    def __post_init__(self) -> None:
        check_bank_prior(self)
        if not 0 < finite("bank f_lower", self.f_lower) < 512:
            raise ValueError(f"bank f_lower must lie in (0, 512) Hz, got {self.f_lower}")
        if positive("bank placement_duration", self.placement_duration) < 2:
            raise ValueError("bank placement_duration must be at least 2 s")
