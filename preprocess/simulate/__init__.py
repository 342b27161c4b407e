"""G2Net-format simulator: precessing BBH signals from lalsimulation in coloured design noise,
optionally non-stationary (a PSD level and shape per sample and detector) and with glitches.

``simulate(SimulationConfig(...), out)`` writes a data directory in the Kaggle G2Net layout;
``simulate_sample(config, split, index)`` makes one sample (with its clean signal) in memory.
"""

from preprocess.simulate.config import (
    APPROXIMANTS,
    GLITCH_TYPES,
    SNR_DISTRIBUTIONS,
    SimulationConfig,
)
from preprocess.simulate.run import simulate
from preprocess.simulate.sample import INJECTION_COLUMNS, injection_columns, simulate_sample

__all__ = [
    "APPROXIMANTS",
    "GLITCH_TYPES",
    "INJECTION_COLUMNS",
    "SNR_DISTRIBUTIONS",
    "SimulationConfig",
    "injection_columns",
    "simulate",
    "simulate_sample",
]
