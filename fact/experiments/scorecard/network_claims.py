"""The paper's claims about trained networks (Figures 2 and 7-11), each with its rule."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from fact.experiments.analysis import NFA_POWER, best_powers
from fact.experiments.scorecard.critical import converged_below, screen
from fact.experiments.scorecard.results import Experiment
from fact.experiments.scorecard.verdicts import AT_CRITICAL, Claim, Judgement, grade, judged_at_critical_points
from fact.features.names import Relation

# ---------------------------------------------------------------------------------------------
# Figure 7

FIG7_FACT_COSINE = 0.99
FIG7_NFA_GAP = 0.2


def hidden_cosines(experiment: Experiment) -> pd.DataFrame:
    """Figure 7's cosines of W^T W with FACT and each AGOP^s, for the hidden layer, per seed."""
    table = experiment.table
    return table[(table.layer == "hidden") & (table.side == "forward")]


def fig7_fact(experiment: Experiment) -> Judgement:
    """Figure 7: FACT holds on the quadratic network, on every seed at a critical point."""
    screened = screen(hidden_cosines(experiment), ["seed"], None, converged_below(experiment.trained_with), "seeds")

    def judge(rows: pd.DataFrame) -> Judgement:
        fact = rows.query("relation == 'fact'").set_index("seed").cosine
        return Judgement(
            f"{fact.min():.4f} to {fact.max():.4f} over {len(fact)} seeds",
            grade([value >= FIG7_FACT_COSINE for value in fact]),
        )

    return judged_at_critical_points(screened, judge)


def fig7_nfa(experiment: Experiment) -> Judgement:
    """Figure 7: every AGOP^s is far from W^T W, well below FACT on the same seed."""
    rows = hidden_cosines(experiment)
    fact = rows.query("relation == 'fact'").set_index("seed").cosine
    nfa = rows.query("relation == 'nfa'")
    by_power = nfa.groupby("power").cosine.mean()
    ours = ", ".join(f"s = {power:g}: {value:.3f}" for power, value in by_power.items()) + " (mean over seeds)"
    return Judgement(ours, grade([row.cosine <= fact[row.seed] - FIG7_NFA_GAP for row in nfa.itertuples()]))


# ---------------------------------------------------------------------------------------------
# Figures 2 and 8-10

MLP_FINAL = 0.9
MLP_EARLY_GAP = 0.3


def mlp_means(table: pd.DataFrame, relations: tuple[str, ...]) -> pd.DataFrame:
    """Mean over seeds of Pearson with W^T W (or W W^T), per dataset, epoch and layer; NFA at s = 1/2."""
    rows = table[table.relation.isin(relations)]
    rows = rows[rows.power.isna() | np.isclose(rows.power.fillna(NFA_POWER), NFA_POWER)]
    return rows.groupby(["dataset", "epoch", "layer", "relation"]).pearson.mean().unstack("relation")


def at_final_epoch(means: pd.DataFrame) -> pd.DataFrame:
    """The rows of each dataset's last kept epoch, as columns."""
    rows = means.reset_index()
    return rows[rows.epoch == rows.groupby("dataset").epoch.transform("max")]


def mlp_at_critical_points(experiment: Experiment, judge: Callable[[pd.DataFrame], Judgement]) -> Judgement:
    """``judge`` on the (dataset, seed, layer)s whose last kept epoch is at a critical point."""
    screened = screen(
        experiment.table,
        ["dataset", "seed", "layer"],
        "epoch",
        converged_below(experiment.trained_with),
        "layers (of every dataset and seed)",
    )
    return judged_at_critical_points(screened, judge)


def fact_beats_nfa(experiment: Experiment, fact: str, nfa: str, enfa: str, side: str) -> Judgement:
    """FACT correlates with W^T W (or W W^T) at least as well as the NFA and the eNFA, per layer."""

    def judge(table: pd.DataFrame) -> Judgement:
        final = at_final_epoch(mlp_means(table, (fact, nfa, enfa)))
        parts, checks = [], []
        for dataset, rows in final.groupby("dataset"):
            better = rows[fact] >= rows[[nfa, enfa]].max(axis=1)
            checks += list(better & (rows[fact] >= MLP_FINAL)) if side == "backward" else list(better)
            parts.append(
                f"{dataset}: {int(better.sum())} of {len(rows)} layers; mean over layers {fact} "
                f"{rows[fact].mean():.3f}, {nfa} {rows[nfa].mean():.3f}, {enfa} {rows[enfa].mean():.3f}"
            )
        return Judgement("; ".join(parts), grade(checks))

    return mlp_at_critical_points(experiment, judge)


def fig2(experiment: Experiment) -> Judgement:
    """Figure 2: per layer, FACT at least as good as AGOP^1/2 and the eNFA."""
    return fact_beats_nfa(experiment, Relation.FACT, Relation.NFA, Relation.ENFA, "forward")


def fig9_10(experiment: Experiment) -> Judgement:
    """Figures 9-10: the backward forms, bFACT against the backward NFA and eNFA."""
    return fact_beats_nfa(experiment, Relation.BFACT, Relation.BNFA, Relation.BENFA, "backward")


