"""The paper's claims, each with the rule that decides from our results whether it holds.

A rule makes one check per unit it can see (a seed, a layer, a depth, a method) and grades them:
``holds`` when every check passes, ``partly`` when some do, ``does not hold`` when none do, and
``not run`` when the results it needs are not there. The thresholds are written in each rule's text,
which is printed in the scorecard beside the verdict. A claim that FACT holds is judged only on the
layers at a critical point (``fact.experiments.scorecard.critical``), and is ``not at a critical point`` where none is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fact.experiments.analysis import NFA_POWER, TABLE1_PAPER, best_powers, fit_through_origin, per_dataset
from fact.experiments.scorecard.critical import NOT_CRITICAL, Screened, converged_below, screen
from fact.experiments.scorecard.results import Experiment
from fact.experiments.convergence import FACT_LEVEL, holds_below

HOLDS, PARTLY, FAILS, NOT_RUN = "holds", "partly", "does not hold", "not run"
LABELS = {"nfa": "NFA-RFM", "fact": "FACT-RFM", "fact_geom": "FACT-RFM'", "laplace": "Laplace"}


def grade(checks: list[bool]) -> str:
    if not checks:
        return NOT_RUN
    return HOLDS if all(checks) else PARTLY if any(checks) else FAILS


@dataclass(frozen=True)
class Judgement:
    ours: str
    verdict: str


def judged_at_critical_points(screened: Screened, judge: Callable[[pd.DataFrame], Judgement]) -> Judgement:
    """``judge`` on the screened rows, its "ours" saying which layers it saw; "not at a critical point" where none is."""
    if screened.rows.empty:
        return Judgement(screened.advice, NOT_CRITICAL)
    judgement = judge(screened.rows)
    return Judgement(f"{judgement.ours}; {screened.note}", judgement.verdict)


@dataclass(frozen=True)
class Claim:
    experiment: str   # the results it reads (a kind of fact.experiments.scorecard.results)
    figure: str
    claim: str
    paper: str
    rule: str
    judge: Callable[[Experiment], Judgement]


# ---------------------------------------------------------------------------------------------
# Table 1

MEANS_TOLERANCE = 1.0  # accuracy points


def table1_means(experiment: Experiment) -> Judgement:
    wide = per_dataset(experiment.table)
    means = {m: wide[m].mean() for m in TABLE1_PAPER if m in wide}
    ours = ", ".join(f"{LABELS[m]} {value:.2f}" for m, value in means.items()) + f" ({len(wide)} datasets)"
    if {s["source"] for s in experiment.settings} != {"uci121"}:
        return Judgement(ours, NOT_RUN)  # the paper's means are over UCI-121; other data cannot confirm them
    return Judgement(ours, grade([abs(means[m] - TABLE1_PAPER[m]) <= MEANS_TOLERANCE for m in means]))


def table1_beats_laplace(experiment: Experiment) -> Judgement:
    wide = per_dataset(experiment.table)
    laplace = wide["laplace"].mean()
    gains = {m: wide[m].mean() - laplace for m in ("fact", "fact_geom", "nfa") if m in wide}
    return Judgement(", ".join(f"{LABELS[m]} {gain:+.2f}" for m, gain in gains.items()),
                     grade([gain > 0 for gain in gains.values()]))


# ---------------------------------------------------------------------------------------------
# Figure 7

FIG7_FACT_COSINE = 0.99
FIG7_NFA_GAP = 0.2


def hidden_cosines(experiment: Experiment) -> pd.DataFrame:
    table = experiment.table
    return table[(table.layer == "hidden") & (table.side == "forward")]


def fig7_fact(experiment: Experiment) -> Judgement:
    screened = screen(hidden_cosines(experiment), ["seed"], None, converged_below(experiment.trained_with), "seeds")

    def judge(rows: pd.DataFrame) -> Judgement:
        fact = rows.query("relation == 'fact'").set_index("seed").cosine
        return Judgement(f"{fact.min():.4f} to {fact.max():.4f} over {len(fact)} seeds",
                         grade([value >= FIG7_FACT_COSINE for value in fact]))
    return judged_at_critical_points(screened, judge)


def fig7_nfa(experiment: Experiment) -> Judgement:
    rows = hidden_cosines(experiment)
    fact = rows.query("relation == 'fact'").set_index("seed").cosine
    nfa = rows.query("relation == 'nfa'")
    by_power = nfa.groupby("power").cosine.mean()
    ours = ", ".join(f"s = {power:g}: {value:.3f}" for power, value in by_power.items()) + " (mean over seeds)"
    return Judgement(ours, grade([row.cosine <= fact[row.seed] - FIG7_NFA_GAP for row in nfa.itertuples()]))


# ---------------------------------------------------------------------------------------------
# Figures 3 and 4

PARITY_ACCURACY = 0.95
PARITY_SHARE = 0.5
TRANSITION_START, TRANSITION_END = 0.65, 0.9
TRANSITION_SHARE = 0.5  # of the whole rise, in one iteration: "sharp"


def final_iteration(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.iteration == table.iteration.max()]


def parity_learned(experiment: Experiment) -> Judgement:
    table = experiment.table
    if "fig3" in set(table.experiment):
        table = table[table.experiment == "fig3"]
    parts, checks = [], []
    for (k, method), rows in table.groupby(["k", "method"]):
        final = final_iteration(rows)
        accuracy = final.query("split == 'test' and metric == 'accuracy'").value
        share = final.query("metric == 'support_share'").value
        checks += [a >= PARITY_ACCURACY and s >= PARITY_SHARE for a, s in zip(accuracy, share)]
        parts.append(f"k = {k} {LABELS.get(method, method)}: {accuracy.mean():.3f} ({share.mean():.2f})")
    return Judgement("; ".join(parts), grade(checks))


def parity_transition(experiment: Experiment) -> Judgement:
    table = experiment.table
    if "fig4" not in set(table.experiment):
        return Judgement("", NOT_RUN)
    rows = table[(table.experiment == "fig4") & (table.split == "test") & (table.metric == "accuracy")]
    parts, checks = [], []
    for method, by_method in rows.groupby("method"):
        curve = by_method.groupby("iteration").value.mean()
        rise = curve.iloc[-1] - curve.iloc[0]
        checks.append(curve.iloc[0] <= TRANSITION_START and curve.iloc[-1] >= TRANSITION_END
                      and curve.diff().max() >= TRANSITION_SHARE * rise)
        parts.append(f"{LABELS.get(method, method)}: " + " → ".join(f"{a:.2f}" for a in curve))
    k, n = rows.k.iloc[0], rows.n.iloc[0]
    return Judgement(f"k = {k}, n = {n}, mean test accuracy by iteration: " + "; ".join(parts), grade(checks))


# ---------------------------------------------------------------------------------------------
# Figures 5 and 6

GROKKED, DELAY = 0.99, 5
CIRCULANT = 0.1
TAU_R2 = 0.95


def runs(experiment: Experiment):
    return experiment.table.groupby(["run", "seed"])


def grokking(experiment: Experiment) -> Judgement:
    parts, checks = [], []
    for (run, seed), rows in runs(experiment):
        test = rows.query("split == 'test' and metric == 'accuracy'").set_index("iteration").value
        train = rows.query("split == 'train' and metric == 'accuracy'").set_index("iteration").value
        reached = test[test >= GROKKED]
        perfect_train = train[train >= 1.0]
        if reached.empty or perfect_train.empty:
            checks.append(False)
            parts.append(f"{run} seed {seed}: test {test.iloc[-1]:.3f} at the end")
            continue
        delay = reached.index[0] - perfect_train.index[0]
        checks.append(test.iloc[-1] >= GROKKED and delay >= DELAY)
        parts.append(f"{run} seed {seed}: ≥ {GROKKED:.0%} test at iteration {reached.index[0]}, "
                     f"100% train from {perfect_train.index[0]}")
    return Judgement("; ".join(parts), grade(checks))


def circulant(experiment: Experiment) -> Judgement:
    parts, checks = [], []
    for (run, seed), rows in runs(experiment):
        deviation = final_iteration(rows).query("metric == 'circulant_deviation'").value.iloc[0]
        checks.append(deviation <= CIRCULANT)
        parts.append(f"{run} seed {seed}: {deviation:.3f}")
    return Judgement("circulant deviation of the final M's off-diagonal block: " + "; ".join(parts), grade(checks))


def tau_proportional(experiment: Experiment) -> Judgement:
    parts, checks = [], []
    for saved in experiment.extra:
        if "tau" not in saved:
            continue
        _, r2 = fit_through_origin(saved["k_prime"].double().numpy(), saved["tau"].double().numpy())
        checks.append(r2 >= TAU_R2)
        parts.append(f"{saved['settings']['run']} seed {saved['settings']['seed']}: R² = {r2:.3f}")
    return Judgement("; ".join(parts), grade(checks))


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
    screened = screen(experiment.table, ["dataset", "seed", "layer"], "epoch",
                      converged_below(experiment.trained_with), "layers (of every dataset and seed)")
    return judged_at_critical_points(screened, judge)


def fact_beats_nfa(experiment: Experiment, fact: str, nfa: str, enfa: str, side: str) -> Judgement:
    def judge(table: pd.DataFrame) -> Judgement:
        final = at_final_epoch(mlp_means(table, (fact, nfa, enfa)))
        parts, checks = [], []
        for dataset, rows in final.groupby("dataset"):
            better = rows[fact] >= rows[[nfa, enfa]].max(axis=1)
            checks += list(better & (rows[fact] >= MLP_FINAL)) if side == "backward" else list(better)
            parts.append(f"{dataset}: {int(better.sum())} of {len(rows)} layers; mean over layers {fact} "
                         f"{rows[fact].mean():.3f}, {nfa} {rows[nfa].mean():.3f}, {enfa} {rows[enfa].mean():.3f}")
        return Judgement("; ".join(parts), grade(checks))
    return mlp_at_critical_points(experiment, judge)


def fig2(experiment: Experiment) -> Judgement:
    return fact_beats_nfa(experiment, "fact", "nfa", "enfa", "forward")


def fig9_10(experiment: Experiment) -> Judgement:
    return fact_beats_nfa(experiment, "bfact", "bnfa", "benfa", "backward")


def fig8(experiment: Experiment) -> Judgement:
    def judge(table: pd.DataFrame) -> Judgement:
        means = mlp_means(table, ("fact",)).reset_index()
        parts, checks = [], []
        for (dataset, layer), rows in means.groupby(["dataset", "layer"]):
            rows = rows.sort_values("epoch")
            final, earlier = rows.fact.iloc[-1], rows.fact.iloc[:-1]
            checks.append(final >= MLP_FINAL and not earlier.empty and earlier.min() <= final - MLP_EARLY_GAP)
        for dataset, rows in means.groupby("dataset"):
            last = rows.epoch.max()
            parts.append(f"{dataset}: mean over layers {rows[rows.epoch == last].fact.mean():.3f} at epoch {last}, "
                         f"lowest earlier {rows[rows.epoch < last].groupby('epoch').fact.mean().min():.3f}")
        return Judgement("; ".join(parts), grade(checks))
    return mlp_at_critical_points(experiment, judge)


# ---------------------------------------------------------------------------------------------
# Figure 11

POWER_TOLERANCE = 0.05
DEEP_LINEAR_FACT = 0.99


def fig11_power(experiment: Experiment) -> Judgement:
    best = best_powers(experiment.table)
    checks = [abs(power - 1 / depth) <= POWER_TOLERANCE for depth, power in best.items()]
    return Judgement(", ".join(f"L = {depth}: {power:.3f} (1/L = {1 / depth:.3f})" for depth, power in best.items()),
                     grade(checks))


def fig11_fact(experiment: Experiment) -> Judgement:
    screened = screen(experiment.table.query("relation == 'fact'"), ["depth", "seed", "layer"], None,
                      converged_below(experiment.trained_with), "layers (of every depth and seed)")

    def judge(fact: pd.DataFrame) -> Judgement:
        return Judgement(f"Pearson(WᵀW, FACT) {fact.pearson.min():.4f} to {fact.pearson.max():.4f}",
                         grade([value >= DEEP_LINEAR_FACT for value in fact.pearson]))
    return judged_at_critical_points(screened, judge)


# ---------------------------------------------------------------------------------------------
# Figures 12 and 13 (beyond the paper): a transformer and a CNN, with decay in the objective and decoupled

TRAINED_FACT = 0.9  # the transformer's and the CNN's


def final_correlations(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of Pearson with W^T W at each optimiser's last step: rows (optimiser, matrix),
    columns fact, nfa (AGOP^(1/2)) and enfa."""
    rows = table[(table.side == "forward") & (table.power.isna() | np.isclose(table.power.fillna(NFA_POWER), NFA_POWER))]
    rows = rows[rows.step == rows.groupby("optimiser").step.transform("max")]
    return rows.groupby(["optimiser", "layer", "relation"]).pearson.mean().unstack("relation")


