"""Figures 5 and 6: grokking modular addition with NFA-RFM and FACT-RFM'."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fact.experiments.analysis import fit_through_origin
from fact.experiments.io import load_torch, read_parquet
from fact.experiments.plots import style


def _load(paths) -> tuple[pd.DataFrame, dict]:
    """The tidy rows of every fit, and each fit's saved matrices keyed by (run, seed)."""
    table = pd.concat([read_parquet(p) for p in paths if str(p).endswith(".parquet")], ignore_index=True)
    saved = {}
    for path in paths:
        if str(path).endswith(".pt"):
            run = load_torch(path)
            saved[run["settings"]["run"], run["settings"]["seed"]] = run
    return table, saved


def _seeds(saved: dict) -> list[int]:
    return sorted({seed for _, seed in saved})


def _update(run: dict) -> str:
    return run["settings"]["method"]["update"]


def _label(run: dict) -> str:
    """The method's name, e.g. FACT-RFM'."""
    return style.METHOD_LABELS.get(_update(run), _update(run))


def _kernel_text(kernel: dict) -> str:
    if kernel["name"] in ("laplace", "gaussian"):
        return (
            f"{kernel['name']} kernel, bandwidth {kernel['bandwidth']:g} "
            f"(convention {kernel.get('gaussian_convention', '2L^2')})"
        )
    return {"quadratic": "kernel (x^T M z)^2", "exp_inner": "kernel exp(x^T M z)"}[kernel["name"]]


def _caption(saved: dict, scale: str) -> str:
    first = next(iter(saved.values()))["settings"]
    one_per_run = {name: run for (name, _), run in saved.items()}
    runs = "; ".join(
        f"{_label(run)}: {_kernel_text(run['settings']['kernel'])} (chosen here: docs/paper-settings.md), "
        f"{run['settings']['iters']} iterations, " + ", ".join(f"{k}={v}" for k, v in run["settings"]["method"].items())
        for run in one_per_run.values()
    )
    seeds = ", ".join(str(seed) for seed in _seeds(saved))
    return (
        f"Scale: {scale}. (a + b) mod {first['p']}, x = e_a ⊕ e_b, one-hot targets, random "
        f"{first['train_fraction']:.0%} train split (split seeds {seeds}), ridge {first['reg']:g}. {runs}."
    )


def _final_test_accuracy(table: pd.DataFrame, name: str, seed: int) -> tuple[int, float]:
    rows = table[(table.run == name) & (table.seed == seed)]
    last = rows.iteration.max()
    return last, rows.query("split == 'test' and metric == 'accuracy' and iteration == @last").value.iloc[0]


