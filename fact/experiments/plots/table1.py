"""Table 1: mean 4-fold test accuracy of each method over the tabular datasets, beside the paper's.

Writes the table as Markdown, LaTeX and PDF (each with its caption and a per-dataset
appendix), and a figure comparing the methods dataset by dataset.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fact.experiments.analysis import TABLE1_PAPER, per_dataset
from fact.experiments.io import read_parquet, read_parquet_metadata
from fact.experiments.plots import style
from fact.features.atomic import atomic_path

SHORT_HEADERS = {"Laplace kernel regression": "Laplace KR"}


def load(paths) -> pd.DataFrame:
    """Every per-dataset Table 1 table, as one frame."""
    return pd.concat([read_parquet(path) for path in paths], ignore_index=True)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1's rows: each method's mean accuracy over the datasets, beside the paper's."""
    wide = per_dataset(table)
    rows = [
        {
            "method": style.METHOD_LABELS.get(m, m),
            "ours": wide[m].mean(),
            "paper": TABLE1_PAPER.get(m, np.nan),
            "datasets": int(wide[m].notna().sum()),
        }
        for m in wide.columns
    ]
    return pd.DataFrame(rows)


def protocol_settings(paths) -> dict:
    """The protocol the per-dataset tables were made with, and the datasets tried without row normalisation.

    Every table must come from the same settings (but for each dataset's normalisation choices),
    or the caption could not name them.
    """
    settings = {str(path): read_parquet_metadata(path)["settings"] for path in paths}
    shared = {path: {k: v for k, v in s.items() if k not in ("dataset", "normalise")} for path, s in settings.items()}
    first = next(iter(shared.values()))
    differing = [path for path, s in shared.items() if s != first]
    if differing:
        raise ValueError(
            f"the per-dataset tables were made with different settings ({differing[:3]} differ from "
            f"{next(iter(shared))}); rerun their jobs so that one table describes one protocol"
        )
    choices = [s["normalise"] for s in settings.values()]
    usual = max(choices, key=choices.count)
    without = sorted(s["dataset"] for s in settings.values() if s["normalise"] != usual)
    return {**first, "normalise": usual, "other_normalisation": without}


def _choices(values) -> str:
    return "{" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values) + "}"


def caption(table: pd.DataFrame, settings: dict) -> str:
    """What Table 1 shows and the protocol its results were made with."""
    scale, source = table.scale.iloc[0], table.source.iloc[0]
    unavailable = sorted(table[table.status == "unavailable"].dataset.unique())
    done = table[table.status == "ok"]
    solvers = ", ".join(f"{s}: {n}" for s, n in done.groupby("solver").dataset.nunique().items())
    collection = (
        "the UCI-121 collection (Fernández-Delgado et al. 2014) with its own validation split and 4 folds"
        if source == "uci121"
        else "scikit-learn's bundled sets (not the paper's collection), seeded validation split and 4 folds"
    )
    features = (
        "the feature matrix learned on the validation split's training rows is reused on every fold, as in the "
        "reference code (fold test rows may have shaped it)"
        if table.fold_features.iloc[0] == "validation"
        else "the feature matrix is relearned on each fold's training rows"
    )
    kernel = settings["kernel"]
    normalisation = {(True, False): "on/off", (False, True): "on/off", (True,): "on", (False,): "off"}[
        tuple(settings["normalise"])
    ]
    if settings["other_normalisation"]:
        normalisation += f" (only the other for {', '.join(settings['other_normalisation'])})"
    bandwidth = f" with bandwidth {kernel['bandwidth']:g}" if "bandwidth" in kernel else ""
    text = (
        f"Scale: {scale}. Mean 4-fold test accuracy (%) over {done.dataset.nunique()} datasets of {collection}. "
        f"Hyperparameters chosen on the validation split: ridge in {_choices(settings['regs'])}, row normalisation "
        f"{normalisation}, RFM iterations 0-{settings['iters']} (best kept), {kernel['name'].capitalize()} kernel"
        f"{bandwidth}, {settings['dtype']}; {features}. "
        "Paper column: which FACT-RFM variant is which is uncertain (docs/paper-settings.md). "
        f"Solvers (datasets): {solvers}."
    )
    if unavailable:
        text += f" Unavailable, left out: {', '.join(unavailable)}."
    return text


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return header + "".join("| " + " | ".join(_cell(v) for v in row) + " |\n" for row in frame.itertuples(index=False))


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.2f}"
    return str(value)