def fig8(experiment: Experiment) -> Judgement:
    """Figure 8: FACT ends near 1 after being lower earlier in training."""

    def judge(table: pd.DataFrame) -> Judgement:
        means = mlp_means(table, ("fact",)).reset_index()
        parts, checks = [], []
        for _, rows in means.groupby(["dataset", "layer"]):
            rows = rows.sort_values("epoch")
            final, earlier = rows.fact.iloc[-1], rows.fact.iloc[:-1]
            checks.append(final >= MLP_FINAL and not earlier.empty and earlier.min() <= final - MLP_EARLY_GAP)
        for dataset, rows in means.groupby("dataset"):
            last = rows.epoch.max()
            parts.append(
                f"{dataset}: mean over layers {rows[rows.epoch == last].fact.mean():.3f} at epoch {last}, "
                f"lowest earlier {rows[rows.epoch < last].groupby('epoch').fact.mean().min():.3f}"
            )
        return Judgement("; ".join(parts), grade(checks))

    return mlp_at_critical_points(experiment, judge)


# ---------------------------------------------------------------------------------------------
# Figure 11

POWER_TOLERANCE = 0.05
DEEP_LINEAR_FACT = 0.99


def fig11_power(experiment: Experiment) -> Judgement:
    """Figure 11: the best NFA power of deep linear networks is 1/L."""
    best = best_powers(experiment.table)
    checks = [abs(power - 1 / depth) <= POWER_TOLERANCE for depth, power in best.items()]
    return Judgement(
        ", ".join(f"L = {depth}: {power:.3f} (1/L = {1 / depth:.3f})" for depth, power in best.items()), grade(checks)
    )


def fig11_fact(experiment: Experiment) -> Judgement:
    """Figure 11: FACT holds with no power in every layer, depth and seed."""
    screened = screen(
        experiment.table.query("relation == 'fact'"),
        ["depth", "seed", "layer"],
        None,
        converged_below(experiment.trained_with),
        "layers (of every depth and seed)",
    )

    def judge(fact: pd.DataFrame) -> Judgement:
        return Judgement(
            f"Pearson(WᵀW, FACT) {fact.pearson.min():.4f} to {fact.pearson.max():.4f}",
            grade([value >= DEEP_LINEAR_FACT for value in fact.pearson]),
        )

    return judged_at_critical_points(screened, judge)


FIG7_CLAIMS = [
    Claim(
        "fig7",
        "Figure 7",
        "FACT holds on the adversarial two-layer quadratic network",
        "cosine(WᵀW, FACT) = 0.994",
        f"holds if cosine(WᵀW, FACT) ≥ {FIG7_FACT_COSINE} on every seed, partly on some" + AT_CRITICAL,
        fig7_fact,
    ),
    Claim(
        "fig7",
        "Figure 7",
        "…while every NFA prediction AGOP^s is far from WᵀW",
        "much lower cosine (value lost)",
        f"holds if every cosine(WᵀW, AGOP^s) is at least {FIG7_NFA_GAP} below FACT's on the same seed, "
        "partly if some are",
        fig7_nfa,
    ),
]

NETWORK_CLAIMS = [
    Claim(
        "mlp",
        "Figure 2",
        "Per layer, FACT correlates with WᵀW at least as well as the NFA and eNFA",
        "FACT generally highest, ≈ 1 at convergence (MNIST, CIFAR-10)",
        "holds if, at the last epoch and averaged over seeds, Pearson(WᵀW, FACT) ≥ both AGOP^½'s and eNFA's in "
        "every layer of every dataset, partly in some" + AT_CRITICAL,
        fig2,
    ),
    Claim(
        "mlp",
        "Figure 8",
        "FACT is low during training and near 1 at the end",
        "low for most epochs, ≈ 1 near interpolation",
        f"holds if in every layer Pearson(WᵀW, FACT) ends ≥ {MLP_FINAL} and was ≥ {MLP_EARLY_GAP} lower at an "
        "earlier kept epoch, partly in some" + AT_CRITICAL,
        fig8,
    ),
    Claim(
        "mlp",
        "Figures 9-10",
        "The backward forms: bFACT matches W Wᵀ, at least as well as the backward NFA and eNFA",
        "as Figures 2 and 8, backwards",
        f"holds if at the last epoch Pearson(W Wᵀ, bFACT) ≥ {MLP_FINAL} and ≥ the backward AGOP^½'s and eNFA's in "
        "every layer, partly in some" + AT_CRITICAL,
        fig9_10,
    ),
    Claim(
        "deep_linear",
        "Figure 11",
        "Deep linear networks: the best NFA power is 1/L",
        "s = 1/L",
        f"holds if the power maximising Pearson(W₁ᵀW₁, AGOP^s) is within {POWER_TOLERANCE} of 1/L at every depth, "
        "partly at some",
        fig11_power,
    ),
    Claim(
        "deep_linear",
        "Figure 11",
        "FACT needs no power",
        "FACT holds exactly",
        f"holds if Pearson(WᵀW, FACT) ≥ {DEEP_LINEAR_FACT} in every layer, depth and seed, partly in some"
        + AT_CRITICAL,
        fig11_fact,
    ),
]
