"""The image recipe: how raw strain becomes the images a model reads, as one type.

``ImageRecipe`` holds the whitening (``WhitenConfig``), the CQT (``CQTConfig``), the per-sample
normalisation (``NormalizeConfig``) and the detectors of the image channels. A cache's
configuration is its recipe plus the identity of its whitening PSD (``to_config``); a checkpoint
carries its training cache's configuration, so the recipe travels with the model and makes the
images in ``build-cqt``, ``predict`` and the search alike (``preprocess.images.ImageMaker``).

``from_config`` reads any cache configuration gwspec has written, and holds the defaults of
settings older caches did not record, once: no normalisation, G2Net's three detectors, and no
PSD gate. ``differences(other)`` lists what differs; by default it ignores which PSD whitens
and how that PSD was estimated (``PSD_SETTINGS``): a model reads images whitened the same way by
another PSD (each data set whitened by its own noise is what makes them alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from preprocess.config import CQTConfig, NormalizeConfig, WhitenConfig
from preprocess.layout import DETECTORS

if TYPE_CHECKING:
    import numpy as np

# Which PSD whitens, and how it was estimated: not how images are made from it.
PSD_SETTINGS = ("psd_sha256", "whiten.psd_average", "whiten.psd_max_samples", "whiten.psd_gate")


def psd_digest(psd: np.ndarray | None) -> str | None:
    """The identity of a whitening PSD: 16 hex characters of the SHA-256 of its bytes."""
    import hashlib

    return None if psd is None else hashlib.sha256(psd.tobytes()).hexdigest()[:16]


def _section(config: Mapping[str, Any], name: str, kind: type) -> dict[str, Any]:
    """``config[name]`` (a mapping of ``kind``'s fields; absent: {})."""
    from dataclasses import fields

    value = config.get(name) or {}
    if not isinstance(value, Mapping):
        raise ValueError(f"not a gwspec cache configuration: {name} is {value!r}")
    unknown = sorted(set(value) - {f.name for f in fields(kind)})
    if unknown:
        raise ValueError(f"not a gwspec cache configuration: unknown {name} setting(s) "
                         f"{', '.join(unknown)}")
    return dict(value)


@dataclass(frozen=True)
class ImageRecipe:
    """Whitening, CQT, normalisation and detectors: what makes the pixels."""

    whiten: WhitenConfig = field(default_factory=WhitenConfig)
    cqt: CQTConfig = field(default_factory=CQTConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    detectors: tuple[str, ...] = DETECTORS

    def __post_init__(self) -> None:
        object.__setattr__(self, "detectors", tuple(self.detectors))

    def to_config(self, psd: np.ndarray | None) -> dict[str, Any]:
        """This recipe with the identity of ``psd``, as a cache configuration records them
        (``preprocess.cache.cache_config`` adds the format version): defaults that older
        caches did not record are left out, so their hashes stay what they were."""
        config: dict[str, Any] = {"cqt": asdict(self.cqt), "whiten": asdict(self.whiten),
                                  "psd_sha256": psd_digest(psd)}
        if self.normalize.record() is not None:
            config["normalize"] = self.normalize.record()
        if self.detectors != DETECTORS:
            config["detectors"] = list(self.detectors)
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ImageRecipe:
        """The recipe of a cache configuration (legacy defaults in the module docstring);
        ``ValueError`` naming a section that is not one of gwspec's."""
        whiten = {"psd_gate": False, **_section(config, "whiten", WhitenConfig)}
        normalize = _section(config, "normalize", NormalizeConfig) or {"method": "none"}
        return cls(whiten=WhitenConfig(**whiten),
                   cqt=CQTConfig(**_section(config, "cqt", CQTConfig)),
                   normalize=NormalizeConfig(**normalize),
                   detectors=tuple(config.get("detectors", DETECTORS)))

    def record(self) -> dict[str, Any]:
        """Every setting, as plain JSON (for comparisons and provenance)."""
        return {"whiten": asdict(self.whiten), "cqt": asdict(self.cqt),
                "normalize": asdict(self.normalize), "detectors": list(self.detectors)}

    def differences(self, other: ImageRecipe, ignore_psd: bool = True) -> list[str]:
        """``"setting: mine -> other's"`` for each setting that differs; the PSD estimation
        settings (``PSD_SETTINGS``) are ignored unless ``ignore_psd`` is False."""
        from runtime.provenance import settings_differences

        found = settings_differences(self.record(), other.record())
        if not ignore_psd:
            return found
        return [line for line in found if line.split(":")[0] not in PSD_SETTINGS]
