"""What the monitor's last record says, weight by weight: at a critical point (FACT applies), or not, and then
what the numbers point to and what to change.

FACT holds only at a critical point of ``(1/n) sum_i loss_i + (lambda/2) ||theta||^2``; the stationarity error
``||grad_W Lbar + lambda W|| / ||lambda W||`` says how far each weight is from one. A weight above
``converged_below`` is given the first cause that its numbers show, in this order:

1. the monitor's loss is not the one the optimizer minimises (``fact.features.loss_check``);
2. the optimizer decays it with another lambda than the monitor's, or not at all;
3. AdamW: its decay bypasses the adaptive step, so its fixed points are not critical points of this objective;
4. tau too small: weight decay has not acted long enough (``TAU_NEEDED``);
5. a learning rate still near its peak: the noise of its steps holds the weights off the critical point;
6. close (error at most ``CLOSE_BELOW``): a full-batch second-order finish, the polish, is the cheap way there;
7. none of these: far, after enough tau, at a low rate.
"""

from __future__ import annotations

import logging
import math
import textwrap
from dataclasses import dataclass

import pandas as pd

from fact.features.heads import is_head
from fact.features.loss_check import LossCheck
from fact.features.monitor_optimizer import ADAMW, NOT_DECAYED, OptimizerWatch
from fact.features.names import Relation

log = logging.getLogger("fact.features.monitor")

TAU_NEEDED = 2.0  # in the MLP runs of bench/README.md FACT held on every layer once tau passed about 2
CLOSE_BELOW = 1.0  # the objective's gradient smaller than the decay's own pull: the polish usually finishes it
LR_DECAYED_BELOW = 0.5  # a last learning rate above this share of its peak has not been annealed
POLISH = "fact.polish_lbfgs(model, X, Y, loss, weight_decay, converged_below, max_steps)"


@dataclass(frozen=True)
class Summary:
    """The monitor's last record judged per weight: ``table`` has one row per followed weight (layer, step, tau,
    stationarity_error, fact_pearson, at_critical_point, cause, advice); ``str()`` is the same in words."""

    table: pd.DataFrame
    converged_below: float
    loss_check: LossCheck | None

    @property
    def at_critical_point(self) -> bool:
        """Whether every followed weight is at a critical point (FACT applies to each)."""
        return bool(len(self.table)) and bool(self.table.at_critical_point.all())

    def __str__(self) -> str:
        table = self.table
        if not len(table):
            return "FACT monitor: nothing recorded yet (monitor.record(), or train past `every` steps)"
        reached, width = int(table.at_critical_point.sum()), max(6, *map(len, table.layer))
        check = "not made" if self.loss_check is None else _loss_check_words(self.loss_check)
        lines = [
            f"FACT monitor at step {table.step.iloc[0]}: {reached} of {len(table)} weights at a critical point "
            f"(stationarity error <= {self.converged_below:g})",
            f"the loss check: {check}",
            f"  {'weight':<{width}} {'tau':>6} {'stationarity':>12} {'FACT Pearson':>12}",
        ]
        for row in table.itertuples():
            numbers = f"{row.tau:>6.3g} {row.stationarity_error:>12.3g} {row.fact_pearson:>12.3f}"
            lines.append(f"  {row.layer:<{width}} {numbers}")
        for _, rows in table[~table.at_critical_point].groupby("cause", sort=False):
            which = "every weight" if len(rows) == len(table) else ", ".join(rows.layer)
            lines += textwrap.wrap(f"{which}: {rows.advice.iloc[0]}", 110, initial_indent="- ",
                                   subsequent_indent="  ", break_on_hyphens=False)  # fmt: skip
        return "\n".join(lines)


def _loss_check_words(check: LossCheck) -> str:
    return ("agrees " if check.agrees else "DISAGREES ") + f"({check.describe()})"


