"""Figure 11: deep linear networks. The NFA needs the power s = 1/L; FACT needs none."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fact.experiments.analysis import best_powers
from fact.experiments.io import read_parquet, read_parquet_metadata
from fact.experiments.plots import style
from fact.features.losses import LOSS_LABELS
from fact.features.names import Relation


def training_in_words(config: dict) -> str:
    """The data and training of the runs, from the settings they were made with."""
    train, objective = config["train"], config["objective"]
    return (
        f"d = {config['d']}, n = {config['n']} points, {LOSS_LABELS[objective['loss']]}, SGD for {train['epochs']} "
        f"epochs in batches of {train['batch_size']}, learning rate {train['lr']:g} with cosine decay to "
        f"{train['lr'] * train['final_lr_ratio']:g}, momentum {train['momentum']:g}, weight decay "
        f"λ = {objective['weight_decay']:g}"
    )


def render(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """Draw Figure 11 from the deep linear extraction table to ``out``, with its caption."""
    style.apply()
    table = pd.concat([read_parquet(p) for p in paths], ignore_index=True)
    first = table[table.layer == "linear1"]
    depths = sorted(first.depth.unique())
    colours = plt.cm.viridis(np.linspace(0, 0.85, len(depths)))
    best = best_powers(table)
    figure, axis = plt.subplots(figsize=(5.0, 3.4))
    for depth, colour in zip(depths, colours):
        rows = first[first.depth == depth]
        nfa = rows[rows.relation == Relation.NFA].groupby("power").pearson.agg(["mean", "min", "max"])
        axis.plot(nfa.index, nfa["mean"], color=colour, label=f"NFA, L = {depth} (best s = {best[depth]:.3g})")
        axis.fill_between(nfa.index, nfa["min"], nfa["max"], color=colour, alpha=0.2)
        axis.axvline(1 / depth, color=colour, ls=":", lw=0.8)
        fact = rows[rows.relation == Relation.FACT].pearson.mean()
        axis.axhline(fact, color=colour, ls="--", lw=0.8)
    axis.plot([], [], "k--", lw=0.8, label="FACT (no power), per L")
    axis.plot([], [], "k:", lw=0.8, label="s = 1/L")
    low = first[first.relation == Relation.NFA].pearson.min()
    axis.set(xlabel="NFA power s (W₁ᵀW₁ vs AGOP^s)", ylabel="Pearson with W₁ᵀW₁", ylim=(max(low, 0.5) - 0.02, 1.005))
    axis.legend(fontsize=6, loc="lower left")
    figure.subplots_adjust(bottom=0.33)
    seeds = first.seed.nunique()
    training = "; ".join(training_in_words(config) for config in read_parquet_metadata(paths[0])["trained_with"])
    style.caption(
        figure,
        f"Scale: {table.scale.iloc[0]}. Deep linear networks f(x) = W_L···W_1 x fitted to y = W*x "
        f"(W* Gaussian, x ~ N(0, I)): {training} (sizes, rate and decay chosen here: docs/paper-settings.md). "
        f"First layer, mean over {seeds} seeds (band: range).",
    )
    style.save(
        figure,
        out,
        about="Figure 11: deep linear networks of depth L: Pearson correlation of the first "
        "layer's W₁ᵀW₁ with AGOP^s against the power s, and with FACT, which needs no power.",
    )
