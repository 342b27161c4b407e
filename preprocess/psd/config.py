"""How a stretch of strain is whitened: which PSD, and how a running estimate is placed.

Light (no numpy), so every command line reads its defaults at once. One meaning of ``--psd``
everywhere (``preprocess.psd.options``): ``running`` (estimated from the data around each
stretch), ``training`` (the model's training cache's PSD: the network search only), or a PSD
file, read by ``preprocess.psd.read``.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.checks import positive

PSD_PLACEMENTS = ("preceding", "centred")  # where a running PSD's span lies
RUNNING, TRAINING = "running", "training"  # the --psd keywords; anything else is a file


@dataclass(frozen=True)
class PSDConfig:
    """Which PSD whitens each stretch, and where a running estimate takes its data from."""

    source: str = RUNNING  # "running", "training" (a model's training PSD) or a PSD file
    span: float = 256.0  # s of data each running estimate is the median over
    segment: float = 4.0  # s per Welch segment of the matched filter's estimate (Hann, 50%
    # overlap: 0.25-Hz resolution); the network search's periodograms are its 2-s windows
    placement: str = "preceding"  # "preceding": the span ends where the stretch ends (only
    # past and present data); "centred": the span is centred on the stretch

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("psd source is empty: give running, training or a PSD file")
        if self.placement not in PSD_PLACEMENTS:
            raise ValueError(f"psd placement {self.placement!r}: expected one of "
                             f"{', '.join(PSD_PLACEMENTS)}")
        positive("psd span", self.span)
        positive("psd segment", self.segment)

    @property
    def running(self) -> bool:
        return self.source == RUNNING

    @property
    def file(self) -> str:
        """The PSD file, or "" for the keywords."""
        return "" if self.source in (RUNNING, TRAINING) else self.source
