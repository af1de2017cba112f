"""The monitor's table on disk: one Parquet file, rewritten whole and atomically after each record, so a
killed run keeps every record before it; an earlier run's rows at the same path are never overwritten.

A monitor made on a path that already holds rows refuses it, unless it resumes that run (``resume=True``):
it then keeps the rows up to the step it resumes at, and drops those after it, which the run recorded
after its last checkpoint and will record again.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from fact.features.atomic import atomic_path
from fact.features.names import MEASURES, Relation

# A monitor's table, of which a monitor keeps the measures it records (``measures=``).
COLUMNS = ["step", "tau", "layer", "side", "relation", "power", *MEASURES, "stationarity_error"]


def earlier_rows(path: Path | None, resume: bool) -> list[dict]:
    """The rows an earlier run left at ``path`` (none without a path or a file); refused without ``resume``."""
    if path is None or not path.exists():
        return []
    try:
        table = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several kinds for a file that is not Parquet
        raise ValueError(f"{path} exists but is not a monitor table ({error}); give another path") from None
    if len(table) and not resume:
        raise ValueError(
            f"{path} already holds {len(table)} rows of an earlier run (steps {table.step.min()} to "
            f"{table.step.max()}): pass resume=True to go on with that run (and give the monitor its state, "
            "monitor.load_state_dict, saved with your checkpoint), or give another path"
        )
    return table.to_dict("records")


def check_writable(path: Path) -> None:
    """Make ``path``'s folder, or refuse a path the table cannot be written to, before any training."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"the monitor cannot make the folder of path={str(path)!r}: {error}") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"the monitor cannot write path={str(path)!r}: give a path in a folder you can write")


def write_atomically(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` to a temporary name beside ``path`` and rename it into place."""
    try:
        with atomic_path(path) as temporary:
            table.to_parquet(temporary, index=False)
    except OSError as error:
        raise OSError(
            f"the monitor could not write {path} ({error}); its rows are still in monitor.table: free space "
            f"under {path.parent} and call monitor.record() again, or save monitor.table elsewhere"
        ) from error


def scalars(rows: list[dict]) -> dict[str, float]:
    """One record's rows as the scalars a logger takes, by tag: each relation's Pearson correlation
    (``pearson/<layer>/<relation>[^<power>]``), and each weight's stationarity error and tau."""
    values = {}
    for row in rows:
        power = "" if math.isnan(row["power"]) else f"^{row['power']:g}"
        values[f"pearson/{row['layer']}/{row['relation']}{power}"] = row["pearson"]
    for row in rows:
        if row["relation"] == Relation.FACT:
            values[f"stationarity/{row['layer']}"] = row["stationarity_error"]
            values[f"tau/{row['layer']}"] = row["tau"]
    return values
