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
            saved[run["settings"]["run"]] = run
    return table, saved


def _update(run: dict) -> str:
    return run["settings"]["options"]["update"]


def _label(run: dict) -> str:
    """The method's name, e.g. FACT-RFM'."""
    return METHOD_LABELS.get(_update(run), _update(run))


def _kernel_text(kernel: dict) -> str:
    if kernel["name"] in ("laplace", "gaussian"):
        return (f"{kernel['name']} kernel, bandwidth {kernel['bandwidth']:g} "
                f"(convention {kernel.get('gaussian_convention', '2L^2')})")
    return {"quadratic": "kernel (x^T M z)^2", "exp_inner": "kernel exp(x^T M z)"}[kernel["name"]]


def _caption(saved: dict, scale: str) -> str:
    first = next(iter(saved.values()))["settings"]
    runs = "; ".join(f"{_label(run)}: {_kernel_text(run['settings']['kernel'])} (chosen here, spec A6), "
                     f"{run['settings']['iters']} iterations, "
                     + ", ".join(f"{k}={v}" for k, v in run["settings"]["options"].items())
                     for run in saved.values())
    return (f"Scale: {scale}. (a + b) mod {first['p']}, x = e_a ⊕ e_b, one-hot targets, random "
            f"{first['train_fraction']:.0%} train split (seed {first['seed']}), ridge {first['reg']:g}. {runs}.")


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
    for axis, (name, run) in zip(axes[:2], saved.items()):
        p = run["settings"]["p"]
        M = run["matrices"][-1].numpy()
        block = M[p:, :p]
        axis.imshow(block / np.abs(block).max(), cmap="RdBu_r", vmin=-1, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
        rows = table[table.run == name]
        last = rows.iteration.max()
        accuracy = rows.query("split == 'test' and metric == 'accuracy' and iteration == @last").value.iloc[0]
        axis.set_title(f"{_label(run)}: M[b, a] block\niteration {last}, test acc {accuracy:.4f}", fontsize=7)
    accuracy_axis, deviation_axis = axes[2], axes[3]
    for name, rows in table.groupby("run", sort=False):
        colour = METHOD_COLOURS.get(_update(saved[name]))
        label = _label(saved[name])
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
    runs = {name: run for name, run in saved.items() if "tau" in run}
    if not runs:
        raise ValueError("Figure 6 needs runs with an inner-product kernel (quadratic or exp_inner); "
                         "list one under modular.fig6 in config.yaml")
    figure, axes = plt.subplots(1, len(runs), figsize=(3.4 * len(runs), 3.2), squeeze=False)
    for axis, run in zip(axes[0], runs.values()):
        x, y = run["k_prime"].numpy(), run["tau"].numpy()
        slope, r2 = fit_through_origin(x, y)
        axis.scatter(x, y, s=2, alpha=0.3, color=METHOD_COLOURS.get(_update(run)), rasterized=True)
        grid = np.linspace(min(0.0, x.min()), x.max(), 50)
        axis.plot(grid, slope * grid, color="black", lw=1, label=f"τ = {slope:.3g} k′,  R² = {r2:.3f}")
        axis.set(xlabel="k′(x_iᵀ M x_j)", ylabel="τ(x_i, M, x_j)",
                 title=f"{_label(run)}, {_kernel_text(run['settings']['kernel'])}")
        axis.legend(fontsize=7, loc="upper left")
    figure.subplots_adjust(bottom=0.3, wspace=0.3)
    pairs = len(next(iter(runs.values()))["tau"])
    style.caption(figure, _caption(saved, table.scale.iloc[0]) +
                  f" {pairs} random pairs of training points at the final M; line fitted through the origin.")
    style.save(figure, out)
