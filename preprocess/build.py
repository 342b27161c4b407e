"""The ``build-cqt`` job: G2Net-layout samples -> whitened CQT images in a sharded cache.

Shard ``k`` holds split rows ``[k * S, (k + 1) * S)`` (``S`` = shard size) in CSV order, so the
cache order is the split's id order whatever the number of processes. Each shard is computed
in batches aligned to its own start and written under a temporary name then renamed, so a
killed job leaves only complete shards and a re-run rebuilds exactly the missing ones with the
same batches, giving the same bytes. With ``world_size`` W, rank r builds the shards k with
``k % W == r``; every rank, once its shards are renamed into place, checks whether all shards
exist and if so writes the manifest. The last rank to finish therefore always sees every
shard (its own renames precede its check); two ranks finishing together write identical
manifests atomically; any re-run completes a manifest that is still missing.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from preprocess.cache import (
    MANIFEST_NAME,
    PSD_NAME,
    CacheError,
    CacheManifest,
    ShardRecord,
    cache_config,
    load_psd,
    read_manifest,
    read_shard_attrs,
    save_psd,
    shard_name,
    verify_shard,
    write_manifest,
    write_shard,
)
from preprocess.config import BuildOptions, CQTConfig, NormalizeConfig, WhitenConfig
from preprocess.images import ImageMaker
from preprocess.layout import (
    N_TIME,
    BadSampleError,
    data_detectors,
    label_file,
    load_sample,
    read_split,
    sample_path,
)
from preprocess.psd.estimate import estimate_psd
from preprocess.recipe import ImageRecipe
from runtime import devices
from runtime.errors import ignore_interrupt
from runtime.outputs import claim_dir
from runtime.provenance import (
    config_hash,
    library_versions,
    settings_differences,
    write_json_atomic,
)

logger = logging.getLogger(__name__)

BUILD_FILE = "build.json"  # requested settings, written when a build starts
PSD_FROM_HINT = "pass --psd-from CACHE to whiten with the PSD of a cache built earlier"


@dataclass
class BuildReport:
    """What one call of ``build_cache`` did."""

    built: list[int] = field(default_factory=list)  # shard indices computed by this call
    skipped: list[int] = field(default_factory=list)  # this rank's shards already complete
    rejected: dict[str, str] = field(default_factory=dict)  # bad samples met by this call
    samples_per_s: float = 0.0  # end-to-end rate of this call's shards
    manifest: CacheManifest | None = None  # set when the cache is complete


class _SampleFiles(Dataset):
    """Reads split rows: ``(row, sample (D, N) float32 in raw_scale units, problem or "")``,
    ``D`` the data's detectors (``preprocess.layout.data_detectors``)."""

    def __init__(self, root: Path, split: str, ids: list[str], raw_scale: float):
        self.root, self.split, self.ids, self.raw_scale = root, split, ids, raw_scale
        self.detectors = data_detectors(root)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, row: int) -> tuple[int, torch.Tensor, str]:
        sample_id = self.ids[row]
        try:
            array = load_sample(sample_path(self.root, self.split, sample_id), sample_id,
                                scale=self.raw_scale, detectors=self.detectors)
        except BadSampleError as error:
            return row, torch.zeros(len(self.detectors), N_TIME), error.reason
        return row, torch.from_numpy((array / self.raw_scale).astype(np.float32)), ""


