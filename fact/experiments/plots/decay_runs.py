"""The decay runs, Figures 12 and 13 (beyond the paper): every weight matrix of a transformer that
groks modular addition (12) and of a small CNN (13) against FACT, the NFA and the eNFA, each trained
with weight decay in the objective (Adam with L2) and decoupled from it (AdamW)."""

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

# fact.features.matrices' layer names -> the names of the weight matrices in the transformer literature
TRANSFORMER_NAMES = {
    "token": "E",
    "attention[q]": "W_Q",
    "attention[k]": "W_K",
    "attention[v]": "W_V",
    "attention.out_proj": "W_O",
    "mlp_in": "W_in",
    "mlp_out": "W_out",
    "unembed": "U",
}
CNN_NAMES = {"conv1": "conv1", "conv2": "conv2", "head": "head"}
OPTIMISER_NAMES = {"adam_l2": "Adam, L2 decay in the objective", "adamw": "AdamW, decoupled decay"}


def forward_relations(table: pd.DataFrame) -> pd.DataFrame:
    """The W^T W side: FACT, AGOP^(1/2) and eNFA, mean over seeds, per optimiser, step and matrix."""
    nfa_at_its_power = (table.relation == Relation.NFA) & (table.power == NFA_POWER)
    chosen = table[(table.side == "forward") & (table.relation.isin([Relation.FACT, Relation.ENFA]) | nfa_at_its_power)]
    columns = ["pearson", "spearman", "stationarity_error"]
    return chosen.groupby(["optimiser", "step", "layer", "relation"])[columns].mean().reset_index()


def draw_final(axis, rows: pd.DataFrame, names: dict[str, str]) -> None:
    """Grouped bars of Pearson per matrix and relation at the last step; Spearman as dots."""
    layers = [layer for layer in names if layer in set(rows.layer)]
    relations = [Relation.FACT, Relation.NFA, Relation.ENFA]
    width = 0.8 / len(relations)
    positions = np.arange(len(layers))
    for index, relation in enumerate(relations):
        values = rows[rows.relation == relation].set_index("layer").reindex(layers)
        offset = positions + (index - 1) * width
        axis.bar(
            offset,
            values.pearson,
            width,
            color=style.RELATION_COLOURS[relation],
            label=relation_label(relation, NFA_POWER) + " (Pearson)",
        )
        axis.plot(offset, values.spearman, "o", color="black", markersize=2.5, label="Spearman" if index == 0 else None)
    # under each name, how far the matrix is from stationarity: FACT can only hold where this is small
    errors = rows[rows.relation == Relation.FACT].set_index("layer").stationarity_error
    axis.set_xticks(positions, [f"{names[layer]}\n{errors[layer]:.1g}" for layer in layers], fontsize=6.5)
    axis.axhline(0, color="black", lw=0.6)
    axis.set(ylim=(min(-0.1, float(rows.pearson.min()) - 0.05), 1.05), ylabel="correlation with WᵀW")


def draw_training(axis, rows: pd.DataFrame, history: pd.DataFrame) -> None:
    """FACT's and the NFA's Pearson over training (mean over matrices, band: range), beside accuracy."""
    for relation in (Relation.FACT, Relation.NFA):
        per_step = rows[rows.relation == relation].groupby("step").pearson.agg(["mean", "min", "max"])
        steps = per_step.index + 1
        axis.plot(
            steps,
            per_step["mean"],
            color=style.RELATION_COLOURS[relation],
            label=relation_label(relation, NFA_POWER) + ", mean over matrices",
        )
        axis.fill_between(steps, per_step["min"], per_step["max"], color=style.RELATION_COLOURS[relation], alpha=0.15)
    accuracy = history.groupby("step")[["train_accuracy", "test_accuracy"]].mean()
    axis.plot(accuracy.index + 1, accuracy.train_accuracy, color="0.35", lw=1, label="train accuracy")
    axis.plot(accuracy.index + 1, accuracy.test_accuracy, color="0.35", lw=1, ls="--", label="test accuracy")
    axis.set(xscale="log", xlabel="training step + 1", ylabel="Pearson with WᵀW / accuracy", ylim=(-0.3, 1.05))


def schedule_in_words(config: dict) -> str:
    """The decay runs' objective and training schedule, from what they were trained on, for a caption."""
    train, loss = config["train"], LOSS_LABELS[config["objective"]["loss"]]
    return (
        f"full-batch {loss}, {train['steps']} steps, betas {tuple(train['betas'])}, cosine decay to "
        f"{train['final_lr_ratio']:g}·lr"
    )


def transformer_in_words(config: dict) -> str:
    """The task, the model and the shared training settings of the runs, from their settings."""
    data, model = config["data"], config["model"]
    return (
        f"(a + b) mod {data['p']} on a random {data['train_fraction']:.0%} of the {data['p'] ** 2} pairs "
        f"(tokens [a, b]); one block {'with pre-norm layer norms' if model['layer_norm'] else 'without layer norm'}, "
        f"width {model['width']}, {model['heads']} heads, MLP width {model['mlp_width']}, "
        f"{'tied' if model['tied'] else 'untied'} embeddings; " + schedule_in_words(config)
    )