def trained_at_critical_points(table: pd.DataFrame, judge: Callable[[pd.DataFrame], Judgement]) -> Judgement:
    """``judge`` on the (optimiser, seed, matrix)s whose last step is at a critical point."""
    screened = screen(table, ["optimiser", "seed", "layer"], "step", converged_below([]),
                      "matrices (of every optimiser and seed)")
    return judged_at_critical_points(screened, judge)


def fact_at_adam_l2s_end(experiment: Experiment) -> Judgement:
    table = experiment.table
    if "adam_l2" not in set(table.get("optimiser", ())):
        return Judgement("no Adam-L2 run", NOT_RUN)

    def judge(rows: pd.DataFrame) -> Judgement:
        fact = final_correlations(rows).loc["adam_l2", "fact"]
        return Judgement(f"Pearson(WᵀW, FACT) {fact.min():.3f} to {fact.max():.3f} over {len(fact)} matrices",
                         grade(list(fact >= TRAINED_FACT)))
    return trained_at_critical_points(table[table.optimiser == "adam_l2"], judge)


def fact_beats_nfa_at_the_end(experiment: Experiment) -> Judgement:
    def judge(rows: pd.DataFrame) -> Judgement:
        final = final_correlations(rows)
        better = final.fact >= final[["nfa", "enfa"]].max(axis=1)
        parts = [f"{optimiser}: {int(better[optimiser].sum())} of {len(better[optimiser])} matrices; mean FACT "
                 f"{part.fact.mean():.3f}, NFA {part.nfa.mean():.3f}, eNFA {part.enfa.mean():.3f}"
                 for optimiser, part in final.groupby(level="optimiser")]
        return Judgement("; ".join(parts), grade(list(better)))
    return trained_at_critical_points(experiment.table, judge)