def build_device(options: BuildOptions) -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` under torchrun, so each rank builds on its
    own GPU (``runtime.devices.resolve_device``)."""
    return devices.resolve_device(options.device, processes=options.world_size)


def unlabelled_files(root: Path, split: str, ids: set[str]) -> dict[str, Path]:
    """``.npy`` files under ``root/split`` whose id the split's CSV does not list."""
    split_dir = root / split
    if not split_dir.is_dir():
        return {}
    return {p.stem: p for p in split_dir.glob("*/*/*/*.npy") if p.stem not in ids}


def _loader(files: _SampleFiles, batches: list[list[int]], workers: int,
            pin_memory: bool = False) -> DataLoader:
    """Worker processes read whole batches of rows, in the given order."""
    return DataLoader(files, batch_sampler=batches, num_workers=workers, pin_memory=pin_memory,
                      worker_init_fn=ignore_interrupt if workers else None)


def _noise_psd(data: Path, whiten: WhitenConfig, options: BuildOptions) -> tuple[np.ndarray, str]:
    """Estimate the PSD from the first noise-only training samples of ``data``."""
    train = read_split(data, "train")
    noise_ids = train["id"][train["target"] == 0].tolist()[: whiten.psd_max_samples]
    if not noise_ids:
        raise ValueError(f"{label_file(data, 'train')}: no noise-only (target 0) samples to "
                         f"estimate the whitening PSD from; {PSD_FROM_HINT}")
    psd, used = _estimate(data, "train", noise_ids, whiten, options)
    return psd, f"estimated from {used} noise-only training samples of {data.resolve()}"


def _split_psd(data: Path, split: str, whiten: WhitenConfig,
               options: BuildOptions) -> tuple[np.ndarray, str]:
    """Estimate the PSD from the samples of ``split`` itself, signals and all (their labels
    may be unknown): the data around each sample, as a search whitens with. The median over
    samples is barely moved by the signals a minority of samples hold in a given bin."""
    ids = read_split(data, split)["id"].tolist()
    if not ids:
        raise ValueError(f"{label_file(data, split)}: no samples to estimate the PSD from")
    if whiten.psd_average != "median":
        logger.warning("estimating the PSD from a split with signals by the mean: loud "
                       "signals bias it; --psd-average median is robust to them")
    rng = np.random.default_rng(0)  # a fixed spread-out subset: the same PSD every run
    chosen = sorted(rng.choice(len(ids), min(len(ids), whiten.psd_max_samples), replace=False))
    psd, used = _estimate(data, split, [ids[i] for i in chosen], whiten, options)
    return psd, f"estimated from {used} samples of the {split} split of {data.resolve()} itself"


def _estimate(data: Path, split: str, ids: list[str], whiten: WhitenConfig,
              options: BuildOptions) -> tuple[np.ndarray, int]:
    """``estimate_psd`` of the samples ``ids`` of ``split``; returns (PSD, samples used)."""
    noise_ids = ids
    files = _SampleFiles(data, split, noise_ids, whiten.raw_scale)
    batches = [list(range(i, min(i + 256, len(noise_ids)))) for i in range(0, len(noise_ids), 256)]
    used: list[np.ndarray] = []
    for rows, samples, problems in _loader(files, batches, options.workers):
        for row, sample, problem in zip(rows.tolist(), samples, problems, strict=True):
            if problem and not options.skip_bad:
                path = sample_path(data, split, noise_ids[row])
                raise BadSampleError(path, noise_ids[row], problem)
            if not problem:
                used.append(sample.double().numpy() * whiten.raw_scale)
    if not used:
        raise ValueError(f"{data / split}: every one of the {len(noise_ids)} samples chosen for "
                         f"the PSD was rejected (--skip-bad), so no whitening PSD can be "
                         f"estimated; {PSD_FROM_HINT}")
    return estimate_psd(used, whiten), len(used)


def _psd_from_cache(manifest: CacheManifest) -> tuple[np.ndarray, str]:
    cache = manifest.root
    if manifest.psd is None:
        raise ValueError(f"{cache}: cache holds no PSD (built with --no-whiten)")
    if manifest.info.get("split") == "test" and "psd_source" not in manifest.info:
        raise ValueError(f"{cache}: a test-split cache without a recorded PSD source")
    return manifest.psd, f"cache {cache.resolve()} ({manifest.info.get('psd_source', '?')})"


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted names of settings that differ between two nested dicts, with both values."""
    return settings_differences(old, new, render=lambda name, a, b:
                                f"{name}: cache has {a!r}, requested {b!r}")


class SettingsMismatchError(ValueError):
    """An existing cache or shard was built with other settings than those requested."""


def _check_same(out: Path, what: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    differences = _differences(old, new)
    if differences:
        old_config, new_config = old.get("config", old), new.get("config", new)
        hint = ("; it has no per-sample normalisation (built before sample-psd became the "
                "default): pass --normalize none to continue it"
                if "normalize" in new_config and "normalize" not in old_config else "")
        raise SettingsMismatchError(
            f"{out}: {what} was built with different settings; use another --out or delete it. "
            + "; ".join(differences) + hint
        )


def _resolve_psd(
    data: Path, split: str, out: Path, whiten: WhitenConfig, options: BuildOptions,
    psd_from: CacheManifest | None, psd_from_split: bool = False,
) -> tuple[np.ndarray | None, str]:
    """The PSD to whiten with and where it came from: another cache's, this split's own
    samples' (``psd_from_split``), or by default the training split's noise-only samples."""
    if not whiten.whiten:
        return None, "none (not whitened)"
    if psd_from is not None:
        return _psd_from_cache(psd_from)
    previous = out / BUILD_FILE
    if previous.is_file() and (out / PSD_NAME).is_file():  # resuming: reuse the stored estimate
        stored = json.loads(previous.read_text())  # (its hash is in the config: shards agree)
        if stored["config"]["whiten"] == asdict(whiten):
            return load_psd(out / PSD_NAME), stored["info"].get("psd_source", "")
    if psd_from_split:
        return _split_psd(data, split, whiten, options)
    return _noise_psd(data, whiten, options)


def _estimated_like(whiten: WhitenConfig, psd_from: CacheManifest | None) -> WhitenConfig:
    """``whiten`` with the PSD-estimation settings of the cache the PSD comes from: they
    describe the PSD this cache is whitened with, whatever the command line said."""
    if psd_from is None or not whiten.whiten:
        return whiten
    source = psd_from.recipe.whiten
    return replace(whiten, psd_average=source.psd_average,
                   psd_max_samples=source.psd_max_samples, psd_gate=source.psd_gate)


def _shard_batches(start: int, stop: int, batch_size: int) -> list[list[int]]:
    return [list(range(i, min(i + batch_size, stop))) for i in range(start, stop, batch_size)]


def build_cache(
    data: str | Path,
    split: str,
    out: str | Path,
    cqt: CQTConfig = CQTConfig(),
    whiten: WhitenConfig = WhitenConfig(),
    options: BuildOptions = BuildOptions(),
    psd_from: str | Path | None = None,
    normalize: NormalizeConfig = NormalizeConfig(),
    psd_from_split: bool = False,
) -> BuildReport:
    """Build (or resume) the CQT cache of one split of a G2Net-layout directory.

    ``normalize`` is the per-sample normalisation (``preprocess.normalize``); it enters the
    cache config unless it is ``none``. The whitening PSD is ``psd_from``'s (a cache built
    earlier), the split's own (``psd_from_split``: every sample of it, signals and all, as a
    search whitens by the data around), or by default the training split's noise. Raises
    ``LayoutError`` for a bad CSV, ``BadSampleError`` for a bad sample (unless
    ``options.skip_bad``), ``ValueError`` when ``out`` holds a cache built with other settings.
    """
    data, out = Path(data), Path(out)
    if not 0 <= options.rank < options.world_size:
        raise ValueError(f"rank {options.rank} outside 0..{options.world_size - 1}")
    device = build_device(options)
    options = options.for_device(device.type)
    if options.batch_size < 1 or options.shard_size < 1:
        raise ValueError("batch_size and shard_size must be >= 1")
    if options.threads < 0 or options.workers < 0:
        raise ValueError("threads and workers must be >= 0")
    frame = read_split(data, split)
    claim_dir(out, "cache", rank=options.rank)  # rank 0 claims; the job's other ranks wait
    ids = frame["id"].tolist()
    unlabelled = unlabelled_files(data, split, set(ids))
    if unlabelled and not options.skip_bad:
        sample_id, path = sorted(unlabelled.items())[0]
        raise BadSampleError(path, sample_id, f"id missing from {label_file(data, split).name} "
                             f"({len(unlabelled)} such file(s))")
    extra_rejected = {i: f"id missing from {label_file(data, split).name}" for i in unlabelled}

    if psd_from and psd_from_split:
        raise ValueError("give --psd-from CACHE or --psd-from-split, not both")
    source = read_manifest(psd_from) if psd_from else None  # read once
    whiten = _estimated_like(whiten, source)
    psd, psd_source = _resolve_psd(data, split, out, whiten, options, source, psd_from_split)
    detectors = data_detectors(data)
    recipe = ImageRecipe(whiten, cqt, normalize, detectors)
    config = cache_config(recipe, psd)
    held = source.recipe.detectors if source is not None else detectors
    if held != detectors or (psd is not None and len(psd) != len(detectors)):
        raise ValueError(f"{psd_from or psd_source}: its PSD is of detectors {' '.join(held)}, "
                         f"but {data} holds {' '.join(detectors)}")
    info = {"split": split, "data": str(data.resolve()), "shard_size": options.shard_size,
            "n_rows": len(ids), "psd_source": psd_source, "device": device.type}
    _start(out, config, info, psd)

    report = BuildReport()
    computer = ImageMaker(recipe, psd, device)
    n_shards = max(1, math.ceil(len(ids) / options.shard_size))
    mine = [k for k in range(n_shards) if k % options.world_size == options.rank]
    todo = []
    for k in mine:
        if (out / shard_name(k)).is_file() and _intact(out / shard_name(k), config):
            report.skipped.append(k)
        else:
            todo.append(k)
    if report.skipped:
        logger.info("%s: %d shard(s) already complete, %d to build", out, len(report.skipped),
                    len(todo))
    with _torch_threads(options.threads), devices.full_float32(device):
        report.samples_per_s = _build_shards(data, split, ids, frame["target"].to_numpy(), out,
                                             todo, config, psd, computer, options, report)
    if report.rejected:
        logger.warning("%s: skipped %d bad sample(s) (listed in the manifest)", out,
                       len(report.rejected))
    report.manifest = finalize(out, n_shards, config, info, psd, extra_rejected)
    return report


def _intact(path: Path, config: dict) -> bool:
    """Whether a complete shard of this cache's settings reads back whole; a damaged one (a
    checksum mismatch, or HDF5 metadata that no longer parses) is deleted, to be built again
    (``ValueError`` for other settings)."""
    try:
        attrs = read_shard_attrs(path)
    except CacheError as error:
        logger.warning("%s: damaged, building it again: %s", path, error)
        path.unlink()
        return False
    _check_same(path, "this shard", attrs["config"], config)
    problems = verify_shard(path)
    if problems:
        logger.warning("%s: damaged, building it again: %s", path, problems[0])
        path.unlink()
    return not problems


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` torch intra-op threads (0: unchanged), then restore the setting."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


