"""FACT's agreement against how far each layer is from a critical point, over every network trained.

The points of Figure 14: one per layer and kept state (epoch or step) of every run, with the Pearson
correlation of W^T W with FACT and with the NFA (AGOP^s at the power nearest 1/2 the run has), its
stationarity error ||grad_W L + lambda W|| / ||lambda W||, and tau where the run has one (SGD).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fact.experiments.experiment_table import EXPERIMENTS
from fact.features.names import Relation

# the extraction tables, by the name of their file, and how the figure names them
ARCHITECTURES = {name: experiment.architecture for name, experiment in EXPERIMENTS.items()}
FACT_LEVEL = 0.98  # "FACT holds": Pearson(W^T W, FACT) at least this
COLUMNS = ["architecture", "run", "state", "layer", "stationarity_error", "tau", "fact", "nfa", "nfa_power"]


def points(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per architecture, run, kept state and layer (the forward relations of ``tables``, keyed as
    ARCHITECTURES)."""
    frames = [_points(name, table) for name, table in tables.items()]
    return pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)


def _points(name: str, table: pd.DataFrame) -> pd.DataFrame:
    run_keys = [key for key in ("dataset", "depth", "optimiser", "seed") if key in table]
    state = "step" if "step" in table else "epoch"
    keys = [*run_keys, state, "layer"]
    forward = table[table.side == "forward"]
    fact = forward[forward.relation == Relation.FACT].set_index(keys)
    nfa = forward[forward.relation == Relation.NFA].copy()
    nfa["distance"] = (nfa.power - 0.5).abs()
    nfa = nfa.sort_values("distance").drop_duplicates(keys).set_index(keys)
    tau = fact.tau if "tau" in fact else pd.Series(np.nan, index=fact.index)
    joined = pd.DataFrame(
        {
            "stationarity_error": fact.stationarity_error,
            "tau": tau,
            "fact": fact.pearson,
            "nfa": nfa.pearson,
            "nfa_power": nfa.power,
        }
    ).reset_index()
    joined["run"] = joined[run_keys].astype(str).agg(" ".join, axis=1)
    return joined.rename(columns={state: "state"}).assign(architecture=ARCHITECTURES[name])


def holds_below(points: pd.DataFrame, level: float = FACT_LEVEL) -> float:
    """The largest stationarity error s such that every point at most s from stationarity has
    Pearson(W^T W, FACT) >= ``level`` (0 if the closest point already misses it)."""
    ordered = points.dropna(subset=["stationarity_error", "fact"]).sort_values("stationarity_error")
    misses = ordered.fact.to_numpy() < level
    if not misses.any():
        return float(ordered.stationarity_error.max()) if len(ordered) else 0.0
    first_miss = int(np.argmax(misses))
    return float(ordered.stationarity_error.iloc[first_miss - 1]) if first_miss else 0.0
