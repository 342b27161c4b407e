"""The one PSD reader: every file or folder a command accepts as ``--psd``.

``read_psd(source, detectors)`` returns ``(frequencies (F,), PSD (D, F))``, one-sided, in
strain^2/Hz, in the order of ``detectors`` (by default every detector the source holds). The
source may be:

- a CSV ``frequency,<det>,...`` (``psd.csv`` of a simulated data set, or any such file) on a
  uniform increasing grid;
- a folder holding ``psd.csv`` (a simulated G2Net-layout data set), its detectors read from it;
- a spectrogram cache folder (``manifest.json``): the PSD it was whitened with, on the rFFT grid
  of its samples;
- a ``.npy`` ``(D, F)`` on a uniform grid from 0 to 1024 Hz (the Nyquist frequency of 2048 Hz).

Every failure is one ``ValueError`` (or ``FileNotFoundError``) naming the file: columns or
detectors missing, a grid that is not uniform, values that are negative, NaN or infinite, a
detector whose PSD is zero everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

NYQUIST = 1024.0  # Hz: the grid a bare .npy PSD is taken to span (2048-Hz data)


def read_psd(source: str | Path,
             detectors: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(frequencies (F,), PSD (D, F))`` of ``source`` (see the module docstring)."""
    path = Path(source)
    if path.is_dir():
        if (path / "manifest.json").is_file():
            return _from_cache(path, detectors)
        if (path / "psd.csv").is_file():
            if detectors is None:
                from preprocess.layout import data_detectors

                detectors = data_detectors(path)
            return read_psd(path / "psd.csv", detectors)
        raise ValueError(f"{path}: a folder with neither psd.csv nor a cache manifest: give a "
                         "PSD file, a data folder or a cache")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such PSD file")
    if path.suffix == ".npy":
        frequencies, psd, held = _from_npy(path, detectors)
    else:
        frequencies, psd, held = _from_csv(path)
    return frequencies, checked(path, frequencies, _rows(path, psd, held, detectors),
                                detectors or held)


def _rows(path: Path, psd: np.ndarray, held: Sequence[str],
          detectors: Sequence[str] | None) -> np.ndarray:
    """The rows of ``detectors`` (all of ``held`` when None) in their order."""
    if detectors is None:
        return psd
    missing = [d for d in detectors if d not in held]
    if missing:
        raise ValueError(f"{path}: holds no PSD of {', '.join(missing)} (it has "
                         f"{', '.join(held)}; expected columns frequency,{','.join(detectors)})")
    return psd[[list(held).index(d) for d in detectors]]


def _from_csv(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from preprocess.layout import read_csv

    try:
        frame = read_csv(path)
    except ValueError as error:
        raise ValueError(f"{error} (expected a PSD CSV frequency,<det>,...)") from error
    if "frequency" not in frame.columns or len(frame.columns) < 2:
        raise ValueError(f"{path}: a PSD CSV has a frequency column and one per detector; it "
                         f"has {', '.join(map(str, frame.columns))}")
    held = [str(c) for c in frame.columns if c != "frequency"]
    try:
        frequencies = frame["frequency"].to_numpy(dtype=np.float64)
        psd = frame[held].to_numpy(dtype=np.float64).T
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: holds values that are not numbers ({error})") from error
    return frequencies, psd, held


def _from_npy(path: Path, detectors: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray,
                                                                      list[str]]:
    try:
        psd = np.load(path, allow_pickle=False)
    except Exception as error:  # a pickle, a truncated or foreign file
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ValueError(f"{path}: not a readable PSD .npy ({reason})") from error
    psd = np.asarray(psd)
    if psd.ndim != 2 or psd.dtype.kind not in "fi" or psd.shape[1] < 2:
        raise ValueError(f"{path}: a PSD .npy is a real (detectors, frequencies) array, got "
                         f"{psd.dtype} {psd.shape}")
    from preprocess.layout import DETECTORS

    held = list(detectors) if detectors is not None and len(detectors) == len(psd) else (
        list(DETECTORS[: len(psd)]))
    if detectors is not None and len(detectors) != len(psd):
        raise ValueError(f"{path}: holds {len(psd)} PSD rows, for {len(detectors)} detectors "
                         f"({' '.join(detectors)})")
    return np.linspace(0.0, NYQUIST, psd.shape[1]), psd.astype(np.float64), held


def _from_cache(root: Path, detectors: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
    from preprocess.cache import read_manifest

    manifest = read_manifest(root)
    if manifest.psd is None:
        raise ValueError(f"{root}: the cache holds no PSD (it was not whitened)")
    recipe = manifest.recipe
    psd = _rows(root, manifest.psd, recipe.detectors, detectors)
    return recipe.whiten.frequencies, checked(root, recipe.whiten.frequencies, psd,
                                              detectors or recipe.detectors)


def checked(path: str | Path, frequencies: np.ndarray, psd: np.ndarray,
            detectors: Sequence[str]) -> np.ndarray:
    """``psd`` ``(D, F)`` float64 of ``detectors`` once its grid and values are sound; else
    ``ValueError`` naming the file."""
    steps = np.diff(frequencies)
    if len(frequencies) < 2 or not np.isfinite(frequencies).all() or steps[0] <= 0 or (
            not np.allclose(steps, steps[0])):
        raise ValueError(f"{path}: PSD frequencies must be a uniform increasing grid")
    if psd.shape[-1] != len(frequencies):
        raise ValueError(f"{path}: {psd.shape[-1]} PSD values for {len(frequencies)} "
                         "frequencies")
    if not np.isfinite(psd).all() or (psd < 0).any():
        raise ValueError(f"{path}: the PSD holds negative, NaN or infinite values")
    empty = [i for i, row in enumerate(psd) if not (row > 0).any()]
    if empty:
        raise ValueError(f"{path}: the PSD of {detectors[empty[0]]} is zero at every "
                         "frequency: no noise model to whiten with")
    return np.asarray(psd, dtype=np.float64)
