"""How a claim is judged: the verdicts, the grade of a rule's checks, and a claim with its rule.

A rule makes one check per unit it can see (a seed, a layer, a depth, a method) and grades them:
``holds`` when every check passes, ``partly`` when some do, ``does not hold`` when none do, and
``not run`` when the results it needs are not there. A claim that FACT holds is judged only on the
layers at a critical point (``fact.experiments.scorecard.critical``), and is ``not at a critical
point`` where none is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from fact.experiments.scorecard.critical import NOT_CRITICAL, Screened
from fact.experiments.scorecard.results import Experiment

HOLDS, PARTLY, FAILS, NOT_RUN = "holds", "partly", "does not hold", "not run"


def grade(checks: list[bool]) -> str:
    """A verdict from a rule's checks: holds if all pass, partly if some, does not hold if none."""
    if not checks:
        return NOT_RUN
    return HOLDS if all(checks) else PARTLY if any(checks) else FAILS


@dataclass(frozen=True)
class Judgement:
    """What a rule found (``ours``), its verdict, and, where it judged only some of the results, on which
    (``scope``: "on 13 of 16 matrices; 3 not at a critical point"), which the scorecard prints with the verdict."""

    ours: str
    verdict: str
    scope: str = ""


def judged_at_critical_points(screened: Screened, judge: Callable[[pd.DataFrame], Judgement]) -> Judgement:
    """``judge`` on the screened rows, its "ours" saying which layers it saw and what the others showed (judged
    the same way, for the reader, not for the verdict), its scope which part it judged; "not at a critical
    point" where none is."""
    if screened.rows.empty:
        return Judgement(screened.advice, NOT_CRITICAL)
    judgement = judge(screened.rows)
    ours = f"{judgement.ours}; {screened.note}"
    if not screened.left_out.empty:
        ours += f"; not judged, away from a critical point: {judge(screened.left_out).ours}"
    return Judgement(ours, judgement.verdict, screened.scope)


@dataclass(frozen=True)
class Claim:
    """One claim: the results it reads, where the paper makes it, the paper's value, and its rule."""

    experiment: str  # the results it reads (a kind of fact.experiments.scorecard.results)
    figure: str
    claim: str
    paper: str
    rule: str
    judge: Callable[[Experiment], Judgement]


AT_CRITICAL = (
    ". Only layers at a critical point at the end are judged: stationarity error ≤ the runs' converged_below "
    '(0.2 where they set none); "not at a critical point" where none is'
)
