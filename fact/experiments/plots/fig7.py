"""Figure 7: on the adversarial quadratic task FACT matches W^T W while no power of the AGOP does."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np

from fact.experiments.io import load_torch, read_parquet
from fact.experiments.plots import style
from fact.features.linalg import sym_power
from fact.features.names import Relation, relation_label


def render(table_path: str | os.PathLike, matrices_path: str | os.PathLike, out: str | os.PathLike) -> None:
    """Heat maps of W^T W, FACT and AGOP^s for one seed, and the cosine similarity of W^T W with FACT, the eNFA
    and AGOP^s against the NFA power."""
    style.apply()
    table = read_parquet(table_path)
    saved = load_torch(matrices_path)
    config, scale = saved["trained_with"][0], saved["settings"]["scale"]
    hidden = table[(table.layer == "hidden") & (table.side == "forward")]
    seeds = sorted(hidden.seed.unique())
    example = saved["matrices"][seeds[0]]

    figure = plt.figure(figsize=(7.5, 3.3))
    # Column 4 is an empty spacer that keeps the line plot's axis label clear of the heat maps.
    grid = figure.add_gridspec(
        1, 6, width_ratios=[1, 1, 1, 1, 0.35, 2.0], left=0.03, right=0.99, bottom=0.34, top=0.9, wspace=0.3
    )
    _heat_maps(figure, grid, example)
    _cosines(figure.add_subplot(grid[0, 5]), hidden)

    data, train = config["data"], config["train"]
    reached = _training_end(train, hidden)
    style.caption(
        figure,
        (
            f"Scale: {scale}. Two-layer quadratic network, width {config['model']['width']}, trained on the exact "
            f"population of the adversarial mixture (d = 4): Unif({{±1}}^4) with p = {data['hypercube_weight']:g}, "
            f"else Unif({{±{data['spike_scale']:g}}}^2 × {{0}}^2); target f*(x) = {data['epsilon']:g}·x1x2 + x3x4 "
            f"(constants chosen here, unknown in the paper). Weight decay λ = {config['objective']['weight_decay']:g}; "
            f"Adam, lr {train['lr']:g}, {train['steps']} steps with cosine decay, {reached}. "
            f"Heat maps: seed {seeds[0]}, each scaled by its "
            f"largest entry. Right: mean and range over seeds {', '.join(map(str, seeds))}."
        ),
    )
    style.save(
        figure,
        out,
        about="Figure 7: the adversarial two-layer quadratic network of Section 6, trained with "
        "weight decay: cosine similarity of WᵀW with FACT, the eNFA and AGOP^s for several powers s, and the "
        "matrices themselves.",
    )


def _heat_maps(figure, grid, example: dict) -> None:
    """W^T W, FACT, AGOP^1/2 and AGOP of one seed, each scaled by its largest entry."""
    panels = [
        ("$W^\\top W$", example["wtw"]),
        ("FACT", example["fact"]),
        ("AGOP$^{1/2}$", sym_power(example["agop"], 0.5)),
        ("AGOP", example["agop"]),
    ]
    for column, (title, matrix) in enumerate(panels):
        axis = figure.add_subplot(grid[0, column])
        values = matrix.numpy()
        limit = np.abs(values).max() or 1.0
        axis.imshow(values / limit, cmap="RdBu_r", vmin=-1, vmax=1)
        axis.set_xticks(range(4), labels=range(1, 5))
        axis.set_yticks(range(4), labels=range(1, 5))
        axis.grid(False)
        axis.set_title(title)


def _cosines(axis, hidden) -> None:
    """Cosine of W^T W with AGOP^s against s, and with FACT and the eNFA, over seeds (mean and range)."""
    nfa = hidden[hidden.relation == Relation.NFA].groupby("power").cosine.agg(["mean", "min", "max"]).reset_index()
    axis.plot(nfa.power, nfa["mean"], "o-", color=style.RELATION_COLOURS["nfa"], label="NFA: AGOP$^s$")
    axis.fill_between(nfa.power, nfa["min"], nfa["max"], color=style.RELATION_COLOURS["nfa"], alpha=0.2, lw=0)
    for relation, line in ((Relation.FACT, "-"), (Relation.ENFA, "--")):
        cosine = hidden[hidden.relation == relation].cosine
        colour = style.RELATION_COLOURS[relation]
        label = f"{relation_label(relation)} ({cosine.mean():.3f})"
        axis.axhline(cosine.mean(), color=colour, linestyle=line, label=label)
        axis.axhspan(cosine.min(), cosine.max(), color=colour, alpha=0.2, lw=0)
    axis.set_xscale("log", base=2)
    axis.set_xticks(nfa.power, labels=[f"{p:g}" for p in nfa.power])
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("NFA power $s$")
    axis.set_ylabel("cosine similarity with $W^\\top W$")
    axis.legend(loc="center right", fontsize=7, frameon=True)


def _training_end(train: dict, hidden) -> str:
    """How training ended, for the caption: the polish and how close to a critical point it came."""
    polish = {"lbfgs+newton": "L-BFGS and Newton", "newton": "Newton", "lbfgs": "L-BFGS"}.get(train["polish"])
    reached = (
        f"then {polish} to a critical point (largest final gradient norm {hidden.grad_norm.max():.1e}, "
        f"smallest Hessian eigenvalue {hidden.hessian_min_eigenvalue.min():.1e})"
        if polish
        else f"no polishing (largest final gradient norm {hidden.grad_norm.max():.1e})"
    )
    return reached
