"""Look inside a cache: its manifest as a table, and a PNG grid of example spectrograms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from preprocess.cache import CacheManifest
from preprocess.dataset import SpectrogramCache
from preprocess.layout import UNKNOWN_TARGET, read_csv
from runtime.figures import save_figure
from runtime.outputs import claim_file, write_sidecar


def _flatten(config: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for key, value in sorted(config.items()):
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _psd_range(manifest: CacheManifest) -> str:
    """ASD range per detector over the whitening band, in strain/sqrt(Hz)."""
    if manifest.psd is None:
        return "none (not whitened)"
    whiten = manifest.config.get("whiten", {})
    n_time, rate = whiten.get("n_time", 4096), whiten.get("sample_rate", 2048)
    freqs = np.fft.rfftfreq(n_time, 1.0 / rate)
    if len(freqs) != manifest.psd.shape[-1]:
        freqs = np.linspace(0, rate / 2, manifest.psd.shape[-1])
    low, high = whiten.get("bandpass_low", 20.0), whiten.get("bandpass_high", 500.0)
    band = (freqs >= max(low, freqs[1])) & (freqs <= (high if high > 0 else freqs[-1]))
    asd = np.sqrt(manifest.psd[:, band])
    parts = [f"{d} {a.min():.2e}..{a.max():.2e}"
             for d, a in zip(manifest.detectors, asd, strict=False)]
    return f"ASD {freqs[band][0]:g}-{freqs[band][-1]:g} Hz: " + ", ".join(parts) + " /sqrt(Hz)"


def manifest_table(manifest: CacheManifest, targets: np.ndarray | None = None) -> str:
    """The manifest as aligned ``name  value`` lines for a person to read."""
    rows: list[tuple[str, Any]] = [
        ("cache", manifest.root),
        ("split", manifest.info.get("split", "?")),
        ("data", manifest.info.get("data", "?")),
        ("samples", manifest.n_samples),
        ("shards", len(manifest.shards)),
        ("image shape", "x".join(map(str, manifest.image_shape)) + " float16"),
        ("detectors", " ".join(manifest.detectors)),
    ]
    if targets is not None:
        counts = {int(t): int(c) for t, c in zip(*np.unique(targets, return_counts=True),
                                                strict=True)}
        rows.append(("targets", ", ".join(f"{_target_name(t)} {c}" for t, c in counts.items())))
    rows += [
        ("rejected", len(manifest.rejected)),
        *[(f"  {i}", reason) for i, reason in list(manifest.rejected.items())[:5]],
        ("config hash", manifest.config_hash),
        *_flatten(manifest.config),
        ("PSD source", manifest.info.get("psd_source", "?")),
        ("PSD range", _psd_range(manifest)),
        ("created", manifest.created),
        ("versions", ", ".join(f"{k} {v}" for k, v in sorted(manifest.versions.items()))),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _target_name(target: int) -> str:
    return {1: "signal", 0: "noise", UNKNOWN_TARGET: "unknown"}.get(target, str(target))


def _pick(targets: np.ndarray, snr: np.ndarray, n: int) -> tuple[list[int], list[int]]:
    """Up to ``n`` signals spread over their SNR range (loudest first) and ``n`` noise samples."""
    signals = np.nonzero(targets == 1)[0]
    signals = signals[np.argsort(-np.nan_to_num(snr[signals], nan=-1.0), kind="stable")]
    if len(signals) > n:
        signals = signals[np.linspace(0, len(signals) - 1, n).round().astype(int)]
    noise = np.nonzero(targets == 0)[0][:n]
    if len(signals) == 0 and len(noise) == 0:  # labels unknown: show the first samples
        return list(range(min(2 * n, len(targets)))), []
    return signals.tolist(), noise.tolist()


def render_examples(cache_root: str | Path, png: str | Path, injections: str | Path | None = None,
                    n: int = 4) -> Path:
    """PNG grid: each row a signal (3 detectors) next to a noise sample (3 detectors).

    Targets come from the cache or, for a test cache, from ``injections`` (``injections.csv``,
    which also supplies ``snr_network`` for the titles).
    """
    png = claim_file(png, "figure")  # the user's file (or its .json) is never replaced
    cache = SpectrogramCache(cache_root)
    targets = cache.targets.copy()
    snr = np.full(len(cache), np.nan)
    if injections is not None:
        table = read_csv(injections, dtype={"id": str}).set_index("id")
        known = table.reindex(cache.ids)
        snr = known["snr_network"].to_numpy(dtype=float)
        from_table = known["target"].to_numpy(dtype=float)
        unknown = (targets == UNKNOWN_TARGET) & np.isfinite(from_table)
        targets[unknown] = from_table[unknown].astype(np.int64)
    signals, noise = _pick(targets, snr, n)
    rows = max(len(signals), len(noise), 1)
    columns = [("signal", signals), ("noise", noise)] if noise else [("sample", signals)]
    detectors = cache.manifest.detectors
    figure = Figure(figsize=(3.0 * len(detectors) * len(columns), 2.4 * rows),
                    layout="constrained")
    axes = figure.subplots(rows, len(detectors) * len(columns), squeeze=False)
    images = [cache[i][0].numpy() for _, picks in columns for i in picks]
    vmax = float(np.percentile(np.stack(images), 99.5)) if images else 1.0
    config = cache.manifest.config.get("cqt", {})
    duration = config.get("hop_length", 32) * (cache.manifest.image_shape[2] - 1) / config.get(
        "sample_rate", 2048)
    for c, (label, picks) in enumerate(columns):
        for r in range(rows):
            for d, detector in enumerate(detectors):
                ax = axes[r, c * len(detectors) + d]
                if r >= len(picks):
                    ax.axis("off")
                    continue
                i = picks[r]
                _draw(ax, cache[i][0].numpy()[d], config, duration, vmax)
                snr_text = f", SNR {snr[i]:.1f}" if np.isfinite(snr[i]) else ""
                ax.set_title(f"{label} {cache.ids[i]} {detector}{snr_text}", fontsize=8)
    figure.suptitle(f"{Path(cache_root).name}: CQT magnitude (colour scale 0-{vmax:.2f})")
    save_figure(figure, png, dpi=90)
    write_sidecar(png, {"what": "example spectrograms", "cache": str(cache_root),
                        "injections": str(injections) if injections else None, "rows": n})
    return png


def _draw(ax: Any, image: np.ndarray, config: dict, duration: float, vmax: float) -> None:
    """One ``(F, T)`` CQT image with time (s) and frequency (Hz) axes."""
    ax.imshow(image, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=vmax,
              extent=(0, duration, -0.5, image.shape[0] - 0.5), interpolation="nearest")
    fmin, per_octave = config.get("fmin", 20.0), config.get("bins_per_octave", 12)
    ticks = np.arange(0, image.shape[0], per_octave)
    ax.set_yticks(ticks, [f"{fmin * 2 ** (t / per_octave):.0f}" for t in ticks], fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("time (s)", fontsize=7)
    ax.set_ylabel("Hz", fontsize=7)
