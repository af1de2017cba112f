"""Figures 3 and 4: sparse parities learned by NFA-RFM and FACT-RFM'."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fact.experiments.io import load_torch, read_parquet
from fact.experiments.plots import style


def _split(paths) -> tuple[pd.DataFrame, list[dict]]:
    tables = [read_parquet(p) for p in paths if str(p).endswith(".parquet")]
    saved = [load_torch(p) for p in paths if str(p).endswith(".pt")]
    return pd.concat(tables, ignore_index=True), saved


def _settings_caption(settings: dict, scale: str) -> str:
    kernel = settings["kernel"]
    methods = "; ".join(
        f"{style.METHOD_LABELS.get(m, m)}: " + ", ".join(f"{k}={v}" for k, v in o.items())
        for m, o in settings["methods"].items()
    )
    return (
        f"Scale: {scale}. x ~ Unif({{±1}}^{settings['d']}), y = 1 if the product over a random support of size k is "
        f"positive. {kernel['name'].capitalize()} kernel, bandwidth {kernel['bandwidth']:g} "
        f"(convention {kernel.get('gaussian_convention', '2L^2')}), ridge {settings['reg']:g}, "
        f"{settings['iters']} iterations, {settings['n_test']} test points; {methods}."
    )


def render_fig3(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """The final feature matrix of each method for each support size k, support marked."""
    style.apply()
    table, saved = _split(paths)
    saved = sorted(saved, key=lambda s: (s["settings"]["k"], s["settings"]["seed"]))
    several_seeds = len({s["settings"]["seed"] for s in saved}) > 1
    methods = list(saved[0]["settings"]["methods"])
    figure, axes = plt.subplots(
        len(methods), len(saved), figsize=(2.3 * len(saved), 2.5 * len(methods) + 0.6), squeeze=False
    )
    for column, run in enumerate(saved):
        settings = run["settings"]
        support = run["matrices"]["support"].numpy()
        for row, method in enumerate(methods):
            M = run["matrices"][method][-1].numpy()
            axis = axes[row, column]
            axis.imshow(np.abs(M) / np.abs(M).max(), cmap="Greys", vmin=0, vmax=1)
            axis.scatter(support, np.full(len(support), -1.2), marker="v", color="crimson", s=12, clip_on=False)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.grid(False)
            rows = table[(table.k == settings["k"]) & (table.method == method) & (table.seed == settings["seed"])]
            last = rows[rows.iteration == rows.iteration.max()]
            accuracy = last.query("split == 'test' and metric == 'accuracy'").value.iloc[0]
            share = last.query("metric == 'support_share'").value.iloc[0]
            seed = f", seed {settings['seed']}" if several_seeds else ""
            axis.set_title(
                f"{style.METHOD_LABELS.get(method, method)}, k = {settings['k']}, n = {settings['n']}{seed}\n"
                f"test acc {accuracy:.3f}, diag on support {share:.2f}",
                fontsize=7,
            )
    figure.subplots_adjust(bottom=0.12, hspace=0.35)
    example = saved[0]["settings"]
    style.caption(
        figure,
        _settings_caption(example, table.scale.iloc[0])
        + " |M| after the last iteration, scaled by its largest entry; triangles mark the support. Seeds: "
        + ", ".join(str(seed) for seed in sorted({s["settings"]["seed"] for s in saved}))
        + ".",
    )
    style.save(
        figure,
        out,
        about="Figure 3: the feature matrices learned by NFA-RFM and FACT-RFM' (geometric "
        "averaging) on sparse parities of support size k.",
    )


def render_fig4(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """Test accuracy against iteration: the sharp jump of feature learning, over seeds."""
    style.apply()
    table, saved = _split(paths)
    settings = saved[0]["settings"]
    figure, (accuracy_axis, share_axis) = plt.subplots(1, 2, figsize=(7.0, 3.0))
    for method, rows in table.groupby("method", sort=False):
        colour = style.METHOD_COLOURS.get(method)
        for axis, split, metric in ((accuracy_axis, "test", "accuracy"), (share_axis, "features", "support_share")):
            curve = rows[(rows.split == split) & (rows.metric == metric)].groupby("iteration").value
            stats = curve.agg(["mean", "min", "max"])
            axis.plot(stats.index, stats["mean"], "o-", color=colour, label=style.METHOD_LABELS.get(method, method))
            axis.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.2, lw=0)
        train = rows.query("split == 'train' and metric == 'accuracy'").groupby("iteration").value.mean()
        accuracy_axis.plot(train.index, train.values, ":", color=colour, lw=1)
    accuracy_axis.set(xlabel="RFM iteration", ylabel="test accuracy (dotted: train)", ylim=(0.4, 1.02))
    share_axis.set(xlabel="RFM iteration", ylabel="share of diag(M) on the support", ylim=(0, 1.02))
    accuracy_axis.legend(fontsize=7)
    seeds = sorted(table.seed.unique())
    figure.subplots_adjust(bottom=0.33, wspace=0.3)
    style.caption(
        figure,
        _settings_caption(settings, table.scale.iloc[0])
        + f" k = {settings['k']}, n = {settings['n']}; mean and range over seeds {', '.join(map(str, seeds))}.",
    )
    style.save(
        figure, out, about="Figure 4: test accuracy of NFA-RFM and FACT-RFM' against RFM iteration on a sparse parity."
    )
