"""Figure 1: a schematic of FACT's setting, drawn by code so it rebuilds like the other figures."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from fact.experiments.plots import style

ABOUT = (
    "Figure 1: the setting of FACT. A weight matrix W receives the input h_i of sample i; the loss gradient "
    "flows back to h_i; at a critical point of the weight-decayed objective, WᵀW equals "
    "-(1/(nλ)) Σ_i ∇_{h_i} loss_i h_iᵀ."
)


def _box(axis, x, y, text, colour, width=1.5, height=0.7):
    axis.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.08",
            facecolor=colour,
            edgecolor="black",
            lw=0.8,
        )
    )
    axis.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(axis, start, end, colour="black", text=None, offset=(0, 0.25), style="-|>", ls="-", bend=0.0):
    axis.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=10,
            color=colour,
            lw=1.1,
            ls=ls,
            connectionstyle=f"arc3,rad={bend}",
        )
    )
    if text:
        axis.text(
            (start[0] + end[0]) / 2 + offset[0],
            (start[1] + end[1]) / 2 + offset[1],
            text,
            ha="center",
            va="center",
            fontsize=8,
            color=colour,
        )


def render(*paths: str | os.PathLike, out: str | os.PathLike) -> None:
    """No inputs: the schematic depends on nothing but this file."""
    style.apply()
    figure, axis = plt.subplots(figsize=(7.0, 3.0))
    axis.set(xlim=(0, 10), ylim=(0, 4.2))
    axis.axis("off")
    forward, backward = "#2166ac", "#b2182b"
    _box(axis, 1.0, 2.8, "input $x_i$", "#f7f7f7", width=1.3)
    _box(axis, 3.1, 2.8, "earlier\nlayers", "#f7f7f7", width=1.3)
    _box(axis, 5.3, 2.8, "weight $W$", "#fddbc7", width=1.3)
    _box(axis, 7.4, 2.8, "later\nlayers", "#f7f7f7", width=1.3)
    _box(axis, 9.2, 2.8, r"loss $\ell_i$", "#f7f7f7", width=1.1)
    _arrow(axis, (1.65, 2.8), (2.45, 2.8), forward)
    _arrow(axis, (3.75, 2.8), (4.65, 2.8), forward, r"$h_i$")
    _arrow(axis, (5.95, 2.8), (6.75, 2.8), forward, r"$W h_i$")
    _arrow(axis, (8.05, 2.8), (8.65, 2.8), forward)
    _arrow(axis, (9.2, 2.35), (4.2, 2.6), backward, ls="--", bend=-0.25)
    axis.text(
        6.7,
        1.45,
        r"$\nabla_{h_i}\ell_i$: the loss gradient, back at the input of $W$",
        ha="center",
        fontsize=8,
        color=backward,
    )
    axis.text(
        5.0,
        0.65,
        r"FACT:   $W^\top W \;=\; -\dfrac{1}{n\lambda}\sum_{i=1}^{n} \nabla_{h_i}\ell_i\; h_i^\top$",
        ha="center",
        va="center",
        fontsize=12,
    )
    axis.text(
        5.0,
        4.0,
        r"at a critical point of $\frac{1}{n}\sum_i \ell_i + \frac{\lambda}{2}\|\theta\|^2$, "
        "for every weight matrix $W$",
        ha="center",
        fontsize=9,
    )
    style.save(figure, out, about=ABOUT)