def summarise(
    table: pd.DataFrame, watch: OptimizerWatch, rates: tuple[dict, dict], weight_decay: float | None,
    loss_check: LossCheck | None, converged_below: float,
) -> Summary:  # fmt: skip
    """Judge the last record of ``table`` (the monitor's rows) weight by weight, a weight's heads left to the table;
    ``rates`` are the largest and the latest learning rate of each weight (``OptimizerWatch.learning_rates``)."""
    columns = ["layer", "step", "tau", "stationarity_error", "fact_pearson", "at_critical_point", "cause", "advice"]
    if not len(table):
        return Summary(pd.DataFrame(columns=columns), converged_below, loss_check)
    last = table[(table.step == table.step.max()) & (table.relation == Relation.FACT) & ~is_head(table.layer)]
    last = last.drop_duplicates("layer", keep="last")  # a record made again at the same step (after a polish)
    rows = []
    for row in last.itertuples():
        at = bool(row.stationarity_error <= converged_below)
        judged = ("at a critical point", "FACT applies") if at else _cause(row, watch, rates, weight_decay, loss_check)
        cause, advice = judged
        rows.append([row.layer, row.step, row.tau, row.stationarity_error, row.pearson, at, cause, advice])
    return Summary(pd.DataFrame(rows, columns=columns), converged_below, loss_check)


def _cause(row, watch: OptimizerWatch, rates: tuple[dict, dict], weight_decay, loss_check) -> tuple[str, str]:
    """The first cause the numbers of one weight not at a critical point show, and what to change."""
    name, tau, error = row.layer, row.tau, row.stationarity_error
    kind, decay = watch.kind.get(name), watch.decay.get(name)
    if loss_check is not None and loss_check.with_decay:  # lambda W in the loss: the optimizer's decay is moot
        kind, decay, tau = None, None, math.nan
    peak, last = rates[0].get(name, math.nan), rates[1].get(name, math.nan)
    if loss_check is not None and not loss_check.agrees:
        return "another loss", loss_check.advice()
    if kind == NOT_DECAYED:
        return "another weight decay", (
            f"the optimizer does not decay it, while the monitor's objective has lambda {weight_decay:g}: give the "
            "optimizer that weight_decay (where the training loss adds (lambda/2)||theta||^2 itself, this is the "
            "objective, but no tau is counted: judge by the stationarity error)"
        )
    if decay is not None and decay != weight_decay:
        return "another weight decay", (
            f"the optimizer decays it with {decay or 0:g}, not the monitor's lambda {weight_decay:g}: its critical "
            "points are of another objective; give the Monitor the optimizer's weight decay, or decay it with lambda"
        )
    if kind == ADAMW:
        return "AdamW", (
            "trained by AdamW, whose decay bypasses the adaptive step, so its fixed points are not critical points "
            "of (1/n) sum loss + (lambda/2)||theta||^2: train with SGD, or Adam with weight_decay (L2), to reach one; "
            "or read FACT here as a diagnostic only"
        )
    if tau < TAU_NEEDED:  # NaN (Adam's L2) is not less: it has no tau to judge
        return "tau too small", (
            f"tau = {tau:.3g}: weight decay has not acted long enough (about {TAU_NEEDED:g} was needed in our runs); "
            f"train longer, or raise lambda (tau grows with lambda times the sum of the learning rates)"
        )
    if last > LR_DECAYED_BELOW * peak:
        return "learning rate not annealed", (
            f"the learning rate is still {last:.3g} (peak {peak:.3g}): the noise of its steps holds the weights off "
            "the critical point; decay it towards 0 by the end (cosine or linear), or finish with the polish"
        )
    if error <= CLOSE_BELOW:
        return "close", f"close: full-batch L-BFGS on the same objective may finish the way ({POLISH})"
    return "far", (
        "far from a critical point although tau and the learning rate allowed one: train longer at a low rate, "
        f"check the loss and lambda given to the Monitor, or try the polish ({POLISH})"
    )


def log_summary(summary: Summary) -> None:
    """The summary as a framework's callback ends training: a warning where a weight is not at a critical point
    (so that it is seen without any logging set up), else at INFO."""
    if len(summary.table):
        log.log(logging.INFO if summary.at_critical_point else logging.WARNING, "%s", summary)