def render(*paths: str | os.PathLike, markdown, latex, pdf, scatter) -> None:
    """Write Table 1 as Markdown, LaTeX and PDF, and the per-dataset comparison figure."""
    table = load(paths)
    main, wide, text = summary(table), per_dataset(table), caption(table, protocol_settings(paths))
    appendix = wide.reset_index().rename(columns={m: style.METHOD_LABELS.get(m, m) for m in wide.columns})
    solvers = table[table.status == "ok"].groupby("dataset").solver.agg(lambda s: ", ".join(sorted(set(s))))
    appendix["n"] = appendix.dataset.map(table.groupby("dataset").n.first()).astype("Int64")
    appendix["solver"] = appendix.dataset.map(solvers)

    with atomic_path(markdown) as temporary, open(temporary, "w") as out:
        out.write("# Table 1\n\n" + _markdown(main) + "\n" + text + "\n\n## Per dataset\n\n" + _markdown(appendix))
    with atomic_path(latex) as temporary, open(temporary, "w") as out:
        out.write("% Table 1, written by fact.experiments.plots.table1\n\\begin{table}\n\\centering\n")
        out.write(main.to_latex(index=False, float_format="%.2f", na_rep="") + f"\\caption{{{_latex_escape(text)}}}\n")
        out.write(
            "\\end{table}\n\n% Per dataset\n"
            + appendix.to_latex(index=False, float_format="%.2f", na_rep="", longtable=True)
        )
    _render_pdf(main, appendix, text, pdf)
    _render_scatter(wide, text, scatter)


def _latex_escape(text: str) -> str:
    for old, new in (("%", r"\%"), ("&", r"\&"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(old, new)
    return text


def _render_pdf(main: pd.DataFrame, appendix: pd.DataFrame, text: str, out) -> None:
    """The summary table, the caption under it, then the per-dataset table (heights in inches)."""
    style.apply()
    row, small_row, caption_height = 0.24, 0.15, 0.9
    heights = [0.35 + row * (len(main) + 1), caption_height, small_row * (len(appendix) + 1) + 0.1]
    total = sum(heights)
    figure = plt.figure(figsize=(8.0, total))
    bottom_of = lambda k: 1 - sum(heights[: k + 1]) / total  # noqa: E731
    summary_axis = figure.add_axes([0.05, bottom_of(0), 0.9, heights[0] / total])
    summary_axis.axis("off")
    summary_axis.table(
        cellText=[[_cell(v) for v in r] for r in main.itertuples(index=False)],
        colLabels=["method", "ours (%)", "paper (%)", "datasets"],
        loc="upper center",
    )
    summary_axis.set_title("Table 1: mean 4-fold test accuracy", fontsize=9)
    figure.text(0.05, bottom_of(1) + caption_height / total * 0.95, text, ha="left", va="top", fontsize=6.5, wrap=True)
    figure.fact_caption = text
    if len(appendix):
        appendix_axis = figure.add_axes([0.05, bottom_of(2), 0.9, heights[2] / total])
        appendix_axis.axis("off")
        # room for long dataset and solver names; the method columns take short headers
        methods = len(appendix.columns) - 3
        widths = [0.21] + [0.48 / methods] * methods + [0.06, 0.25]
        headers = [SHORT_HEADERS.get(c, c) for c in appendix.columns]
        body = appendix_axis.table(
            cellText=[[_cell(v) for v in r] for r in appendix.itertuples(index=False)],
            colLabels=headers,
            colWidths=widths,
            loc="upper center",
        )
        body.auto_set_font_size(False)
        body.set_fontsize(6)
        body.scale(1, small_row / row * 1.6)
    style.save(
        figure,
        out,
        about="Table 1: mean 4-fold test accuracy of FACT-RFM, FACT-RFM', NFA-RFM and Laplace "
        "kernel regression over the tabular datasets, beside the paper's numbers, with a per-dataset appendix.",
    )


def _render_scatter(wide: pd.DataFrame, text: str, out) -> None:
    """Each FACT variant against NFA-RFM and against kernel regression, one point per dataset."""
    style.apply()
    pairs = [
        (x, y)
        for x, y in (("nfa", "fact"), ("nfa", "fact_geom"), ("laplace", "fact"), ("laplace", "fact_geom"))
        if x in wide.columns and y in wide.columns
    ]
    figure, axes = plt.subplots(1, max(len(pairs), 1), figsize=(2.6 * max(len(pairs), 1), 2.9), squeeze=False)
    for axis, (x, y) in zip(axes[0], pairs):
        low = float(np.nanmin(wide[[x, y]].to_numpy()))
        axis.plot([low, 100], [low, 100], color="grey", lw=0.8)
        axis.scatter(wide[x], wide[y], s=8, alpha=0.7)
        wins = int((wide[y] > wide[x]).sum()), int((wide[y] < wide[x]).sum())
        axis.set(
            xlabel=f"{style.METHOD_LABELS.get(x, x)} (%)",
            ylabel=f"{style.METHOD_LABELS.get(y, y)} (%)",
            title=f"{style.METHOD_LABELS.get(y, y)} higher on {wins[0]}, lower on {wins[1]}",
        )
        axis.title.set_fontsize(7)
    figure.subplots_adjust(bottom=0.38, wspace=0.45)
    style.caption(figure, text + " One point per dataset; the diagonal marks equal accuracy.")
    style.save(
        figure,
        out,
        about="Table 1, dataset by dataset: each FACT-RFM variant against NFA-RFM and against "
        "Laplace kernel regression.",
    )
