"""How MLGWSC-1's ``evaluate.py`` sizes the sensitive volume, against gwspec's estimator.

``evaluate.py`` takes the sphere's radius from the largest injected luminosity distance, where
the prior's bound (``dc_max (Mc_max / Mc_ref)^(5/6)`` for chirp distance uniform in volume up
to ``dc_max``) is what the injections sample. This draws ``--injections`` injections from the
simulator's prior (``preprocess simulate-stream``'s defaults: component masses uniform in
10-50 Msun, chirp distance uniform in volume in 130-350 Mpc) ``--draws`` times and prints the
ratio of the two radii: how far low ``evaluate.py``'s distances lie, whatever the search.

Usage: ``python bench/mlgwsc_bias.py [--injections 147] [--draws 4000]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from pipeline.search.evaluate.volume import CHIRP_MASS_REFERENCE
from preprocess.stream.config import StreamConfig


def radius_ratios(n: int, draws: int, seed: int = 0) -> np.ndarray:
    """``(draws,)`` evaluate.py's radius over the prior's, for ``n`` injections each."""
    config = StreamConfig()
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for k in range(draws):
        masses = rng.uniform(config.mass_min, config.mass_max, (n, 2))
        mchirp = (masses.prod(axis=1)) ** 0.6 / masses.sum(axis=1) ** 0.2
        chirp = rng.uniform(config.distance_min**3, config.distance_max**3, n) ** (1 / 3)
        distance = chirp * (mchirp / CHIRP_MASS_REFERENCE) ** (5 / 6)
        bound = config.distance_max * (mchirp.max() / CHIRP_MASS_REFERENCE) ** (5 / 6)
        out[k] = distance.max() / bound
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--injections", type=int, default=147)
    parser.add_argument("--draws", type=int, default=4000)
    args = parser.parse_args()
    ratio = radius_ratios(args.injections, args.draws)
    low = 100 * (1 - ratio)
    print(f"{args.injections} injections, {args.draws} draws: evaluate.py's distances lie "
          f"{low.mean():.1f}% low on average (median {np.median(low):.1f}%, 10th-90th "
          f"percentile {np.percentile(low, 10):.1f}-{np.percentile(low, 90):.1f}%); volumes "
          f"{100 * (1 - np.mean(ratio**3)):.1f}% low")


if __name__ == "__main__":
    main()
