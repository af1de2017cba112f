"""Which results a claim about FACT may be judged on: the layers at a critical point.

FACT is a theorem about critical points of (1/n) sum_i loss_i + (lambda/2) ||theta||^2. A layer far from
one may disagree with it without contradicting it, so the rules of FACT's claims look only at the
layers whose stationarity error ||grad_W L + lambda W|| / ||lambda W|| is at most ``converged_below``
at the end of training, and say "not at a critical point" when no layer is.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

NOT_CRITICAL = "not at a critical point"
# In our MLP runs every layer at most this far from stationarity had Pearson(W^T W, FACT) >= 0.98; the
# threshold used where the runs were not trained with a converged_below of their own
DEFAULT_BELOW = 0.2


def converged_below(trained_with: list[dict]) -> float:
    """The strictest converged_below the runs were trained with, else DEFAULT_BELOW."""
    values = [
        config["train"]["converged_below"]
        for config in trained_with
        if isinstance(config.get("train"), dict) and "converged_below" in config["train"]
    ]
    return min(values, default=DEFAULT_BELOW)


@dataclass(frozen=True)
class Screened:
    """The rows of layers at a critical point, with what to say of the others."""

    rows: pd.DataFrame  # the table's rows of the units at a critical point (every step of them)
    note: str  # how many units that is, for the scorecard's "ours"
    advice: str  # where none is: how far from one they are and what to change
    left_out: pd.DataFrame  # the rows of the units not at a critical point
    scope: str  # where some are left out: "on 13 of 16 matrices; 3 not at a critical point", else ""


def screen(table: pd.DataFrame, unit: list[str], last: str | None, below: float, what: str = "layers") -> Screened:
    """Keep the units (e.g. dataset, seed and layer) whose stationarity error at their ``last`` step (the
    largest value of that column per unit; None: the table holds one state per unit) is at most ``below``."""
    errors = table.get("stationarity_error", pd.Series(float("nan"), index=table.index))
    table = table.assign(stationarity_error=errors)
    end = table if last is None else table[table[last] == table.groupby(unit)[last].transform("max")]
    largest = end.groupby(unit).stationarity_error.max()
    if "converged" in end:
        _check_converged(end, [column for column in unit if column != "layer"], below)
    critical = largest[largest <= below].index
    rows = table[table.set_index(unit).index.isin(critical)]
    others = largest.drop(critical)
    note = (
        f"every one of the {len(largest)} {what} at a critical point (largest stationarity error {largest.max():.2g})"
        if others.empty
        else f"judged on the {len(critical)} of {len(largest)} {what} at a critical point (stationarity error ≤ "
        f"{below:g}); the others' up to {others.max():.2g}"
    )
    scope = f"on {len(critical)} of {len(largest)} {what}; {len(others)} not at a critical point"
    scope = "" if others.empty else scope
    left_out = table[table.set_index(unit).index.isin(others.index)]
    return Screened(rows, note, _advice(end, largest, below, what), left_out, scope)


def _check_converged(end: pd.DataFrame, run: list[str], below: float) -> None:
    """Refuse a table whose own ``converged`` column contradicts the stationarity it holds at the end: a run
    is converged when every layer's error is at most ``below`` (within rounding, 1e-6 of it)."""
    if not run:
        return
    per_run = end.groupby(run).agg(converged=("converged", "all"), largest=("stationarity_error", "max"))
    clear = (per_run.largest - below).abs() > 1e-6 * below  # leave runs on the threshold to rounding
    wrong = per_run[clear & (per_run.converged != (per_run.largest <= below))]
    if not wrong.empty:
        examples = "; ".join(
            f"{dict(zip(run, key if isinstance(key, tuple) else (key,)))}: converged={bool(row.converged)}, largest "
            f"stationarity error {row.largest:.3g}"
            for key, row in wrong.head(3).iterrows()
        )
        raise ValueError(
            f"the table's converged column contradicts its stationarity errors at the end (converged_below "
            f"{below:g}) for {len(wrong)} runs, e.g. {examples}: rerun their training and extraction"
        )


def _advice(end: pd.DataFrame, largest: pd.Series, below: float, what: str) -> str:
    if largest.isna().all():
        return "no stationarity error in these results: rerun their extraction, which measures it"
    tau = f", τ = {end.tau.max():.2f} at the end" if "tau" in end and end.tau.notna().any() else ""
    return (
        f"none of the {len(largest)} {what} at a critical point: smallest stationarity error "
        f"{largest.min():.2g}, largest {largest.max():.2g} (≤ {below:g} needed){tau}; train longer, raise the "
        f"weight decay or polish (train.polish_steps)"
    )
