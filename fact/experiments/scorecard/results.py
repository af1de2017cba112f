"""The result files the scorecard judges, read and grouped by scale and experiment.

Files are recognised by where the pipeline writes them under ``results/<scale>/``
(``fact.experiments.scorecard.places``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from fact.experiments.io import load_torch, read_parquet, read_parquet_metadata
from fact.experiments.scorecard.places import RESULT_PLACES


@dataclass
class Experiment:
    """One experiment's results at one scale: its tidy table and the settings stored with it."""

    table: pd.DataFrame
    settings: list[dict]  # each file's own job settings
    trained_with: list[dict] = field(default_factory=list)  # the trained networks' settings, where there are any
    extra: list[dict] = field(default_factory=list)  # .pt contents (modular: tau and k')


def classify(path: str | os.PathLike) -> tuple[str, str]:
    """(scale, kind) of a result file, from its place under results/."""
    parts = Path(path).parts
    if "results" not in parts or len(parts) < parts.index("results") + 3:
        raise ValueError(f"{path} is not under results/<scale>/; give the scorecard the pipeline's result files")
    at = parts.index("results")
    scale, rest = parts[at + 1], PurePosixPath(*parts[at + 2 :])
    for kind, patterns in RESULT_PLACES.items():
        # as many path segments as the pattern, each matching its own: a * never spans a folder
        if any(len(rest.parts) == len(PurePosixPath(p).parts) and rest.match(p) for p in patterns):
            return scale, kind
    raise ValueError(f"{path}: not a result file the scorecard knows ({', '.join(RESULT_PLACES)})")


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
            table=pd.concat([read_parquet(f) for f in tables], ignore_index=True),
            settings=[m["settings"] for m in metadata],
            trained_with=[config for m in metadata for config in m.get("trained_with", [])],
            extra=extra,
        )
    return loaded


def scale_order(scale: str) -> tuple[int, str]:
    """A sort key that puts quick before paper, then any other scale by name."""
    return ({"quick": 0, "paper": 1}.get(scale, 2), scale)
