"""How ``pipeline evaluate-search`` scores trigger files (light, for ``--help``)."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.checks import non_negative, positive


@dataclass(frozen=True)
class EvaluateSearchConfig:
    """The FARs of the table, the distance prior, and durations for files that record none."""

    fars_per_month: tuple[float, ...] = (1.0, 10.0, 100.0)  # FARs of the table (month = 30 d)
    distance_prior: str = "auto"  # chirp | volume | auto (stream.json, else the table's columns)
    distance_max: float = 0.0  # Mpc, the prior's bound (chirp distance for chirp); 0 = recorded
    found_far_per_month: float = 1.0  # FAR at which the found/missed plot is drawn
    background_duration: float = 0.0  # s a background file stands for, where it records none
    # (another search's MLGWSC-1 file: time, stat, var only); 0 = the file's own
    foreground_duration: float = 0.0  # s the foreground file stands for, likewise

    def __post_init__(self) -> None:
        object.__setattr__(self, "fars_per_month", tuple(self.fars_per_month))
        if not self.fars_per_month:
            raise ValueError("give at least one FAR per month")
        for far in self.fars_per_month:
            positive("FAR per month", far)
        if self.distance_prior not in ("auto", "chirp", "volume"):
            raise ValueError(f"distance prior {self.distance_prior!r}: expected auto, chirp "
                             "or volume")
        non_negative("distance max", self.distance_max)
        positive("found FAR per month", self.found_far_per_month)
        non_negative("background duration", self.background_duration)
        non_negative("foreground duration", self.foreground_duration)
