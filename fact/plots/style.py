"""The one shared look of every figure, and byte-stable PDF output."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # figures are built headless, on clusters too
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

# Colours of the relations, the same in every figure.
RELATION_COLOURS = {
    "fact": "#1b9e77",
    "fact_sqrt": "#66a61e",
    "nfa": "#d95f02",
    "enfa": "#7570b3",
}


def apply() -> None:
    """Seaborn's paper context with embedded TrueType fonts."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.0)
    plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42, "figure.dpi": 150,
                         "savefig.bbox": "tight", "axes.titlesize": 9, "axes.labelsize": 9})


def save(figure, path: str | os.PathLike) -> None:
    """Save as vector PDF without a creation date, so a rerun writes the same bytes."""
    from fact.io import atomic_path

    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="pdf", metadata={"CreationDate": None})
    plt.close(figure)


def caption(figure, text: str) -> None:
    """A small caption under the axes, for settings the reader must know (scale, data, choices)."""
    figure.text(0.01, 0.02, text, ha="left", va="bottom", fontsize=6.5, wrap=True)
