"""What the figures and the scorecard both compute from the results, so that neither reads the
other: the NFA's usual power, Table 1's per-dataset accuracies beside the paper's means, the best
NFA power of deep linear networks, and the proportional fit of Figure 6."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fact.features.names import Relation

NFA_POWER = 0.5  # AGOP^{1/2}, the NFA's usual power (docs/paper-settings.md)

# The paper's Table 1 (percent). Which FACT column is which is uncertain (docs/paper-settings.md): the
# summaries of the ICLR version give 85.22 to FACT-RFM without geometric averaging and 84.99 to FACT-RFM'.
TABLE1_PAPER = {"fact": 85.22, "fact_geom": 84.99, "nfa": 85.10, "laplace": 83.71}


def per_dataset(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1's accuracy (%) averaged over the folds: one row per dataset, one column per method."""
    done = table[table.status == "ok"]
    wide = done.groupby(["dataset", "method"]).accuracy.mean().unstack("method") * 100
    order = [m for m in TABLE1_PAPER if m in wide.columns] + sorted(set(wide.columns) - set(TABLE1_PAPER))
    return wide[order]  # the paper's column order, then any other method


def best_powers(table: pd.DataFrame, layer: str = "linear1") -> pd.Series:
    """The power s maximising the mean Pearson(W^T W, AGOP^s) over seeds, per depth (deep linear nets)."""
    nfa = table[(table.layer == layer) & (table.relation == Relation.NFA)]
    mean = nfa.groupby(["depth", "power"]).pearson.mean().reset_index()
    return mean.loc[mean.groupby("depth").pearson.idxmax()].set_index("depth").power


def fit_through_origin(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope of the least-squares line y = slope x and its R^2 = 1 - SS_res / SS_tot (centred)."""
    slope = float((x * y).sum() / (x * x).sum())
    r2 = 1 - float(((y - slope * x) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    return slope, r2
