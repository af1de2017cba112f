"""Figures 5 and 6: grokking modular addition with NFA-RFM and FACT-RFM'."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fact.io import load_torch
from fact.plots import style
from fact.plots.parity import METHOD_COLOURS, METHOD_LABELS


def _load(paths) -> tuple[pd.DataFrame, dict]:
    table = pd.concat([pd.read_parquet(p) for p in paths if str(p).endswith(".parquet")], ignore_index=True)
    saved = {}
    for path in paths:
        if str(path).endswith(".pt"):
            run = load_torch(path)
            saved[run["settings"]["method"]] = run
    return table, saved


def _caption(saved: dict, scale: str) -> str:
    first = next(iter(saved.values()))["settings"]
    kernel = first["kernel"]
    methods = "; ".join(f"{METHOD_LABELS.get(m, m)}: " + ", ".join(f"{k}={v}" for k, v in run["settings"]["options"].items())
                        for m, run in saved.items())
    return (f"Scale: {scale}. (a + b) mod {first['p']}, x = e_a ⊕ e_b, one-hot targets, random "
            f"{first['train_fraction']:.0%} train split (seed {first['seed']}). Kernel {kernel['name']} "
            f"(chosen here, spec A6), ridge {first['reg']:g}, {first['iters']} iterations; {methods}.")


def fit_through_origin(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope of the least-squares line y = slope x and its R^2 = 1 - SS_res / SS_tot (centred)."""
    slope = float((x * y).sum() / (x * x).sum())
    r2 = 1 - float(((y - slope * x) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    return slope, r2


def render_fig5(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """Final feature matrices (off-diagonal block) and the delayed rise of test accuracy."""
    style.apply()
    table, saved = _load(paths)
    figure, axes = plt.subplots(1, 4, figsize=(10.0, 2.9), gridspec_kw={"width_ratios": [1, 1, 1.3, 1.3]})
    for axis, (method, run) in zip(axes[:2], saved.items()):
        p = run["settings"]["p"]
        M = run["matrices"][-1].numpy()
        block = M[p:, :p]
        axis.imshow(block / np.abs(block).max(), cmap="RdBu_r", vmin=-1, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
        rows = table[table.method == method]
        last = rows.iteration.max()
        accuracy = rows.query("split == 'test' and metric == 'accuracy' and iteration == @last").value.iloc[0]
        axis.set_title(f"{METHOD_LABELS.get(method, method)}: M[b, a] block\niteration {last}, test acc {accuracy:.3f}",
                       fontsize=7)
    accuracy_axis, deviation_axis = axes[2], axes[3]
    for method, rows in table.groupby("method", sort=False):
        colour = METHOD_COLOURS.get(method)
        label = METHOD_LABELS.get(method, method)
        for split, line in (("test", "-"), ("train", ":")):
            curve = rows.query("split == @split and metric == 'accuracy'").sort_values("iteration")
            accuracy_axis.plot(curve.iteration, curve.value, line, color=colour, label=f"{label} {split}")
        deviation = rows.query("metric == 'circulant_deviation'").sort_values("iteration")
        deviation_axis.plot(deviation.iteration, deviation.value, color=colour, label=label)
    accuracy_axis.set(xlabel="RFM iteration", ylabel="accuracy", ylim=(-0.02, 1.02))
    accuracy_axis.legend(fontsize=6)
    deviation_axis.set(xlabel="RFM iteration", ylabel="circulant deviation of M[b, a]", ylim=(0, None))
    figure.subplots_adjust(bottom=0.3, wspace=0.5)
    style.caption(figure, _caption(saved, table.scale.iloc[0]) +
                  " Heat maps: the block of the final M coupling the two one-hot halves, scaled by its largest entry.")
    style.save(figure, out)


def render_fig6(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """tau(x_i, M, x_j) against k'(x_i^T M x_j) at the final M, with the best line through the origin."""
    style.apply()
    table, saved = _load(paths)
    runs = {m: r for m, r in saved.items() if "tau" in r}
    figure, axes = plt.subplots(1, len(runs), figsize=(3.4 * len(runs), 3.2), squeeze=False)
    for axis, (method, run) in zip(axes[0], runs.items()):
        x, y = run["k_prime"].numpy(), run["tau"].numpy()
        slope, r2 = fit_through_origin(x, y)
        axis.scatter(x, y, s=2, alpha=0.3, color=METHOD_COLOURS.get(method), rasterized=True)
        grid = np.linspace(min(0.0, x.min()), x.max(), 50)
        axis.plot(grid, slope * grid, color="black", lw=1, label=f"τ = {slope:.3g} k′,  R² = {r2:.3f}")
        axis.set(xlabel="k′(x_iᵀ M x_j)", ylabel="τ(x_i, M, x_j)", title=METHOD_LABELS.get(method, method))
        axis.legend(fontsize=7, loc="upper left")
    figure.subplots_adjust(bottom=0.3, wspace=0.3)
    pairs = len(next(iter(runs.values()))["tau"])
    style.caption(figure, _caption(saved, table.scale.iloc[0]) +
                  f" {pairs} random pairs of training points at the final M; line fitted through the origin.")
    style.save(figure, out)
