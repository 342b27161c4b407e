"""The 2-s matched-filter baseline's settings (``pipeline baseline matched-filter``).

``noise_level`` says how each sample's noise level is known: ``recorded`` (the simulator's
``psd_scale_<det>`` in ``injections.csv``, what a real search measures from the data around),
``estimated`` (the median whitened power of the sample itself), ``nominal`` (1), or ``auto``
(recorded when the data records it, else nominal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.bank.config import BankConfig

NOISE_LEVELS = ("auto", "recorded", "estimated", "nominal")  # see the module docstring


@dataclass
class MatchedFilterConfig:
    """The bank, the data conditioning and the coincidence windows of the baseline."""

    bank: BankConfig = field(default_factory=BankConfig)
    taper: float = 0.05  # s of cosine ramp at each end of a sample (Tukey window)
    highpass: float = 15.0  # Hz: zero-phase high-pass before tapering (0 = off), so that the
    # steep noise below the band (the seismic wall) does not leak into it through the taper
    delay_margin: float = 0.002  # s added to each light-travel window (timing error, rounding)
    chunk_size: int = 16  # samples per worker task
    noise_level: str = "auto"  # per-sample PSD scale: auto, recorded, estimated or nominal

    def __post_init__(self) -> None:
        if self.noise_level not in NOISE_LEVELS:
            raise ValueError(f"unknown noise level {self.noise_level!r}; expected one of "
                             f"{', '.join(NOISE_LEVELS)}")