# ---------------------------------------------------------------------------------------------
# Figure 14 (beyond the paper): every trained layer, FACT against stationarity


def fig14(experiment: Experiment) -> Judgement:
    table, below = experiment.table, converged_below(experiment.trained_with)
    near = table[table.stationarity_error <= below]
    if near.empty:
        return Judgement(f"none of the {len(table)} layer states at stationarity error ≤ {below:g} (smallest "
                         f"{table.stationarity_error.min():.2g}); train longer, raise the weight decay or polish",
                         NOT_CRITICAL)
    agree = near.fact >= FACT_LEVEL
    return Judgement(f"Pearson(WᵀW, FACT) ≥ {FACT_LEVEL} wherever the stationarity error is ≤ "
                     f"{holds_below(table):.3g}; at ≤ {below:g}: {int(agree.sum())} of {len(near)} layer states "
                     f"(lowest {near.fact.min():.3f}), from {', '.join(sorted(near.architecture.unique()))}",
                     grade(list(agree)))


AT_CRITICAL = (". Only layers at a critical point at the end are judged: stationarity error ≤ the runs' converged_below "
               "(0.2 where they set none); \"not at a critical point\" where none is")

CLAIMS = [
    Claim("tabular", "Table 1", "Mean accuracy over the UCI-121 datasets",
          "FACT-RFM 85.22, FACT-RFM' 84.99, NFA-RFM 85.10, Laplace 83.71",
          f"holds if every mean is within {MEANS_TOLERANCE:g} point of the paper's, partly if some are; "
          "not run on data other than UCI-121", table1_means),
    Claim("tabular", "Table 1", "Each feature-learning RFM beats Laplace kernel regression (mean accuracy)",
          "FACT-RFM +1.51, FACT-RFM' +1.28, NFA-RFM +1.39",
          "holds if all three means exceed Laplace's, partly if some do", table1_beats_laplace),
    Claim("fig7", "Figure 7", "FACT holds on the adversarial two-layer quadratic network",
          "cosine(WᵀW, FACT) = 0.994",
          f"holds if cosine(WᵀW, FACT) ≥ {FIG7_FACT_COSINE} on every seed, partly on some" + AT_CRITICAL, fig7_fact),
    Claim("fig7", "Figure 7", "…while every NFA prediction AGOP^s is far from WᵀW",
          "much lower cosine (value lost)",
          f"holds if every cosine(WᵀW, AGOP^s) is at least {FIG7_NFA_GAP} below FACT's on the same seed, "
          "partly if some are", fig7_nfa),
    Claim("parity", "Figures 3-4", "NFA-RFM and FACT-RFM' learn sparse parities of k = 2, 3, 4",
          "learned, M concentrated on the support",
          f"holds if every method, k and seed ends with test accuracy ≥ {PARITY_ACCURACY} and ≥ {PARITY_SHARE:.0%} "
          "of diag(M) on the support (Figure 3's runs), partly if some do", parity_learned),
    Claim("parity", "Figure 4", "A phase transition: test accuracy jumps sharply over the iterations",
          "sharp jump (k = 4, n = 25,000)",
          f"holds if for both methods the mean test accuracy starts ≤ {TRANSITION_START} (chance 0.5), ends ≥ "
          f"{TRANSITION_END}, and rises by at least {TRANSITION_SHARE:.0%} of that in one iteration; partly for one",
          parity_transition),
    Claim("modular", "Figure 5", "RFMs grok modular addition: 100% test accuracy after a delay",
          "100% test accuracy, reached well after 100% train",
          f"holds if every run and seed ends with test accuracy ≥ {GROKKED:.0%}, reached ≥ {DELAY} iterations after "
          "100% train accuracy; partly if some do", grokking),
    Claim("modular", "Figure 5", "The learned feature matrices are block-circulant",
          "block-circulant (deviation 0; noise ≈ 0.98)",
          f"holds if the final circulant deviation is ≤ {CIRCULANT} for every run and seed, partly for some",
          circulant),
    Claim("modular", "Figure 6", "τ(x_i, M, x_j) is proportional to k′(x_iᵀ M x_j)",
          "good proportional fit (R² = 0.987, unverified)",
          f"holds if the fit through the origin has R² ≥ {TAU_R2} for every seed, partly for some", tau_proportional),
    Claim("mlp", "Figure 2", "Per layer, FACT correlates with WᵀW at least as well as the NFA and eNFA",
          "FACT generally highest, ≈ 1 at convergence (MNIST, CIFAR-10)",
          "holds if, at the last epoch and averaged over seeds, Pearson(WᵀW, FACT) ≥ both AGOP^½'s and eNFA's in "
          "every layer of every dataset, partly in some" + AT_CRITICAL, fig2),
    Claim("mlp", "Figure 8", "FACT is low during training and near 1 at the end",
          "low for most epochs, ≈ 1 near interpolation",
          f"holds if in every layer Pearson(WᵀW, FACT) ends ≥ {MLP_FINAL} and was ≥ {MLP_EARLY_GAP} lower at an "
          "earlier kept epoch, partly in some" + AT_CRITICAL, fig8),
    Claim("mlp", "Figures 9-10", "The backward forms: bFACT matches W Wᵀ, at least as well as the backward NFA and eNFA",
          "as Figures 2 and 8, backwards",
          f"holds if at the last epoch Pearson(W Wᵀ, bFACT) ≥ {MLP_FINAL} and ≥ the backward AGOP^½'s and eNFA's in "
          "every layer, partly in some" + AT_CRITICAL, fig9_10),
    Claim("deep_linear", "Figure 11", "Deep linear networks: the best NFA power is 1/L",
          "s = 1/L",
          f"holds if the power maximising Pearson(W₁ᵀW₁, AGOP^s) is within {POWER_TOLERANCE} of 1/L at every depth, "
          "partly at some", fig11_power),
    Claim("deep_linear", "Figure 11", "FACT needs no power", "FACT holds exactly",
          f"holds if Pearson(WᵀW, FACT) ≥ {DEEP_LINEAR_FACT} in every layer, depth and seed, partly in some" + AT_CRITICAL,
          fig11_fact),
    Claim("transformer", "Figure 12 (ours)", "Transformer trained with Adam and L2 decay: FACT holds for every weight "
          "matrix (embedding, W_Q, W_K, W_V, W_O, MLP, unembedding)", "not in the paper",
          f"holds if at the last step Pearson(WᵀW, FACT) ≥ {TRAINED_FACT} for every matrix (mean over seeds), "
          "partly for some" + AT_CRITICAL, fact_at_adam_l2s_end),
    Claim("transformer", "Figure 12 (ours)", "Transformer, Adam-L2 and AdamW: FACT correlates with WᵀW at least as "
          "well as AGOP^½ and eNFA", "not in the paper",
          "holds if at the last step Pearson(WᵀW, FACT) ≥ both others' for every matrix and optimiser, partly for some" + AT_CRITICAL,
          fact_beats_nfa_at_the_end),
    Claim("cnn", "Figure 13 (ours)", "CNN trained with Adam and L2 decay: FACT holds for both convolutions (on "
          "their patches) and the head", "not in the paper",
          f"holds if at the last step Pearson(WᵀW, FACT) ≥ {TRAINED_FACT} for every layer (mean over seeds), "
          "partly for some" + AT_CRITICAL, fact_at_adam_l2s_end),
    Claim("cnn", "Figure 13 (ours)", "CNN, Adam-L2 and AdamW: FACT correlates with WᵀW at least as well as AGOP^½ "
          "and eNFA", "not in the paper",
          "holds if at the last step Pearson(WᵀW, FACT) ≥ both others' for every layer and optimiser, partly for some" + AT_CRITICAL,
          fact_beats_nfa_at_the_end),
    Claim("convergence", "Figure 14 (ours)", "FACT holds wherever a network is at a critical point, whatever its "
          "architecture and training", "the theorem's premise, not measured in the paper",
          f"holds if every layer state (layer, kept epoch or step, run; every architecture trained) with "
          f"stationarity error ≤ the runs' converged_below (0.2 where they set none) has Pearson(WᵀW, FACT) ≥ "
          f"{FACT_LEVEL}, partly if some do; the stationarity below which all do is stated", fig14),
]
