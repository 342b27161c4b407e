"""GW150914 in real LIGO strain: the shipped GWOSC files, searched as a user passes them.

``run_real(RealConfig())`` checks the two shipped files (``data/gwosc``: their sha256), runs the
matched-filter search on them with its default (shipped) bank, and reports the loudest
zero-lag trigger against the event's GPS time. With ``checkpoint`` (a model of H1 and L1) it
also runs the network search on them, cuts the 2-s G2Net sample around the event with the
noise-only samples around it (``preprocess cut``), whitens them by their own data
(``build-cqt --psd-from-split``) and scores them (``predict``): the event's score and its rank
among the noise samples. ``pipeline demo --real`` prints the result in a few lines;
``bench/real.py`` measures all of it against simulated noise.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.demo.config import RealConfig
from runtime.outputs import claim_dir
from runtime.provenance import library_versions, write_json_atomic

log = logging.getLogger(__name__)

EVENT, GPS = "GW150914", 1126259462.4  # GWTC-1: the merger time at the geocentre
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "gwosc"
CHECKSUMS = {  # sha256 of the files GWOSC distributes (data/gwosc/README.md)
    "H-H1_LOSC_4_V2-1126259446-32.hdf5":
        "fa170ebc577652bfeb5c4b9d2a2d713eef8a4b2996b198b749692446fa7a163c",
    "L-L1_LOSC_4_V2-1126259446-32.hdf5":
        "3fccf5c091b3542ff348e36da217afa3220ced2137a53a2838f5a3d41d622e72",
}


def shipped_files(root: Path = SHIPPED) -> list[Path]:
    """The shipped GWOSC files around GW150914, once their sha256 are the ones GWOSC gave;
    ``ValueError`` naming a file that is missing or changed."""
    paths = []
    for name, expected in CHECKSUMS.items():
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (the GWOSC files ship in data/gwosc)")
        found = hashlib.sha256(path.read_bytes()).hexdigest()
        if found != expected:
            raise ValueError(f"{path}: sha256 {found[:16]}..., not GWOSC's {expected[:16]}...: "
                             "the file was changed; restore it from the repository")
        paths.append(path)
    return paths


def loudest(trigger_file: Path) -> dict[str, Any] | None:
    """The loudest zero-lag trigger of a search's trigger file, as a plain dict (None: none)."""
    from pipeline.search.triggers import read_trigger_file

    table, attrs, _ = read_trigger_file(trigger_file)
    if not len(table):
        return None
    row = table.loc[table["stat"].idxmax()]
    return {"gps": float(row["time"]), "error_s": float(row["time"]) - GPS,
            "stat": float(row["stat"]), "statistic": attrs.get("statistic"),
            **{k: float(row[k]) for k in row.index if k.startswith("snr_")},
            "analysed_s": float(attrs["duration"])}


def run_real(config: RealConfig) -> dict[str, Any]:
    """Search the strain for the event (module docstring); returns and writes the summary."""
    from pipeline.search.matched_filter.config import SearchConfig
    from pipeline.search.matched_filter.search import run_search

    strain = [Path(p) for p in config.strain] if config.strain else shipped_files()
    out = claim_dir(config.root, "demo")
    mf = run_search(strain, out / "matched-filter", SearchConfig(), workers=config.workers,
                    progress=config.progress)
    summary: dict[str, Any] = {"event": EVENT, "gps": GPS, "strain": [str(p) for p in strain],
                               "matched_filter": loudest(mf / "zerolag-newsnr.hdf")}
    if config.checkpoint:
        summary |= network_results(strain, out, config)
    write_json_atomic(out / "summary.json", {"config": asdict(config), **summary,
                                             "versions": library_versions()})
    return summary


def network_results(strain: list[Path], out: Path, config: RealConfig) -> dict[str, Any]:
    """The network search's loudest trigger, and the model's score of the event's 2-s sample
    against the noise-only samples around it."""
    from pipeline.classifier.config import PredictConfig
    from pipeline.classifier.predict import predict
    from pipeline.search.network.search import run_network_search
    from preprocess.build import build_cache
    from preprocess.config import BuildOptions
    from preprocess.stream.cut import CutConfig, cut_samples

    search = run_network_search(strain, [config.checkpoint], out / "network",
                                progress=config.progress)
    data = cut_samples(strain, out / "samples", CutConfig(times=(GPS,), noise_stride=1.0))
    cache = build_cache(data, "test", out / "cache", psd_from_split=True,
                        options=BuildOptions(progress=config.progress)).manifest.root
    scores = predict(cache, "test", [config.checkpoint], PredictConfig(), data=data,
                     progress=config.progress)
    kinds = pd.read_csv(data / "cut.csv").set_index("id")["kind"]
    logit = scores.set_index("id")["logit"]
    event = float(logit[kinds[kinds == "event"].index[0]])
    noise = logit[kinds[kinds == "noise"].index]
    return {"network": loudest(search / "zerolag-network.hdf"),
            "sample": {"logit": event, "noise_samples": int(len(noise)),
                       "noise_louder": int((noise >= event).sum()),
                       "noise_max_logit": float(noise.max())}}


def summary_lines(summary: dict[str, Any]) -> str:
    """The result in a few lines."""
    lines = [f"{summary['event']} (GPS {summary['gps']}) in GWOSC strain "
             f"({', '.join(Path(p).name for p in summary['strain'])}):"]
    mf = summary["matched_filter"]
    lines.append(_trigger_line("matched filter (newsnr)", mf))
    if summary.get("network"):
        lines.append(_trigger_line("network search", summary["network"]))
        sample = summary["sample"]
        lines.append(f"  its 2-s sample: logit {sample['logit']:.2f}, louder than "
                     f"{sample['noise_samples'] - sample['noise_louder']} of the "
                     f"{sample['noise_samples']} noise-only samples around it (loudest noise "
                     f"{sample['noise_max_logit']:.2f})")
    return "\n".join(lines)


def _trigger_line(name: str, trigger: dict[str, Any] | None) -> str:
    if trigger is None:
        return f"  {name}: no trigger"
    snrs = ", ".join(f"{k.removeprefix('snr_')} {v:.1f}" for k, v in trigger.items()
                     if k.startswith("snr_"))
    return (f"  {name}: loudest trigger at GPS {trigger['gps']:.3f} "
            f"({trigger['error_s']:+.3f} s), statistic {trigger['stat']:.2f}"
            + (f" ({snrs})" if snrs else "") + f"; {trigger['analysed_s']:g} s analysed")


def read_summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())
