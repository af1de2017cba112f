"""The names that the library, the monitor, the plots and the scorecard share, each written once with its label.

A relation is a matrix compared with a weight's W^T W (the forward side) or W W^T (the backward side); a
measure is how the two are compared. Both are string enumerations, so a member is equal to, and is stored
in tables as, its plain name (``Relation.FACT == "fact"``).
"""

from __future__ import annotations

from enum import StrEnum


class Relation(StrEnum):
    """The matrices compared with W^T W (forward) and W W^T (backward)."""

    FACT = "fact"
    FACT_SYM = "fact_sym"
    FACT_SQRT = "fact_sqrt"
    NFA = "nfa"
    NFA_CENTRED = "nfa_centred"
    ENFA = "enfa"
    BFACT = "bfact"
    BFACT_SQRT = "bfact_sqrt"
    BNFA = "bnfa"
    BNFA_CENTRED = "bnfa_centred"
    BENFA = "benfa"


# "^s" stands for the NFA's power, filled in by relation_label
RELATION_LABELS: dict[Relation, str] = {
    Relation.FACT: "FACT",
    Relation.FACT_SYM: "(FACT + FACTᵀ)/2",
    Relation.FACT_SQRT: "(FACT FACTᵀ)^½",
    Relation.NFA: "NFA: AGOP^s",
    Relation.NFA_CENTRED: "NFA: centred AGOP^s",
    Relation.ENFA: "eNFA",
    Relation.BFACT: "bFACT",
    Relation.BFACT_SQRT: "(bFACT bFACTᵀ)^½",
    Relation.BNFA: "backward AGOP^s",
    Relation.BNFA_CENTRED: "backward centred AGOP^s",
    Relation.BENFA: "backward eNFA",
}


class Measure(StrEnum):
    """How a predicted matrix is compared with W^T W or W W^T, over their entries."""

    PEARSON = "pearson"
    SPEARMAN = "spearman"
    COSINE = "cosine"
    RELATIVE_ERROR = "relative_error"


MEASURE_LABELS: dict[Measure, str] = {
    Measure.PEARSON: "Pearson",
    Measure.SPEARMAN: "Spearman",
    Measure.COSINE: "cosine",
    Measure.RELATIVE_ERROR: "relative error",
}
MEASURES: tuple[str, ...] = tuple(measure.value for measure in Measure)


def relation_label(relation: str, power: float | None = None) -> str:
    """A relation's label; the NFA's with its power (s = 1/2 written ½). An unknown name is its own label."""
    label = RELATION_LABELS.get(relation, relation)
    if "^s" in label and power is not None:
        label = label.replace("^s", "^½" if power == 0.5 else f"^{power:g}")
    return label
