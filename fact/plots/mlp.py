"""Figures 2 and 8-10: agreement of W^T W (forward) and W W^T (backward) with FACT, NFA and eNFA in MLPs.

Figure 2: per layer at the end of training; Figure 8: over epochs. Figures 9 and 10: the same
for the backward relations. Pearson correlation (centred over entries, spec A7); the mean over
seeds with the range as error bars or bands.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fact.io import read_parquet, read_parquet_metadata
from fact.plots import style

NFA_POWER = 0.5  # AGOP^{1/2}, the NFA's usual power (spec A7)

FORWARD = {name: style.relation_label(name, NFA_POWER) for name in ("fact", "fact_sqrt", "nfa", "enfa")}
BACKWARD = {name: style.relation_label(name, NFA_POWER) for name in ("bfact", "bfact_sqrt", "bnfa", "benfa")}


def _load(paths) -> pd.DataFrame:
    table = pd.concat([read_parquet(p) for p in paths], ignore_index=True)
    powered = table.relation.isin(["nfa", "bnfa"])
    return table[~powered | np.isclose(table.power, NFA_POWER)]


def _trained_with(paths) -> list[dict]:
    return [config for path in paths for config in read_parquet_metadata(path)["trained_with"]]


def _layers(table: pd.DataFrame) -> list[str]:
    return sorted(table.layer.unique(), key=lambda name: int("".join(c for c in name if c.isdigit()) or 0))


def training_in_words(trained_with: list[dict]) -> str:
    """The networks and their training, from the settings the runs were made with."""
    described = []
    for config in trained_with:
        model, train = config["model"], config["train"]
        described.append(
            f"{model['depth']}-layer ReLU MLP of width {model['width']}{'' if model['bias'] else ' without biases'}, "
            f"MSE on one-hot targets, SGD for {train['epochs']} epochs in batches of {train['batch_size']}, learning "
            f"rate {train['lr']:g} with cosine decay to {train['lr'] * train['final_lr_ratio']:g}, momentum "
            f"{train['momentum']:g}, weight decay λ = {train['weight_decay']:g}")
    return "; ".join(described) + " (width, rate, batch size and weight decay chosen here, A8)"


def _caption(table: pd.DataFrame, trained_with: list[dict], extra: str) -> str:
    seeds = table.groupby("dataset").seed.nunique()
    converged = table.drop_duplicates(["dataset", "seed"]).groupby("dataset").converged.mean()
    below = trained_with[0]["train"]["converged_below"]
    runs = "; ".join(f"{name}: {seeds[name]} seeds, {converged[name]:.0%} at a critical point at the end (every "
                     f"weight's stationarity error ≤ {below:g})" for name in seeds.index)
    return (f"Scale: {table.scale.iloc[0]}. Data: {table.note.iloc[0]}. {training_in_words(trained_with)}. "
            f"Pearson correlation over matrix entries on the training set. {runs}. {extra}")


def _per_layer(paths, relations: dict, target: str, out, about: str) -> None:
    style.apply()
    table = _load(paths)
    table = table[table.relation.isin(relations)]
    final = table[table.epoch == table.groupby(["dataset", "seed"]).epoch.transform("max")]
    datasets = list(final.dataset.unique())
    figure, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.2), squeeze=False)
    layers = _layers(final)
    width = 0.8 / len(relations)
    for axis, name in zip(axes[0], datasets):
        rows = final[final.dataset == name]
        for k, (relation, label) in enumerate(relations.items()):
            stats = rows[rows.relation == relation].groupby("layer").pearson.agg(["mean", "min", "max"]).reindex(layers)
            x = np.arange(len(layers)) + (k - (len(relations) - 1) / 2) * width
            axis.bar(x, stats["mean"], width, color=style.RELATION_COLOURS[relation], label=label,
                     yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]], capsize=2)
        axis.set_xticks(np.arange(len(layers)), [f"layer {i + 1}" for i in range(len(layers))])
        axis.set(ylabel=f"Pearson with {target}", ylim=(min(0.0, final.pearson.min()), 1.02), title=name)
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.subplots_adjust(bottom=0.32)
    style.caption(figure, _caption(table, _trained_with(paths), "At the last epoch; bars: mean over seeds, "
                                                                "whiskers: range."))
    style.save(figure, out, about=about)


def _over_epochs(paths, relations: dict, target: str, out, about: str) -> None:
    style.apply()
    table = _load(paths)
    table = table[table.relation.isin(relations)]
    datasets, layers = list(table.dataset.unique()), _layers(table)
    figure, axes = plt.subplots(len(datasets), len(layers), figsize=(2.3 * len(layers), 2.3 * len(datasets) + 0.9),
                                squeeze=False, sharey=True)
    for row, name in zip(axes, datasets):
        for axis, layer in zip(row, layers):
            rows = table[(table.dataset == name) & (table.layer == layer)]
            for relation, label in relations.items():
                stats = rows[rows.relation == relation].groupby("epoch").pearson.agg(["mean", "min", "max"])
                axis.plot(stats.index, stats["mean"], "o-", ms=2, color=style.RELATION_COLOURS[relation], label=label)
                axis.fill_between(stats.index, stats["min"], stats["max"], color=style.RELATION_COLOURS[relation], alpha=0.2)
            axis.set(title=f"{name}, {layer}", xlabel="epoch")
            axis.title.set_fontsize(7)
        row[0].set_ylabel(f"Pearson with {target}")
    axes[0][0].legend(fontsize=5.5, loc="lower right")
    figure.subplots_adjust(bottom=0.3 if len(datasets) == 1 else 0.2, hspace=0.5)
    style.caption(figure, _caption(table, _trained_with(paths), "Lines: mean over seeds; bands: range."))
    style.save(figure, out, about=about)


def render_fig2(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    _per_layer(paths, FORWARD, "WᵀW", out, about="Figure 2: Pearson correlation of each layer's WᵀW with FACT, "
               "(FACT FACTᵀ)^½, the NFA (AGOP^s) and the eNFA at the end of training, for ReLU MLPs.")


def render_fig8(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    _over_epochs(paths, FORWARD, "WᵀW", out, about="Figure 8: the correlations of Figure 2 over training epochs, "
                 "per layer.")


def render_fig9(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    _per_layer(paths, BACKWARD, "WWᵀ", out, about="Figure 9: Pearson correlation of each layer's WWᵀ with bFACT, its "
               "square-root form, the backward AGOP^s and the backward eNFA at the end of training.")


def render_fig10(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    _over_epochs(paths, BACKWARD, "WWᵀ", out, about="Figure 10: the backward correlations of Figure 9 over training "
                 "epochs, per layer.")
