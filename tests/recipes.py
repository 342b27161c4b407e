"""Cache configurations for tests that write caches by hand: real image recipes."""

from __future__ import annotations

from typing import Any

from preprocess.cache import cache_config
from preprocess.config import CQTConfig
from preprocess.recipe import ImageRecipe


def recipe_config(**cqt: Any) -> dict[str, Any]:
    """The configuration of a cache made by the default image recipe, with ``cqt`` settings
    changed (``bins_per_octave=16``: a cache a model of the default recipe must refuse)."""
    return cache_config(ImageRecipe(cqt=CQTConfig(**cqt)), None)
