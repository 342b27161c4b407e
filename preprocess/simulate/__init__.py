"""G2Net-format simulator: precessing BBH signals from lalsimulation in coloured design noise,
optionally non-stationary (a PSD level and shape per sample and detector) and with glitches.

``simulate(SimulationConfig(...), out)`` writes a data directory in the Kaggle G2Net layout;
``simulate_sample(config, split, index)`` makes one sample (with its clean signal) in memory.
The names are imported on first use (PEP 562): ``preprocess.simulate.config`` alone, which the
command line reads its defaults from, needs neither lalsimulation nor pandas.
"""

from __future__ import annotations

from runtime.lazy import lazy_exports

_EXPORTS = {  # public name -> module holding it
    "APPROXIMANTS": ".config",
    "GLITCH_TYPES": ".config",
    "SNR_DISTRIBUTIONS": ".config",
    "SimulationConfig": ".config",
    "simulate": ".run",
    "INJECTION_COLUMNS": ".sample",
    "injection_columns": ".sample",
    "simulate_sample": ".sample",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
