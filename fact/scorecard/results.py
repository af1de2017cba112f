"""The result files the scorecard judges, read and grouped by scale and experiment.

Files are recognised by where the pipeline writes them, ``results/<scale>/<kind>/...``:

    tabular/<dataset>.parquet                      Table 1, one dataset each
    features/fig7.parquet                          Figure 7
    features/mlp.parquet                           Figures 2 and 8-10
    features/deep_linear.parquet                   Figure 11
    rfm/parity/<figure>/k<k>_seed<s>.parquet       Figures 3-4
    rfm/modular/<run>_seed<s>.parquet (and .pt)    Figures 5-6
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fact.io import load_torch, read_parquet_metadata

KINDS = {
    "tabular": re.compile(r"tabular/[^/]+\.parquet"),
    "fig7": re.compile(r"features/fig7\.parquet"),
    "mlp": re.compile(r"features/mlp\.parquet"),
    "deep_linear": re.compile(r"features/deep_linear\.parquet"),
    "parity": re.compile(r"rfm/parity/[^/]+/[^/]+\.parquet"),
    "modular": re.compile(r"rfm/modular/[^/]+\.(parquet|pt)"),
}


@dataclass
class Experiment:
    """One experiment's results at one scale: its tidy table and the settings stored with it."""

    table: pd.DataFrame
    settings: list[dict]                                   # each file's own job settings
    trained_with: list[dict] = field(default_factory=list)  # the trained networks' settings, where there are any
    extra: list[dict] = field(default_factory=list)         # .pt contents (modular: tau and k')


def classify(path: str | os.PathLike) -> tuple[str, str]:
    """(scale, kind) of a result file, from its place under results/."""
    parts = Path(path).parts
    if "results" not in parts or len(parts) < parts.index("results") + 3:
        raise ValueError(f"{path} is not under results/<scale>/; give the scorecard the pipeline's result files")
    at = parts.index("results")
    scale, rest = parts[at + 1], "/".join(parts[at + 2:])
    for kind, pattern in KINDS.items():
        if pattern.fullmatch(rest):
            return scale, kind
    raise ValueError(f"{path}: not a result file the scorecard knows ({', '.join(KINDS)})")


def load(paths: list[str | os.PathLike]) -> dict[str, dict[str, Experiment]]:
    """{scale: {kind: Experiment}} for the given files; scales in the order quick, paper, others."""
    grouped: dict[tuple[str, str], list[Path]] = {}
    for path in paths:
        grouped.setdefault(classify(path), []).append(Path(path))
    loaded: dict[str, dict[str, Experiment]] = {}
    for (scale, kind), files in sorted(grouped.items(), key=lambda item: (scale_order(item[0][0]), item[0][1])):
        tables = sorted(f for f in files if f.suffix == ".parquet")
        metadata = [read_parquet_metadata(f) for f in tables]
        extra = [load_torch(f) for f in sorted(f for f in files if f.suffix == ".pt")]
        loaded.setdefault(scale, {})[kind] = Experiment(
            table=pd.concat([pd.read_parquet(f) for f in tables], ignore_index=True),
            settings=[m["settings"] for m in metadata],
            trained_with=[config for m in metadata for config in m.get("trained_with", [])],
            extra=extra)
    return loaded


def scale_order(scale: str) -> tuple[int, str]:
    return ({"quick": 0, "paper": 1}.get(scale, 2), scale)