IDENTITY_INFO = ("split", "n_rows", "shard_size")  # info that decides which rows each shard holds


def _identity(config: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    """What makes a cache's bytes: the image config and the shard layout, not where data lived."""
    return {"config": dict(config), "layout": {k: info.get(k) for k in IDENTITY_INFO}}


def _start(out: Path, config: dict, info: dict, psd: np.ndarray | None) -> None:
    """Refuse a cache of other settings; else record the requested settings and PSD."""
    requested = _identity(config, info)
    if (out / BUILD_FILE).is_file():
        stored = json.loads((out / BUILD_FILE).read_text())
        _check_same(out, "this cache", _identity(stored["config"], stored["info"]), requested)
    elif (out / MANIFEST_NAME).is_file():
        manifest = read_manifest(out)
        _check_same(out, "this cache", _identity(manifest.config, manifest.info), requested)
    else:
        if any(p.suffix == ".h5" for p in out.iterdir()):
            raise ValueError(f"{out}: holds shards but no {BUILD_FILE}; use an empty --out")
        write_json_atomic(out / BUILD_FILE, {"config": config, "info": info})
        if psd is not None:
            save_psd(out / PSD_NAME, psd)


def _build_shards(data: Path, split: str, ids: list[str], targets: np.ndarray, out: Path,
                  todo: list[int], config: dict, psd: np.ndarray | None,
                  computer: ImageMaker, options: BuildOptions, report: BuildReport) -> float:
    """Compute and write the shards in ``todo``; returns samples per second."""
    size = options.shard_size
    ranges = {k: (k * size, min((k + 1) * size, len(ids))) for k in todo}
    versions, started = library_versions(), time.perf_counter()
    for k in [k for k in todo if ranges[k][0] >= ranges[k][1]]:  # an empty split
        _Pending().write(out, k, ranges[k], ids, targets, config, psd, versions,
                         computer.image_shape)
        report.built.append(k)
        todo = [j for j in todo if j != k]
    batches = [b for k in todo for b in _shard_batches(*ranges[k], options.batch_size)]
    if not batches:
        return 0.0
    files = _SampleFiles(data, split, ids, config["whiten"]["raw_scale"])
    total = sum(stop - start for start, stop in ranges.values())
    bar = tqdm(total=total, unit="sample", disable=not options.progress, desc=f"{out.name}")
    shard_iter = iter(todo)
    current, pending = next(shard_iter), _Pending()
    loader = _loader(files, batches, options.workers, computer.device.type == "cuda")
    for rows, samples, problems in loader:
        rows_list = rows.tolist()
        keep = [j for j, problem in enumerate(problems) if not problem]
        for j, problem in enumerate(problems):
            if problem:
                path = sample_path(data, split, ids[rows_list[j]])
                if not options.skip_bad:
                    raise BadSampleError(path, ids[rows_list[j]], problem)
                logger.warning("%s: skipping sample %s: %s", path, ids[rows_list[j]], problem)
                pending.rejected[ids[rows_list[j]]] = problem
        if keep:
            where = f"{out / shard_name(current)} (rows {rows_list[0]}-{rows_list[-1]})"
            kept = samples if len(keep) == len(rows_list) else samples[keep]  # stays pinned
            pending.add(computer(kept, where), [rows_list[j] for j in keep])
        bar.update(len(rows_list))
        if rows_list[-1] + 1 == ranges[current][1]:  # last batch of this shard
            pending.write(out, current, ranges[current], ids, targets, config, psd, versions,
                          computer.image_shape)
            report.built.append(current)
            report.rejected.update(pending.rejected)
            current, pending = next(shard_iter, -1), _Pending()
    bar.close()
    return total / max(time.perf_counter() - started, 1e-9)


class _Pending:
    """Images of the shard being computed."""

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.rows: list[int] = []
        self.rejected: dict[str, str] = {}

    def add(self, images: np.ndarray, rows: list[int]) -> None:
        self.images.append(images)
        self.rows += rows

    def write(self, out: Path, k: int, bounds: tuple[int, int], ids: list[str],
              targets: np.ndarray, config: dict, psd: np.ndarray | None,
              versions: dict, image_shape: tuple[int, int, int]) -> None:
        images = (np.concatenate(self.images) if self.images
                  else np.zeros((0, *image_shape), np.float16))
        rows = np.asarray(self.rows, dtype=np.int64)
        write_shard(out / shard_name(k), images, [ids[r] for r in rows], targets[rows],
                    config=config, shard_index=k, row_start=bounds[0], row_stop=bounds[1],
                    rows=rows, psd=psd, rejected=self.rejected, versions=versions)


def _shard_records(out: Path, n_shards: int, config: dict) -> Iterator[tuple[ShardRecord, dict]]:
    for k in range(n_shards):
        attrs = read_shard_attrs(out / shard_name(k))
        if attrs["config_hash"] != config_hash(config):
            _check_same(out / shard_name(k), "this shard", attrs["config"], config)
        record = ShardRecord(shard_name(k), int(attrs["n_samples"]), int(attrs["row_start"]),
                             int(attrs["row_stop"]))
        yield record, attrs


def finalize(out: Path, n_shards: int, config: dict, info: dict, psd: np.ndarray | None,
             extra_rejected: Mapping[str, str] | None = None) -> CacheManifest | None:
    """Write the manifest if every shard is complete; returns it, or None while shards are missing.
    """
    missing = [k for k in range(n_shards) if not (out / shard_name(k)).is_file()]
    if missing:
        logger.info("%s: %d of %d shards complete; the rank that completes the last one (or a "
                    "re-run) writes the manifest", out, n_shards - len(missing), n_shards)
        return None
    records, rejected, image_shape = [], dict(extra_rejected or {}), ()
    for record, attrs in _shard_records(out, n_shards, config):
        records.append(record)
        rejected.update(attrs["rejected"])
        image_shape = attrs["image_shape"]
    if info["n_rows"] and not sum(r.n_samples for r in records):
        first = next(iter(rejected.items()), ("?", "?"))
        raise ValueError(f"{info['data']}: all {info['n_rows']} samples of the {info['split']} "
                         f"split were rejected (first {first[0]}: {first[1]}); nothing to "
                         "cache: fix the samples (or the data folder) and re-run")
    write_manifest(out, config=config, shards=records, image_shape=image_shape, psd=psd,
                   rejected=rejected, info=info, versions=library_versions())
    manifest = read_manifest(out)
    logger.info("%s: complete, %d samples in %d shards (%d rejected)", out, manifest.n_samples,
                n_shards, len(manifest.rejected))
    return manifest
