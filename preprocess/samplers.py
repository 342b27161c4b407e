"""Batch samplers over a spectrogram cache that turn each batch into one or two slice reads."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np
from torch.utils.data import Sampler


class ContiguousBatchSampler(Sampler[list[int]]):
    """Batches of consecutive dataset positions, so each batch is one or two slice reads.

    Without ``shuffle`` the batches are ``[0, B), [B, 2B), ...`` (aligned with the 64-sample
    chunks when ``B`` is a multiple of 64). With ``shuffle`` each epoch draws a random offset
    ``o`` in ``[0, B)``, cuts the (cyclic) position range at ``o, o + B, ...`` and shuffles the
    order of those runs (the order inside a batch does not matter to the loss). Trade-off: a
    batch holds neighbours in cache order rather than a uniform random draw; the per-epoch
    offset changes which neighbours share a batch, and the cache order (the CSV order) is not
    sorted by target, so batches stay mixed. Use ``in_memory=True`` with an ordinary random
    sampler for fully random batches.

    With ``num_replicas`` processes, process ``rank`` takes every ``num_replicas``-th run of
    the epoch's (common, seeded) run order: the shares are disjoint. Without ``drop_last`` every
    sample comes once per epoch over all ranks (counts may differ by a batch); with it every
    rank gets the same number of full batches (as DDP needs), and the incomplete run and the
    runs left over after an equal deal (fewer than ``num_replicas``) are skipped that epoch.
    """

    def __init__(
        self,
        n: int | Sized,  # a Dataset or its length
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        self.n = n if isinstance(n, int) else len(n)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.num_replicas, self.rank = seed, num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle to draw (as with ``DistributedSampler``)."""
        self.epoch = epoch

    def _runs(self) -> int:
        """Runs of the epoch over all ranks."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __len__(self) -> int:
        if self.drop_last:
            return self._runs() // self.num_replicas
        return len(range(self.rank, self._runs(), self.num_replicas))

    def __iter__(self) -> Iterator[list[int]]:
        n, size = self.n, self.batch_size
        starts = np.arange(self._runs()) * size
        offset = 0
        if self.shuffle:
            rng = np.random.default_rng((self.seed, self.epoch))
            self.epoch += 1
            offset = int(rng.integers(size)) if n > size else 0
            starts = rng.permutation(starts)
        if self.drop_last:
            starts = starts[: len(self) * self.num_replicas]
        for start in starts[self.rank :: self.num_replicas]:
            yield ((np.arange(start, min(start + size, n)) + offset) % n).tolist()
