"""Input stems for the ResNet family: how the first layer meets a small spectrogram.

torchvision's stem (7x7 stride-2 conv, then a stride-2 max-pool) divides both image sides by 4
before the first residual stage. That suits 224x224 photographs but not a (3, 69, 129) CQT image,
where it leaves a 3x5 map at the last stage and blurs the narrow chirp tracks. The stems below
keep the rest of torchvision's ResNet unchanged and only swap ``conv1`` and ``maxpool``.

Feature-map size (F, T) for a (3, 69, 129) input, after the stem -> after ``layer4``:

=========  =========================================  ===============  ===========
name       layers                                     after the stem   ``layer4``
=========  =========================================  ===============  ===========
imagenet   7x7 conv stride 2 + 3x3 max-pool stride 2   (18, 33)         (3, 5)
small      3x3 conv stride 1, no max-pool              (69, 129)        (9, 17)
small_t2   3x3 conv stride (1, 2), no max-pool         (69, 65)         (9, 9)
=========  =========================================  ===============  ===========

``small_t2`` is the middle ground: it halves only the time axis, which has about twice as many
bins as the frequency axis, so the maps become near-square at half the cost of ``small``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class StemSpec:
    """Shape of a stem: the first conv (padding = kernel // 2) and whether a max-pool follows."""

    kernel: int  # square kernel size of the first conv
    stride: int | tuple[int, int]  # stride of the first conv, (F, T) when a tuple
    max_pool: bool  # follow the conv (and its BN + ReLU) by torchvision's 3x3 stride-2 max-pool


STEMS: dict[str, StemSpec] = {
    "imagenet": StemSpec(kernel=7, stride=2, max_pool=True),  # torchvision's own
    "small": StemSpec(kernel=3, stride=1, max_pool=False),
    "small_t2": StemSpec(kernel=3, stride=(1, 2), max_pool=False),
}

# Stem used when a builder is not told one, by measurement (bench/ablation.py, ResNet18,
# 3,200 training images, 6 epochs, same data and seed): "imagenet" reached a best validation
# AUC of 0.851 against 0.845 for "small_t2", which costs ~7x more compute per image ("small"
# ~12x) on a CPU. The finer stems are there for larger data and GPUs.
DEFAULT_STEM = "imagenet"


def make_stem(name: str, in_chans: int, out_chans: int) -> tuple[nn.Conv2d, nn.Module]:
    """Build the ``(conv1, maxpool)`` pair of stem ``name``; ``maxpool`` may be ``nn.Identity``.

    ``conv1`` maps (B, in_chans, F, T) to (B, out_chans, F', T') and is initialised like
    torchvision's ResNet (Kaiming normal, fan-out, ReLU), so a swapped stem trains the same way.
    """
    from torch import nn

    if name not in STEMS:
        raise ValueError(f"unknown stem {name!r}; valid stems: {', '.join(STEMS)}")
    if not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive integer, got {in_chans!r}")
    spec = STEMS[name]
    conv = nn.Conv2d(
        in_chans,
        out_chans,
        kernel_size=spec.kernel,
        stride=spec.stride,
        padding=spec.kernel // 2,
        bias=False,  # a BatchNorm follows
    )
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if spec.max_pool else nn.Identity()
    return conv, pool
