"""Figures 2 and 8-10: agreement of W^T W (forward) and W W^T (backward) with FACT, NFA and eNFA in MLPs.

Figure 2: per layer at the end of training; Figure 8: over epochs. Figures 9 and 10: the same
for the backward relations. Under each, the layers' stationarity error: FACT is a theorem about
critical points, and how far from one each layer is says how much its agreement can be asked for.
Pearson correlation (centred over entries; docs/paper-settings.md); the mean over seeds with the range as error
bars or bands.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fact.experiments.analysis import NFA_POWER
from fact.experiments.io import read_parquet, read_parquet_metadata
from fact.experiments.plots import style
from fact.features.losses import LOSS_LABELS
from fact.features.names import Relation, relation_label

FORWARD = {
    name: relation_label(name, NFA_POWER) for name in (Relation.FACT, Relation.FACT_SQRT, Relation.NFA, Relation.ENFA)
}
BACKWARD = {
    name: relation_label(name, NFA_POWER)
    for name in (Relation.BFACT, Relation.BFACT_SQRT, Relation.BNFA, Relation.BENFA)
}


def _load(paths) -> pd.DataFrame:
    table = pd.concat([read_parquet(p) for p in paths], ignore_index=True)
    powered = table.relation.isin([Relation.NFA, Relation.BNFA])
    return table[~powered | np.isclose(table.power, NFA_POWER)]


def _trained_with(paths) -> list[dict]:
    return [config for path in paths for config in read_parquet_metadata(path)["trained_with"]]


def _layers(table: pd.DataFrame) -> list[str]:
    return sorted(table.layer.unique(), key=lambda name: int("".join(c for c in name if c.isdigit()) or 0))


def training_in_words(trained_with: list[dict]) -> str:
    """The networks and their training, from the settings the runs were made with; where the datasets were
    trained differently (their own epochs or lambda), each description names its datasets."""
    by_description: dict[str, list[str]] = {}
    for config in trained_with:
        datasets = by_description.setdefault(_run_in_words(config), [])
        if config.get("dataset") and config["dataset"] not in datasets:
            datasets.append(config["dataset"])
    described = [
        f"on {', '.join(datasets)}: {words}" if len(by_description) > 1 and datasets else words
        for words, datasets in by_description.items()
    ]
    return "; ".join(described) + " (width, rate, batch size and weight decay chosen here: docs/paper-settings.md)"


def _run_in_words(config: dict) -> str:
    model, train, objective = config["model"], config["train"], config["objective"]
    return (
        f"{model['depth']}-layer ReLU MLP of width {model['width']}{'' if model['bias'] else ' without biases'}, "
        f"{LOSS_LABELS[objective['loss']]} on one-hot targets, SGD for {train['epochs']} epochs in batches of "
        f"{train['batch_size']}, learning rate {train['lr']:g} with cosine decay to "
        f"{train['lr'] * train['final_lr_ratio']:g}, momentum {train['momentum']:g}, weight decay "
        f"λ = {objective['weight_decay']:g}"
    )


def _caption(table: pd.DataFrame, trained_with: list[dict], extra: str) -> str:
    below = trained_with[0]["train"]["converged_below"]
    return (
        f"Scale: {table.scale.iloc[0]}. Data: {table.note.iloc[0]}. {training_in_words(trained_with)}. "
        f"Pearson correlation over matrix entries on the training set. {_end_of_training(table, below)} "
        f"Stationarity error ||∇_W L + λW|| / ||λW|| (0 at a critical point, where FACT holds exactly); "
        f"τ = λ/(1 − momentum) Σ lr, the time weight decay had to act. {extra}"
    )


def _end_of_training(table: pd.DataFrame, below: float) -> str:
    """Per dataset: seeds, tau, the polish, the largest stationarity error and how many runs were converged."""
    final = table[table.epoch == table.groupby(["dataset", "seed"]).epoch.transform("max")]
    described = []
    for name, rows in final.groupby("dataset", sort=False):
        runs = rows.drop_duplicates("seed")
        polish = (
            f", then at most {runs.polish_steps.max():d} L-BFGS steps"
            if "polish_steps" in rows and runs.polish_steps.max() > 0
            else ""
        )
        described.append(
            f"{name}: {len(runs)} seed{'s' if len(runs) != 1 else ''}, "
            f"τ = {rows.tau.max():.2f} at the end{polish}, largest "
            f"stationarity error {rows.stationarity_error.max():.2g}, {runs.converged.mean():.0%} of "
            f"runs at a critical point (every weight ≤ {below:g})"
        )
    return "; ".join(described) + "."


def _stationarity(table: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset, seed, epoch and layer (each relation's row repeats the weight's error)."""
    return table.drop_duplicates(["dataset", "seed", "epoch", "layer"])


