"""The reproduction scorecard: one row per claim and scale, as Markdown and as a self-contained HTML page."""

from __future__ import annotations

import html
from dataclasses import dataclass

from fact.experiments.scorecard.claims import CLAIMS
from fact.experiments.scorecard.context import data_used, differences
from fact.experiments.scorecard.critical import NOT_CRITICAL
from fact.experiments.scorecard.results import Experiment
from fact.experiments.scorecard.verdicts import FAILS, HOLDS, NOT_RUN, PARTLY

COLUMNS = (
    "figure",
    "claim",
    "paper",
    "ours",
    "scale",
    "data",
    "settings that differ from the paper's",
    "verdict",
    "rule",
)
VERDICT_COLOURS = {HOLDS: "#d9f2d9", PARTLY: "#fff2cc", FAILS: "#f8d7da", NOT_CRITICAL: "#dbe9f6", NOT_RUN: "#e9ecef"}


@dataclass(frozen=True)
class Row:
    """One claim judged at one scale: what the scorecard prints in one row."""

    figure: str
    claim: str
    paper: str
    ours: str
    scale: str
    data: str
    differs: str
    verdict: str
    rule: str
    scope: str = ""  # where the verdict judged only part of the results: which part

    @property
    def verdict_text(self) -> str:
        """The verdict with its scope: "holds on 13 of 16 matrices; 3 not at a critical point"."""
        return f"{self.verdict} {self.scope}" if self.scope else self.verdict

    def cells(self) -> tuple[str, ...]:
        """The row's cells, in the scorecard's column order."""
        return (
            self.figure,
            self.claim,
            self.paper,
            self.ours,
            self.scale,
            self.data,
            self.differs,
            self.verdict_text,
            self.rule,
        )


def score(results: dict[str, dict[str, Experiment]]) -> list[Row]:
    """Every claim judged at every scale whose results hold its experiment; one "not run" row where none does."""
    rows = []
    for claim in CLAIMS:
        scales = [scale for scale, experiments in results.items() if claim.experiment in experiments]
        for scale in scales:
            experiment = results[scale][claim.experiment]
            judgement = claim.judge(experiment)
            rows.append(
                Row(
                    claim.figure,
                    claim.claim,
                    claim.paper,
                    judgement.ours,
                    scale,
                    data_used(claim.experiment, experiment),
                    differences(claim.experiment, experiment),
                    judgement.verdict,
                    claim.rule,
                    judgement.scope,
                )
            )
        if not scales:
            rows.append(Row(claim.figure, claim.claim, claim.paper, "", "", "", "", NOT_RUN, claim.rule))
    return rows


def tally(rows: list[Row]) -> str:
    """How many claims hold, partly hold, fail, and so on, in one line."""
    counts = {verdict: sum(row.verdict == verdict for row in rows) for verdict in VERDICT_COLOURS}
    return ", ".join(f"{count} {verdict}" for verdict, count in counts.items() if count)


INTRODUCTION = (
    "Each row judges one claim of the paper on this pipeline's results at one scale, with the rule "
    "that decides the verdict. Quick scale runs small stand-ins on a CPU in minutes; paper scale uses "
    "the paper's settings and data where this run had them (see the data and settings columns)."
)


def markdown(rows: list[Row]) -> str:
    """The scorecard as a Markdown table."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "# Reproduction scorecard",
        "",
        INTRODUCTION,
        "",
        f"Verdicts: {tally(rows)}.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(cell(c) for c in row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def html_page(rows: list[Row]) -> str:
    """The scorecard as a self-contained HTML page."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for row in rows:
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row.cells()[:-2])
        colour = VERDICT_COLOURS[row.verdict]
        verdict = f'<td class="verdict" style="background:{colour}">{html.escape(row.verdict_text)}</td>'
        body.append(f"<tr>{cells}{verdict}<td class='rule'>{html.escape(row.rule)}</td></tr>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Reproduction scorecard</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #bbb; padding: 0.35em 0.5em; vertical-align: top; text-align: left; }}
th {{ background: #f3f3f3; }}
td.verdict {{ font-weight: bold; min-width: 8em; }}
td.rule {{ color: #555; }}
</style></head><body>
<h1>Reproduction scorecard</h1>
<p>{html.escape(INTRODUCTION)}</p>
<p>Verdicts: {html.escape(tally(rows))}.</p>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""
