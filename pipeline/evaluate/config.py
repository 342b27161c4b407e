"""How predictions of 2-s samples are scored (``pipeline evaluate``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass
class EvaluateConfig:
    """How predictions are scored."""

    fpr: float = 1e-2  # false-positive rate at which the efficiency curve is measured
    fprs: tuple[float, ...] = (1e-1, 1e-2, 1e-3)  # FPRs at which the TPR is reported
    min_noise_per_fpr: float = 10.0  # claim an FPR f only with >= this / f noise samples
    snr_min: float = 2.0  # lower edge of the first efficiency bin (network optimal SNR)
    snr_max: float = 16.0  # upper edge of the last efficiency bin
    snr_bin_width: float = 2.0  # width of the efficiency bins
    confidence: float = 0.68  # confidence level of the binomial error bars (about 1 sigma)
    efficiency_levels: tuple[float, ...] = (0.5, 0.9)  # report the SNR where these are crossed
    efficiency_snrs: tuple[float, ...] = (8.0, 12.0)  # report the efficiency at these SNRs

    def snr_edges(self) -> np.ndarray:
        """Bin edges ``(B+1,)`` from ``snr_min`` to ``snr_max``."""
        if self.snr_bin_width <= 0 or self.snr_max <= self.snr_min:
            raise ValueError(
                f"bad SNR bins: min {self.snr_min}, max {self.snr_max}, width {self.snr_bin_width}"
            )
        import numpy as np

        n_bins = math.ceil((self.snr_max - self.snr_min) / self.snr_bin_width - 1e-9)
        return self.snr_min + self.snr_bin_width * np.arange(n_bins + 1)