def _per_layer(paths, relations: dict, target: str, out, about: str) -> None:
    style.apply()
    table = _load(paths)
    table = table[table.relation.isin(relations)]
    final = table[table.epoch == table.groupby(["dataset", "seed"]).epoch.transform("max")]
    datasets, layers = list(final.dataset.unique()), _layers(final)
    trained_with = _trained_with(paths)
    figure, axes = plt.subplots(
        2,
        len(datasets),
        figsize=(4.2 * len(datasets), 4.6),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1.4]},
        sharex="col",
    )
    for column, name in enumerate(datasets):
        rows = final[final.dataset == name]
        _relation_bars(axes[0][column], rows, relations, layers)
        axes[0][column].set(ylabel=f"Pearson with {target}", ylim=(min(0.0, final.pearson.min()), 1.02), title=name)
        _stationarity_bars(axes[1][column], _stationarity(rows), layers, trained_with[0]["train"]["converged_below"])
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    axes[1][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.subplots_adjust(bottom=0.34, hspace=0.15)
    style.caption(figure, _caption(table, trained_with, "At the last epoch; bars: mean over seeds, whiskers: range."))
    style.save(figure, out, about=about)


def _relation_bars(axis, rows: pd.DataFrame, relations: dict, layers: list[str]) -> None:
    width = 0.8 / len(relations)
    for k, (relation, label) in enumerate(relations.items()):
        stats = rows[rows.relation == relation].groupby("layer").pearson.agg(["mean", "min", "max"]).reindex(layers)
        x = np.arange(len(layers)) + (k - (len(relations) - 1) / 2) * width
        axis.bar(
            x,
            stats["mean"],
            width,
            color=style.RELATION_COLOURS[relation],
            label=label,
            yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
            capsize=2,
        )


def _stationarity_bars(axis, errors: pd.DataFrame, layers: list[str], below: float) -> None:
    """Each layer's stationarity error at the end (log scale; mean over seeds, range as whiskers), and the
    line below which a layer counts as at a critical point."""
    stats = errors.groupby("layer").stationarity_error.agg(["mean", "min", "max"]).reindex(layers)
    axis.errorbar(
        np.arange(len(layers)),
        stats["mean"],
        yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
        fmt="o",
        ms=4,
        capsize=2,
        color=style.STATIONARITY_COLOUR,
        label="stationarity error",
    )
    axis.axhline(below, color="black", lw=0.8, ls="--", label=f"converged_below = {below:g}")
    style.log_axis(axis, [below, *stats["min"], *stats["max"]])
    axis.set(ylabel="stationarity\nerror", xlim=(-0.5, len(layers) - 0.5))
    axis.set_xticks(np.arange(len(layers)), [f"layer {i + 1}" for i in range(len(layers))])


def _over_epochs(paths, relations: dict, target: str, out, about: str) -> None:
    style.apply()
    table = _load(paths)
    table = table[table.relation.isin(relations)]
    datasets, layers = list(table.dataset.unique()), _layers(table)
    trained_with = _trained_with(paths)
    figure, axes = plt.subplots(
        2 * len(datasets),
        len(layers),
        figsize=(2.3 * len(layers), 3.6 * len(datasets) + 1),
        squeeze=False,
        sharex="col",
        sharey="row",
        gridspec_kw={"height_ratios": [3, 1.8] * len(datasets)},
    )
    for index, name in enumerate(datasets):
        agreement, errors = axes[2 * index], axes[2 * index + 1]
        rows = table[table.dataset == name]
        for layer, axis in zip(layers, agreement):
            _relation_lines(axis, rows[rows.layer == layer], relations)
            _tau_axis(axis, rows, label=axis is agreement[0])
            axis.set_title(f"{name}, {layer}", fontsize=7)
        for layer, axis in zip(layers, errors):
            _stationarity_line(
                axis, _stationarity(rows[rows.layer == layer]), trained_with[0]["train"]["converged_below"]
            )
        agreement[0].set_ylabel(f"Pearson with {target}")
        errors[0].set_ylabel("stationarity\nerror")
    axes[0][0].legend(fontsize=5.5, loc="lower right")
    axes[1][-1].legend(fontsize=5.5, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.subplots_adjust(bottom=0.26 if len(datasets) == 1 else 0.16, hspace=0.55)
    style.caption(
        figure, _caption(table, trained_with, "Lines: mean over seeds; bands: range. Top axis: τ at the kept epochs.")
    )
    style.save(figure, out, about=about)


def _relation_lines(axis, rows: pd.DataFrame, relations: dict) -> None:
    for relation, label in relations.items():
        stats = rows[rows.relation == relation].groupby("epoch").pearson.agg(["mean", "min", "max"])
        axis.plot(stats.index, stats["mean"], "o-", ms=2, color=style.RELATION_COLOURS[relation], label=label)
        axis.fill_between(stats.index, stats["min"], stats["max"], color=style.RELATION_COLOURS[relation], alpha=0.2)


def _stationarity_line(axis, errors: pd.DataFrame, below: float) -> None:
    stats = errors.groupby("epoch").stationarity_error.agg(["mean", "min", "max"])
    axis.plot(stats.index, stats["mean"], "o-", ms=2, color=style.STATIONARITY_COLOUR, label="stationarity error")
    axis.fill_between(stats.index, stats["min"], stats["max"], color=style.STATIONARITY_COLOUR, alpha=0.2)
    axis.axhline(below, color="black", lw=0.8, ls="--", label=f"converged_below = {below:g}")
    style.log_axis(axis, [below, *stats["min"], *stats["max"]])
    axis.set_xlabel("epoch")


def _tau_axis(axis, rows: pd.DataFrame, label: bool) -> None:
    """tau at some kept epochs on a top axis (the same schedule for every seed), spaced to stay legible."""
    tau = rows.groupby("epoch").tau.max()
    span, ticks = max(tau.index.max(), 1), []
    for epoch in reversed(tau.index):  # the last epoch first: its tau matters most
        if all(abs(epoch - other) >= 0.22 * span for other in ticks):
            ticks.append(epoch)
    top = axis.secondary_xaxis("top")
    top.set_xticks(ticks, [f"{tau[epoch]:.2g}" for epoch in ticks], fontsize=5.5)
    if label:
        axis.annotate("τ", xy=(0, 1), xycoords="axes fraction", xytext=(-14, 3), textcoords="offset points", fontsize=7)


def render_fig2(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """Draw Figure 2 (the forward relations per layer at the end of training) to ``out``."""
    _per_layer(
        paths,
        FORWARD,
        "WᵀW",
        out,
        about="Figure 2: Pearson correlation of each layer's WᵀW with FACT, "
        "(FACT FACTᵀ)^½, the NFA (AGOP^s) and the eNFA at the end of training, for ReLU MLPs.",
    )


def render_fig8(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """Draw Figure 8 (the forward relations over epochs) to ``out``."""
    _over_epochs(
        paths, FORWARD, "WᵀW", out, about="Figure 8: the correlations of Figure 2 over training epochs, per layer."
    )


def render_fig9(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """Draw Figure 9 (the backward relations per layer at the end of training) to ``out``."""
    _per_layer(
        paths,
        BACKWARD,
        "WWᵀ",
        out,
        about="Figure 9: Pearson correlation of each layer's WWᵀ with bFACT, its "
        "square-root form, the backward AGOP^s and the backward eNFA at the end of training.",
    )


def render_fig10(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """Draw Figure 10 (the backward relations over epochs) to ``out``."""
    _over_epochs(
        paths,
        BACKWARD,
        "WWᵀ",
        out,
        about="Figure 10: the backward correlations of Figure 9 over training epochs, per layer.",
    )
