"""Figure 14 (beyond the paper): FACT's premise made visible.

Pearson(W^T W, FACT) against the stationarity error of every layer at every kept state of every network
the pipeline trained, beside the NFA's Pearson on the same axes, and FACT against tau for the SGD runs.
FACT is exact at a critical point (stationarity error 0); the NFA is not tied to one.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fact.experiments.convergence import ARCHITECTURES, FACT_LEVEL, holds_below
from fact.experiments.io import read_parquet
from fact.experiments.plots import style

MARKERS = dict(zip(ARCHITECTURES.values(), ("o", "s", "D", "^", "v")))
COLOURS = dict(zip(ARCHITECTURES.values(), ("#1b9e77", "#e7298a", "#66a61e", "#7570b3", "#d95f02")))


def render_fig14(path: str | os.PathLike, out: str | os.PathLike) -> None:
    """Draw Figure 14 from the convergence table at ``path`` to ``out``, with its caption."""
    style.apply()
    table = read_parquet(path)
    threshold = holds_below(table)
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for axis, column, title in ((axes[0], "fact", "FACT"), (axes[1], "nfa", "NFA: AGOP^s, s nearest ½")):
        _scatter(axis, table, "stationarity_error", column)
        axis.set_xscale("log")
        axis.axvline(threshold, color="black", lw=0.8, ls=":")
        axis.set(xlabel="stationarity error ||∇_W L + λW|| / ||λW||", title=f"Pearson(WᵀW, {title})")
    axes[0].axhline(FACT_LEVEL, color="black", lw=0.6, ls="--")
    sgd = table[table.tau.notna()]
    _scatter(axes[2], sgd, "tau", "fact")
    axes[2].set(xlabel="τ = λ/(1 − momentum) Σ lr", title="Pearson(WᵀW, FACT), SGD runs")
    axes[0].set(ylabel="Pearson correlation", ylim=(min(-0.05, float(table[["fact", "nfa"]].min().min())), 1.03))
    axes[0].legend(fontsize=6, loc="lower left")
    figure.subplots_adjust(bottom=0.36, wspace=0.08)
    style.caption(figure, _caption(table, threshold))
    style.save(
        figure,
        out,
        about="Figure 14 (beyond the paper): Pearson correlation of WᵀW with FACT and with the "
        "NFA against each layer's stationarity error, for every network the pipeline "
        "trained, and FACT against τ for the SGD runs.",
    )


def _scatter(axis, table: pd.DataFrame, x: str, y: str) -> None:
    for architecture, rows in table.groupby("architecture", sort=False):
        axis.scatter(
            rows[x],
            rows[y],
            s=9,
            marker=MARKERS[architecture],
            color=COLOURS[architecture],
            alpha=0.6,
            lw=0,
            label=f"{architecture} ({len(rows)})",
        )


def _caption(table: pd.DataFrame, threshold: float) -> str:
    near = table[table.stationarity_error <= threshold]
    far = table[table.stationarity_error > 1]
    return (
        f"Scale: {table.scale.iloc[0]}. {len(table)} layer states (layers × kept epochs or steps × runs). Every "
        f"one with stationarity error ≤ {threshold:.3g} (dotted line; {len(near)} states) has Pearson(WᵀW, FACT) ≥ "
        f"{FACT_LEVEL} (dashed); above 1, FACT's median is {_median(far.fact)} and the NFA's {_median(far.nfa)}. "
        f"NFA at the power nearest ½ each run computed ({_powers(table)}). τ: the time weight decay had to act, "
        f"for the SGD runs (MLPs, deep linear nets); the quadratic net (Adam, L-BFGS, Newton), transformer and "
        f"CNN (Adam-L2, AdamW) have none."
    )


def _median(values: pd.Series) -> str:
    return f"{values.median():.2f}" if len(values) else "–"


def _powers(table: pd.DataFrame) -> str:
    powers = np.unique(table.nfa_power.dropna().round(3))
    return ", ".join(f"{power:g}" for power in powers)
