"""Batch augmentations keep the detector physics: swap, shift and masks on (B, 3, F, T)."""

from __future__ import annotations

import pytest
import torch

from pipeline.training.augment import BatchAugment, freq_mask, swap_ligo, time_mask, time_shift
from pipeline.training.config import AugmentConfig
from tests.tolerances import float32_sum_error


def _batch(b: int = 16) -> torch.Tensor:
    return torch.randn(b, 3, 12, 20)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_swap_exchanges_ligo_and_keeps_virgo() -> None:
    x = _batch()
    always = swap_ligo(x, 1.0, _gen())
    assert torch.equal(always[:, 0], x[:, 1]) and torch.equal(always[:, 1], x[:, 0])
    assert torch.equal(always[:, 2], x[:, 2])
    assert torch.equal(swap_ligo(x, 0.0, _gen()), x)
    half = swap_ligo(x, 0.5, _gen())
    swapped = torch.tensor([torch.equal(half[i, 0], x[i, 1]) for i in range(len(x))])
    kept = torch.tensor([torch.equal(half[i], x[i]) for i in range(len(x))])
    assert torch.all(swapped ^ kept) and 0 < swapped.sum() < len(x)
    assert torch.equal(half[:, 2], x[:, 2])
    with pytest.raises(ValueError, match="expected"):
        swap_ligo(torch.randn(2, 12, 20), 0.5, _gen())


def test_time_shift_rolls_all_detectors_alike() -> None:
    x = _batch()
    y = time_shift(x, 3, _gen())
    shifts = []
    for i in range(len(x)):
        match = [s for s in range(-3, 4) if torch.equal(y[i], torch.roll(x[i], s, dims=-1))]
        assert len(match) == 1  # one shift, the same for the whole (3, F, T) image
        shifts.append(match[0])
    assert len(set(shifts)) > 1
    assert torch.equal(time_shift(x, 0, _gen()), x)


@pytest.mark.parametrize(("mask", "axis"), [(time_mask, 3), (freq_mask, 2)])
def test_masks_replace_one_band_by_the_mean(mask, axis) -> None:
    x = _batch()
    y = mask(x, 5, _gen())
    widths = []
    for i in range(len(x)):
        changed = (y[i] != x[i]).any(dim=tuple(d for d in (0, 1, 2) if d != axis - 1))
        where = torch.nonzero(changed).view(-1)
        widths.append(len(where))
        if len(where):
            assert where.max() - where.min() + 1 == len(where) <= 5  # one contiguous band
            band = y[i].index_select(axis - 1, where)
            mean = x[i].mean(dim=(1, 2)).view(3, 1, 1)
            # a float32 mean of F x T values, batched there and alone here: the summation
            # orders may differ by twice the worst-case rounding of such a mean
            atol = 2 * float32_sum_error(x[i, 0].numel(), x[i].abs().mean().item())
            torch.testing.assert_close(band, mean.expand_as(band), rtol=0, atol=atol)
    assert max(widths) > 0


def test_batch_augment_repeats_after_reseed() -> None:
    config = AugmentConfig(time_mask=True, freq_mask=True)
    augment = BatchAugment(config, seed=5)
    x = _batch()
    first = augment(x)
    assert not torch.equal(first, x)
    assert not torch.equal(augment(x), first)  # the stream moves on
    augment.reseed(5)
    assert torch.equal(augment(x), first)
    off = BatchAugment(AugmentConfig(swap_ligo=False, time_shift=False))
    assert not off.active and torch.equal(off(x), x)


def test_augmentations_keep_channels_last() -> None:
    """The batch reaches the first convolution in the layout Precision made: no conversion
    per step, one graph for torch.compile."""
    x = _batch().to(memory_format=torch.channels_last)
    config = AugmentConfig(time_mask=True, freq_mask=True)
    for transform in (lambda b: swap_ligo(b, 0.5, _gen()), lambda b: time_shift(b, 3, _gen()),
                      lambda b: time_mask(b, 5, _gen()), lambda b: freq_mask(b, 5, _gen()),
                      BatchAugment(config)):
        y = transform(x)
        assert y.is_contiguous(memory_format=torch.channels_last) and y.shape == x.shape
    contiguous = BatchAugment(config)(_batch())
    assert contiguous.is_contiguous()


def test_random_draws_are_made_on_the_batch_device() -> None:
    """Every random draw and index comes from a generator on the batch's own device, so on a
    GPU no host tensor is copied (a copy of ordinary memory waits for the GPU). Checked by
    recording every operation an augmentation dispatches: none copies between devices, and
    the generator lives on the batch's device."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            sources = {a.device for a in args if isinstance(a, torch.Tensor)}
            self.ops.append((str(func), kwargs.get("device"), sources))
            return func(*args, **kwargs)

    augment = BatchAugment(AugmentConfig(time_mask=True, freq_mask=True))
    x = _batch()
    with Record() as record:
        augment(x)
    assert augment.generator(x.device).device == x.device
    moves = [op for op, device, sources in record.ops
             if device is not None and any(device != source for source in sources)]
    assert not moves, moves  # (dtype conversions on the device, like .long(), are no moves)
    factories = [device for op, device, _ in record.ops if op.split(".")[1] in
                 ("rand", "randint", "arange")]
    assert factories and all(d in (None, x.device) for d in factories)


def test_each_device_draws_its_own_reproducible_stream() -> None:
    augment = BatchAugment(AugmentConfig(), seed=3)
    x = _batch()
    first = augment(x)
    augment.reseed(3)
    assert torch.equal(augment(x), first)
    assert list(augment._generators) == [x.device]
