"""A Figure-8-like view of any model's monitor table (``fact.features.monitor``): per weight matrix, how
well each relation matches W^T W (or W W^T) over training, beside how far the matrix is from a
critical point, with tau on a top axis. Needs matplotlib (the ``pipeline`` extra)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

LABELS = {"fact": "FACT", "bfact": "bFACT", "nfa": "AGOP^{s}", "bnfa": "backward AGOP^{s}", "enfa": "eNFA"}
LABELS["benfa"] = "backward eNFA"


def plot_monitor(table: pd.DataFrame, layers=None, columns: int = 4, measure: str = "pearson"):
    """One panel per weight matrix (``layers``, all by default): ``measure`` of each relation against the
    step (solid), the stationarity error on a log axis at the right (dashed grey: FACT holds where it is
    small), and tau on a top axis where the optimizer has one. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    layers = list(dict.fromkeys(table.layer)) if layers is None else list(layers)
    if not layers:
        raise ValueError("the table has no rows to plot: record at least once (monitor.record())")
    rows = math.ceil(len(layers) / columns)
    figure, axes = plt.subplots(rows, min(columns, len(layers)), figsize=(3.4 * min(columns, len(layers)), 2.8 * rows),
                                squeeze=False, sharey=True, layout="constrained")  # fmt: skip
    for axis, layer in zip(axes.flat, layers):
        _panel(axis, table[table.layer == layer], layer, measure)
    for axis in axes.flat[len(layers) :]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 7), fontsize=7)
    return figure


def _panel(axis, rows: pd.DataFrame, layer: str, measure: str) -> None:
    for (relation, power), curve in rows.groupby(["relation", "power"], dropna=False, sort=False):
        label = LABELS.get(relation, relation).replace("{s}", "" if np.isnan(power) else f"{power:g}")
        axis.plot(curve.step, curve[measure], marker=".", label=label)
    axis.set(xlabel="step", ylim=(min(-0.05, rows[measure].min()), 1.05))
    axis.set_ylabel(measure.replace("_", " "))
    stationarity = rows.drop_duplicates("step")
    right = axis.twinx()
    right.plot(stationarity.step, stationarity.stationarity_error, color="grey", linestyle="--")
    right.set_yscale("log")
    right.set_ylabel("stationarity error (dashed)", fontsize=7)
    right.tick_params(labelsize=7)
    has_tau = _tau_axis(axis, stationarity)
    axis.set_title(layer, fontsize=8, pad=22 if has_tau else 6)


def _tau_axis(axis, rows: pd.DataFrame) -> bool:
    """tau on a top axis, mapped from the step, where it is known and grows; whether there is one."""
    steps, tau = rows.step.to_numpy(float), rows.tau.to_numpy(float)
    if len(steps) < 2 or not np.isfinite(tau).all() or not (np.diff(tau) > 0).all():
        return False
    to_tau, to_step = (lambda s: np.interp(s, steps, tau)), (lambda t: np.interp(t, tau, steps))
    top = axis.secondary_xaxis("top", functions=(to_tau, to_step))
    top.set_xlabel("τ", fontsize=8, labelpad=1)
    top.tick_params(labelsize=7)
    return True
