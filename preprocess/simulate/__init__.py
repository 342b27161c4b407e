"""G2Net-format simulator: precessing BBH signals from lalsimulation in coloured design noise.

``simulate(SimulationConfig(...), out)`` writes a data directory in the Kaggle G2Net layout;
``simulate_sample(config, split, index)`` makes one sample (with its clean signal) in memory.
"""

from preprocess.simulate.config import APPROXIMANTS, SNR_DISTRIBUTIONS, SimulationConfig
from preprocess.simulate.run import simulate
from preprocess.simulate.sample import INJECTION_COLUMNS, simulate_sample

__all__ = [
    "APPROXIMANTS",
    "INJECTION_COLUMNS",
    "SNR_DISTRIBUTIONS",
    "SimulationConfig",
    "simulate",
    "simulate_sample",
]