def cnn_in_words(config: dict) -> str:
    """The CNN's data and shape, from its settings, for a caption."""
    channels = config["model"]["channels"]
    return (
        f"split seed {config['split_seed']}; 3x3 convolutions with {channels[0]} and "
        f"{channels[1]} channels (the second with stride 2), ReLU, a linear head; " + schedule_in_words(config)
    )


def render_fig12(table_path: str | os.PathLike, history_path: str | os.PathLike, out: str | os.PathLike) -> None:
    """Draw Figure 12 (the transformer's decay runs) to ``out``, with its caption."""
    render(
        table_path,
        history_path,
        out,
        TRANSFORMER_NAMES,
        transformer_in_words,
        notes="E: token embedding (acting on one-hot tokens), U: unembedding; relations summed over the two "
        "positions. The position embedding (shared "
        "by every sample) has no per-sample relations.",
        about="Figure 12 (beyond the paper): a one-block transformer trained with weight decay until it groks "
        "modular addition.",
    )


def render_fig13(table_path: str | os.PathLike, history_path: str | os.PathLike, out: str | os.PathLike) -> None:
    """Draw Figure 13 (the CNN's decay runs) to ``out``, with its caption."""
    render(
        table_path,
        history_path,
        out,
        CNN_NAMES,
        cnn_in_words,
        notes="A convolution's matrix acts on its patches (out x in·3·3); its relations are summed over positions.",
        about="Figure 13 (beyond the paper): a small CNN trained with weight decay on images.",
    )


def render(table_path, history_path, out, names: dict[str, str], in_words, notes: str, about: str) -> None:
    """Both figures: one column per optimiser; top, every matrix at the last step; bottom, over training.
    ``names`` maps layer names to those drawn, ``in_words`` a run's settings to words for the caption."""
    style.apply()
    table, history = read_parquet(table_path), read_parquet(history_path)
    relations = forward_relations(table)
    optimisers = [name for name in OPTIMISER_NAMES if name in set(relations.optimiser)]
    figure, axes = plt.subplots(2, len(optimisers), figsize=(4.2 * len(optimisers), 6.6), squeeze=False)
    for column, optimiser in enumerate(optimisers):
        rows = relations[relations.optimiser == optimiser]
        final_step = rows.step.max()
        draw_final(axes[0, column], rows[rows.step == final_step], names)
        axes[0, column].set_title(f"{OPTIMISER_NAMES[optimiser]}: step {final_step}", pad=4)
        draw_training(axes[1, column], rows, history[history.optimiser == optimiser])
    figure.subplots_adjust(hspace=0.75, wspace=0.3, bottom=0.2, top=0.9)
    for row, height in ((0, 0.995), (1, 0.525)):  # each row's legend above it, clear of the data
        handles, labels = axes[row, 0].get_legend_handles_labels()
        figure.legend(
            handles, labels, loc="upper center", bbox_to_anchor=(0.5, height), ncol=4, fontsize=6.5, frameon=False
        )

    trained_with = read_parquet_metadata(history_path)["trained_with"]
    runs = {config["train"]["optimiser"]: config for config in trained_with}
    finals = history[history.step == history.step.max()].groupby("optimiser")[["test_accuracy", "gradient_norm"]].mean()
    per_run = "; ".join(
        f"{name}: lr {runs[name]['train']['lr']:g}, λ = {runs[name]['objective']['weight_decay']:g}, "
        f"final test accuracy {finals.test_accuracy[name]:.3f}, "
        f"‖∇ of the L2 objective‖ = {finals.gradient_norm[name]:.1e}"
        for name in optimisers
    )
    shared = "; ".join(sorted({in_words(config) for config in trained_with}))
    if "dataset" in history:  # image runs: the dataset is a run's own setting, not a shared one
        shared = f"{', '.join(sorted(history.dataset.unique()))} ({shared})"
    style.caption(
        figure,
        f"Scale: {table.scale.iloc[0]}. {shared}. {per_run}. Mean over "
        f"{history.seed.nunique()} seed(s); matrices on the training data. "
        "Under each name: the stationarity error ‖∇_W L̄ + λW‖ / ‖λW‖ at the last step (0 at a critical "
        "point). " + notes + " Every setting chosen here (not in the paper).",
    )
    style.save(
        figure,
        out,
        about=about + " Top: Pearson (bars) and Spearman (dots) correlation of each weight "
        "matrix's WᵀW with FACT, AGOP^½ (NFA) and eNFA at the last step. Bottom: FACT's and the NFA's "
        "correlation over training, beside train and test accuracy. Adam with L2 decay in the objective "
        "converges to a critical point, where FACT must hold; AdamW's fixed points are not critical points. "
        "Correlations do not see FACT's scale: a high correlation with a stationarity error near 1 means the "
        "gradient is proportional to −W with another constant than λ.",
    )
