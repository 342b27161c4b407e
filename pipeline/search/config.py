"""What both searches share in their settings: time slides (light, for ``--help``)."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.checks import non_negative, positive, whole


@dataclass(frozen=True)
class SlideConfig:
    """Time slides: slide k shifts detector i by ``k * step * i`` s, cyclically (slides.py)."""

    step: float = 8.0  # s: longer than the longest template (about 7 s from 20 Hz) or window,
    # plus the light-travel time, so no slide pairs a detector's data with itself
    count: int = 0  # slides 1..count; 0 = zero lag only
    background_duration: float = 0.0  # s of background wanted instead of a count (0 = use count)

    def __post_init__(self) -> None:
        positive("slide step", self.step)
        whole("slide count", self.count)
        non_negative("background duration", self.background_duration)
        if self.background_duration > 1e12:  # 30,000 years: a typo, not a background
            raise ValueError(f"background duration {self.background_duration:g} s is beyond "
                             "any search (at most 1e12 s)")

    @property
    def wanted(self) -> bool:
        """Whether any slide is asked for."""
        return bool(self.count or self.background_duration)
