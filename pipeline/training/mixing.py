"""Training images made anew for every step: a pool's noise and signals paired at random.

A fixed cache pairs each noise draw with one signal, at one SNR, for every epoch. With a mixing
pool (``preprocess.pool``) of the same simulated samples, ``MixedBatches`` makes every
training image afresh: a noise sample of the training fold, and with probability
``signal_fraction`` a signal of the training fold, each detector's sensitivity to it drawn
(``detector_spread``: log-uniform in [1/x, 1]), scaled to a network SNR drawn from
``MixConfig.snr`` (exact: SNR scales with amplitude, and the pool records each signal's SNR
and each noise sample's level), added in strain, and turned into images by the cache's own
image recipe and whitening PSD (``preprocess.images.ImageMaker``, ``build-cqt``'s code): an
image is the one ``build-cqt`` makes of the same sum. Its cost is the image recipe's, a few
per cent of a training step; the validation fold, the checkpoints, ``predict`` and the search
are unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from pipeline.training.config import MixConfig
from preprocess.images import ImageMaker
from preprocess.pool import Pool

if TYPE_CHECKING:
    from pipeline.training.config import TrainConfig
    from pipeline.training.data import FoldLoaders
    from preprocess.cache import CacheManifest


@dataclass
class Mix:
    """One batch's draws, each ``(B, ...)``: what ``mixed_strain`` adds up."""

    noise: np.ndarray  # (B,) pool rows of the noise
    signal: np.ndarray  # (B,) pool signal rows, -1 for noise alone
    snr: np.ndarray  # (B,) network SNR (NaN for noise alone)
    sensitivity: np.ndarray  # (B, D) each detector's amplitude factor, in [1/spread, 1]


def snr_bounds(config: MixConfig, epoch: int) -> tuple[float, float]:
    """The range of network SNRs drawn at ``epoch`` (the curriculum's falls to ``snr_min``)."""
    if config.snr != "curriculum":
        return config.snr_min, config.snr_max
    share = min(epoch / config.curriculum_epochs, 1.0)
    return config.snr_max - share * (config.snr_max - config.snr_min), config.snr_max


def draw_snr(rng: np.random.Generator, config: MixConfig, epoch: int, n: int) -> np.ndarray:
    """``(n,)`` network SNRs of ``config.snr``'s distribution at ``epoch``."""
    low, high = snr_bounds(config, epoch)
    if config.snr != "powerlaw":
        return rng.uniform(low, high, n)
    k = config.snr_index  # inverse CDF of a density ~ snr^-k on [low, high]
    u = rng.uniform(0.0, 1.0, n)
    if abs(k - 1) < 1e-12:
        return low * (high / low) ** u
    a, b = low ** (1 - k), high ** (1 - k)
    return (a + u * (b - a)) ** (1 / (1 - k))


def draw_mix(rng: np.random.Generator, noise_rows: np.ndarray, signal_rows: np.ndarray,
             config: MixConfig, epoch: int, batch: int, n_detectors: int) -> Mix:
    """One batch's pairing, SNRs and sensitivities."""
    noise = rng.choice(noise_rows, batch)
    with_signal = rng.random(batch) < config.signal_fraction
    signal = np.where(with_signal, rng.choice(signal_rows, batch), -1)
    snr = np.where(with_signal, draw_snr(rng, config, epoch, batch), np.nan)
    spread = math.log(config.detector_spread)
    sensitivity = np.exp(-rng.uniform(0.0, spread, (batch, n_detectors)))
    return Mix(noise, signal, snr, sensitivity)


def mixed_strain(pool: Pool, mix: Mix) -> tuple[np.ndarray, np.ndarray]:
    """The batch's strain ``(B, D, N)`` float32 in the pool's units, and each image's SNR per
    detector ``(B, D)`` (0 for noise alone): noise + a * sensitivity * signal, with ``a`` set
    for the drawn network SNR against the noise sample's own level (module docstring)."""
    strain = pool.noise[mix.noise].copy()  # (B, D, N)
    snrs = np.zeros((len(mix.noise), pool.noise.shape[1]))
    for b in np.flatnonzero(mix.signal >= 0):
        j, i = mix.signal[b], mix.noise[b]
        base = pool.snr[j] * np.sqrt(pool.scale[pool.signal_of[j]] / pool.scale[i])  # (D,)
        weighted = base * mix.sensitivity[b]
        amplitude = mix.snr[b] / np.sqrt(np.sum(weighted**2))
        factor = (amplitude * mix.sensitivity[b]).astype(np.float32)[:, None]  # (D, 1)
        strain[b] += factor * pool.signal[j]
        snrs[b] = amplitude * weighted
    return strain, snrs


class MixedBatches:
    """The training loader of a run with a pool: ``(images (B, D, F, T) float16 on the maker's
    device, targets (B,) float32, ids)`` batches, new draws every epoch (``set_epoch``)."""

    def __init__(self, pool: Pool, noise_rows: np.ndarray, signal_rows: np.ndarray,
                 maker: ImageMaker, config: MixConfig, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1):
        if not len(noise_rows) or not len(signal_rows):
            raise ValueError(f"{pool.path}: the training fold holds no noise or no signal to "
                             "mix")
        self.pool, self.noise_rows, self.signal_rows = pool, noise_rows, signal_rows
        self.maker, self.config, self.batch_size = maker, config, batch_size
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Batches per epoch: one epoch draws as many images as the fold holds."""
        return len(self.noise_rows) // (self.batch_size * self.world_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
        rng = np.random.default_rng([self.seed, self.epoch, self.rank])
        for step in range(len(self)):
            mix = draw_mix(rng, self.noise_rows, self.signal_rows, self.config, self.epoch,
                           self.batch_size, self.pool.noise.shape[1])
            strain, _ = mixed_strain(self.pool, mix)
            images, stats = self.maker.make(torch.from_numpy(strain))
            targets = torch.from_numpy((mix.signal >= 0).astype(np.float32))
            ids = [f"mix{self.epoch}-{step}-{b}" for b in range(len(mix.noise))]
            yield images, targets, ids


def mixing_loaders(loaders: FoldLoaders, config: TrainConfig, manifest: CacheManifest,
                   device: torch.device, rank: int = 0, world_size: int = 1) -> FoldLoaders:
    """``loaders`` with their training loader replaced by ``MixedBatches`` over the pool's
    samples of the training fold; ``ValueError`` when the pool is not of the cache's data."""
    from preprocess.pool import read_pool, simulation_hash

    pool = read_pool(config.pool)
    data = manifest.info.get("data", "")
    try:
        expected = simulation_hash(data)
    except (OSError, ValueError) as error:
        raise ValueError(f"{config.pool}: cannot check the pool against the cache's data "
                         f"{data} ({error})") from error
    if pool.simulation_hash != expected or pool.detectors != manifest.detectors:
        raise ValueError(f"{config.pool}: a pool of other simulated data than {data}, whose "
                         f"cache {manifest.root} this run trains on; make it with preprocess "
                         f"pool --data {data}")
    train_ids = set(loaders.train.dataset.ids)
    noise_rows = np.flatnonzero([i in train_ids for i in pool.ids])
    signal_rows = np.flatnonzero([pool.ids[row] in train_ids for row in pool.signal_of])
    maker = ImageMaker(manifest.recipe, manifest.psd, device)
    batches = MixedBatches(pool, noise_rows, signal_rows, maker, config.mix, config.batch_size,
                           config.seed, rank, world_size)
    return replace(loaders, train=batches, train_sampler=batches)

