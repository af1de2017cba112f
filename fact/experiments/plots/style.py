"""The one shared look of every figure, byte-stable PDF output, and each figure's report caption."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are built headless, on clusters too
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

# One colour per relation and per method, the same in every figure (their labels: fact.features.names). A
# backward relation (W W^T side) takes the colour of its forward twin.
RELATION_COLOURS = {
    "fact": "#1b9e77",
    "fact_sqrt": "#66a61e",
    "nfa": "#d95f02",
    "enfa": "#7570b3",
}
RELATION_COLOURS.update(
    bfact=RELATION_COLOURS["fact"],
    bfact_sqrt=RELATION_COLOURS["fact_sqrt"],
    bnfa=RELATION_COLOURS["nfa"],
    benfa=RELATION_COLOURS["enfa"],
)
STATIONARITY_COLOUR = "#555555"  # a weight's stationarity error, wherever it is drawn

# RFM methods: FACT-RFM' is the FACT relation itself, FACT-RFM its square-root form.
METHOD_COLOURS = {
    "nfa": RELATION_COLOURS["nfa"],
    "fact": RELATION_COLOURS["fact_sqrt"],
    "fact_geom": RELATION_COLOURS["fact"],
    "laplace": "#666666",
}
METHOD_LABELS = {"nfa": "NFA-RFM", "fact": "FACT-RFM", "fact_geom": "FACT-RFM'", "laplace": "Laplace kernel regression"}


def log_axis(axis, values) -> None:
    """A log y axis spanning ``values`` and at least a decade, its ticks written as plain numbers (0.1, not 10⁻¹)."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    finite = [v for v in values if np.isfinite(v) and v > 0]
    low, high = min(finite), max(finite)
    centre = np.sqrt(low * high)
    low, high = min(low / 1.5, centre / np.sqrt(10)), max(high * 1.5, centre * np.sqrt(10))
    axis.set_yscale("log")
    axis.set_ylim(low, high)
    subs = (1.0, 2.0, 5.0) if high / low <= 300 else (1.0,)  # over wider spans, powers of 10 only
    axis.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=6))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.yaxis.set_minor_formatter(NullFormatter())


def apply() -> None:
    """Seaborn's paper context with embedded TrueType fonts."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.0)
    plt.rcParams.update(
        {
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "figure.dpi": 150,
            "savefig.bbox": "tight",
            "axes.titlesize": 9,
            "axes.labelsize": 9,
        }
    )


def save(figure, path: str | os.PathLike, about: str) -> None:
    """Save as vector PDF without a creation date, so a rerun writes the same bytes; beside it,
    ``<name>.caption.rst``, the caption of the HTML report: ``about`` (what the figure shows, true
    of every run) and the caption drawn under the figure (the settings of this run, from its results)."""
    from fact.features.atomic import atomic_path

    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="pdf", metadata={"CreationDate": None})
    with atomic_path(caption_path(path)) as temporary:
        temporary.write_text(report_caption(about, getattr(figure, "fact_caption", "")), encoding="utf-8")
    plt.close(figure)


def caption(figure, text: str) -> None:
    """A small caption under the axes, for settings the reader must know (scale, data, choices)."""
    figure.text(0.01, 0.02, text, ha="left", va="bottom", fontsize=6.5, wrap=True)
    figure.fact_caption = text  # repeated in the report caption by save()


def caption_path(path: str | os.PathLike) -> Path:
    """figures/quick/fig7.pdf -> figures/quick/fig7.caption.rst"""
    return Path(path).with_suffix(".caption.rst")


def report_caption(about: str, details: str) -> str:
    """reStructuredText for Snakemake's report, with what rst or its Jinja templating would read as markup escaped."""
    text = f"{about}\n\n{details}".strip() + "\n"
    for character in ("\\", "*", "`", "|", "_"):
        text = text.replace(character, "\\" + character)
    for opening in ("{{", "{%", "{#"):
        text = text.replace(opening, " ".join(opening))
    return text