def render_fig5(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """Final feature matrices (off-diagonal block) and the delayed rise of test accuracy."""
    style.apply()
    table, saved = _load(paths)
    seeds = _seeds(saved)
    shown = {name: run for (name, seed), run in saved.items() if seed == seeds[0]}  # heat maps: the first seed
    figure, axes = plt.subplots(1, 4, figsize=(10.0, 2.9), gridspec_kw={"width_ratios": [1, 1, 1.3, 1.3]})
    _final_matrices(axes[:2], shown, table, seeds)
    _curves(axes[2], axes[3], table, saved, seeds)
    several = len(seeds) > 1
    figure.subplots_adjust(bottom=0.3, wspace=0.5)
    finals = "; ".join(
        f"{_label(shown[name])}: " + ", ".join(f"{_final_test_accuracy(table, name, seed)[1]:.4f}" for seed in seeds)
        for name in shown
    )
    style.caption(
        figure,
        _caption(saved, table.scale.iloc[0])
        + (f" One line per split seed; final test accuracy per seed: {finals}." if several else "")
        + " Heat maps: the block of the final M coupling the two one-hot halves, scaled by its largest entry"
        + (f" (seed {seeds[0]})." if several else "."),
    )
    style.save(
        figure,
        out,
        about="Figure 5: NFA-RFM and FACT-RFM' on modular addition: train and test accuracy "
        "over the iterations, and the final feature matrices.",
    )


def _final_matrices(axes, shown: dict, table, seeds: list) -> None:
    """The block of each run's final M coupling the two one-hot halves, titled with its test accuracy."""
    for axis, (name, run) in zip(axes, shown.items()):
        p = run["settings"]["p"]
        M = run["matrices"][-1].numpy()
        block = M[p:, :p]
        axis.imshow(block / np.abs(block).max(), cmap="RdBu_r", vmin=-1, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
        last, accuracy = _final_test_accuracy(table, name, seeds[0])
        axis.set_title(
            f"{_label(run)}: M[b, a] block\niteration {last}, test acc {accuracy:.4f}"
            + (f", seed {seeds[0]}" if len(seeds) > 1 else ""),
            fontsize=7,
        )


def _curves(accuracy_axis, deviation_axis, table, saved: dict, seeds: list) -> None:
    """Train and test accuracy, and M's circulant deviation, over the iterations: one line per run and seed."""
    several = len(seeds) > 1
    for (name, seed), rows in table.groupby(["run", "seed"], sort=False):
        colour = style.METHOD_COLOURS.get(_update(saved[name, seed]))
        label = _label(saved[name, seed])
        first = seed == seeds[0]  # one legend entry per method, one line per seed
        for split, line in (("test", "-"), ("train", ":")):
            curve = rows.query("split == @split and metric == 'accuracy'").sort_values("iteration")
            accuracy_axis.plot(
                curve.iteration,
                curve.value,
                line,
                color=colour,
                lw=0.8 if several else 1.5,
                label=f"{label} {split}" if first else None,
            )
        deviation = rows.query("metric == 'circulant_deviation'").sort_values("iteration")
        deviation_axis.plot(
            deviation.iteration,
            deviation.value,
            color=colour,
            lw=0.8 if several else 1.5,
            label=label if first else None,
        )
    accuracy_axis.set(xlabel="RFM iteration", ylabel="accuracy", ylim=(-0.02, 1.02))
    accuracy_axis.legend(fontsize=6)
    deviation_axis.set(xlabel="RFM iteration", ylabel="circulant deviation of M[b, a]", ylim=(0, None))


def render_fig6(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """tau(x_i, M, x_j) against k'(x_i^T M x_j) at the final M, with the best line through the origin."""
    style.apply()
    table, saved = _load(paths)
    fits = {key: run for key, run in saved.items() if "tau" in run}
    if not fits:
        raise ValueError(
            "Figure 6 needs runs with an inner-product kernel (quadratic or exp_inner); "
            "list one under modular.fig6 in config.yaml"
        )
    names = list(dict.fromkeys(name for name, _ in fits))
    # at least 6.5 inches wide: the caption wraps at the figure's width and must fit under the axes
    figure, axes = plt.subplots(1, len(names), figsize=(max(3.4 * len(names), 6.5), 3.6), squeeze=False)
    per_seed = []
    for axis, name in zip(axes[0], names):
        runs = {seed: run for (run_name, seed), run in fits.items() if run_name == name}
        x = np.concatenate([run["k_prime"].numpy() for run in runs.values()])
        y = np.concatenate([run["tau"].numpy() for run in runs.values()])
        run = next(iter(runs.values()))
        slope, r2 = fit_through_origin(x, y)
        axis.scatter(x, y, s=2, alpha=0.3, color=style.METHOD_COLOURS.get(_update(run)), rasterized=True)
        grid = np.linspace(min(0.0, x.min()), x.max(), 50)
        axis.plot(grid, slope * grid, color="black", lw=1, label=f"τ = {slope:.3g} k′,  R² = {r2:.3f}")
        axis.set(
            xlabel="k′(x_iᵀ M x_j)",
            ylabel="τ(x_i, M, x_j)",
            title=f"{_label(run)}, {_kernel_text(run['settings']['kernel'])}",
        )
        axis.legend(fontsize=7, loc="upper left")
        if len(runs) > 1:
            per_seed.append(
                f"{_label(run)}: "
                + ", ".join(
                    f"{fit_through_origin(r['k_prime'].numpy(), r['tau'].numpy())[1]:.3f} (seed {seed})"
                    for seed, r in sorted(runs.items())
                )
            )
    figure.subplots_adjust(bottom=0.34, wspace=0.3)
    pairs = len(next(iter(fits.values()))["tau"])
    style.caption(
        figure,
        _caption(saved, table.scale.iloc[0])
        + f" {pairs} random pairs of training points per split seed at the final M, pooled; line fitted "
        "through the origin." + (f" R² per seed: {'; '.join(per_seed)}." if per_seed else ""),
    )
    style.save(
        figure,
        out,
        about="Figure 6: for FACT-RFM' with an inner-product kernel, the NFA-RFM weight "
        "τ(x_i, M, x_j) against the FACT-RFM weight k'(x_iᵀ M x_j) over pairs of training points, with the "
        "least-squares line through the origin (Proposition 5.1).",
    )
