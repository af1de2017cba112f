"""The scorecard's rules: results that contradict a claim get a verdict that says so.

Each test builds the tidy table an experiment writes, once agreeing with the paper and once
contradicting it, and checks the verdict of that claim's rule.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from fact.experiments.io import write_parquet
from fact.experiments.scorecard import card, claims, network_claims, our_claims, results, rfm_claims
from fact.experiments.scorecard.context import differences
from fact.experiments.scorecard.critical import NOT_CRITICAL
from fact.experiments.scorecard.results import Experiment
from fact.experiments.scorecard.verdicts import FAILS, HOLDS, NOT_RUN, PARTLY
from fact.experiments.stages import scorecard as scorecard_stage


def tabular(accuracy: dict[str, float], source: str = "uci121", datasets: int = 3) -> Experiment:
    rows = [
        {"dataset": f"set{d}", "method": method, "fold": fold, "accuracy": value / 100, "status": "ok"}
        for d in range(datasets)
        for method, value in accuracy.items()
        for fold in range(2)
    ]
    return Experiment(pd.DataFrame(rows), settings=[{"source": source}])


PAPER_MEANS = {"fact": 85.22, "fact_geom": 84.99, "nfa": 85.10, "laplace": 83.71}


def test_table1_means_hold_near_the_papers_and_are_not_judged_on_other_data():
    assert rfm_claims.table1_means(tabular(PAPER_MEANS)).verdict == HOLDS
    assert rfm_claims.table1_means(tabular({**PAPER_MEANS, "nfa": 80.0})).verdict == PARTLY
    assert rfm_claims.table1_means(tabular({m: v - 5 for m, v in PAPER_MEANS.items()})).verdict == FAILS
    assert rfm_claims.table1_means(tabular(PAPER_MEANS, source="sklearn")).verdict == NOT_RUN


def test_laplace_beating_every_feature_learning_method_contradicts_table1():
    assert rfm_claims.table1_beats_laplace(tabular(PAPER_MEANS)).verdict == HOLDS
    worse = {"fact": 80.0, "fact_geom": 81.0, "nfa": 82.0, "laplace": 83.0}
    judgement = rfm_claims.table1_beats_laplace(tabular(worse))
    assert judgement.verdict == FAILS and "FACT-RFM -3.00" in judgement.ours
    assert rfm_claims.table1_beats_laplace(tabular(PAPER_MEANS, source="sklearn")).verdict == NOT_RUN


def test_a_margin_over_laplace_inside_the_noise_of_the_datasets_is_no_win():
    experiment = tabular(PAPER_MEANS, datasets=4)
    laplace = experiment.table.method == "laplace"
    spread = experiment.table.dataset.map({"set0": 0.03, "set1": -0.03, "set2": 0.025, "set3": -0.02})
    experiment.table.loc[laplace, "accuracy"] = 0.85 + spread[laplace]  # FACT-RFM about +0.2 points, give or take 3
    judgement = rfm_claims.table1_beats_laplace(experiment)
    assert judgement.verdict == FAILS and "± " in judgement.ours and "over 4 datasets" in judgement.ours


def fig7(fact_cosines: list[float], nfa_cosine: float, stationarity: float = 1e-6) -> Experiment:
    rows = []
    for seed, fact in enumerate(fact_cosines):
        rows.append(
            {"seed": seed, "layer": "hidden", "side": "forward", "relation": "fact", "power": np.nan, "cosine": fact}
        )
        rows += [
            {"seed": seed, "layer": "hidden", "side": "forward", "relation": "nfa", "power": s, "cosine": nfa_cosine}
            for s in (0.5, 1.0)
        ]
    return Experiment(pd.DataFrame(rows).assign(stationarity_error=stationarity), settings=[{}])


def test_figure7_verdicts_follow_the_cosines():
    assert network_claims.fig7_fact(fig7([0.999, 0.995], 0.4)).verdict == HOLDS
    assert network_claims.fig7_fact(fig7([0.999, 0.6], 0.4)).verdict == PARTLY
    assert network_claims.fig7_fact(fig7([0.7, 0.6], 0.4)).verdict == FAILS
    assert network_claims.fig7_nfa(fig7([0.999, 0.995], 0.4)).verdict == HOLDS
    assert network_claims.fig7_nfa(fig7([0.999, 0.995], 0.98)).verdict == FAILS  # the NFA as good as FACT


def parity(curves: dict[str, list[float]], share: float = 0.9, experiment: str = "fig4") -> Experiment:
    rows = []
    for method, curve in curves.items():
        for iteration, accuracy in enumerate(curve):
            rows.append(
                {"method": method, "iteration": iteration, "split": "test", "metric": "accuracy", "value": accuracy}
            )
            rows.append(
                {
                    "method": method,
                    "iteration": iteration,
                    "split": "features",
                    "metric": "support_share",
                    "value": share,
                }
            )
    table = pd.DataFrame(rows).assign(experiment=experiment, k=4, n=1000, d=20, seed=0)
    return Experiment(table, settings=[{"d": 20}])


def test_a_phase_transition_needs_a_sharp_jump_from_chance():
    sharp = [0.5, 0.52, 0.55, 0.98, 1.0]
    gradual = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert rfm_claims.parity_transition(parity({"nfa": sharp, "fact_geom": sharp})).verdict == HOLDS
    assert rfm_claims.parity_transition(parity({"nfa": sharp, "fact_geom": gradual})).verdict == PARTLY
    assert rfm_claims.parity_transition(parity({"nfa": gradual, "fact_geom": [0.5] * 5})).verdict == FAILS
    assert rfm_claims.parity_transition(parity({"nfa": sharp}, experiment="fig3")).verdict == NOT_RUN


def test_a_parity_learned_off_its_support_is_not_learned():
    learned = {"nfa": [0.5, 1.0], "fact_geom": [0.5, 1.0]}
    assert rfm_claims.parity_learned(parity(learned, share=0.9, experiment="fig3")).verdict == HOLDS
    assert rfm_claims.parity_learned(parity(learned, share=0.1, experiment="fig3")).verdict == FAILS


def modular(test_curve: list[float], deviation: float = 0.01) -> Experiment:
    rows = []
    for iteration, accuracy in enumerate(test_curve):
        rows += [
            {"iteration": iteration, "split": "train", "metric": "accuracy", "value": 1.0},
            {"iteration": iteration, "split": "test", "metric": "accuracy", "value": accuracy},
            {"iteration": iteration, "split": "features", "metric": "circulant_deviation", "value": deviation},
        ]
    return Experiment(pd.DataFrame(rows).assign(run="nfa", seed=0, p=7), settings=[{"p": 7}])


def test_grokking_needs_a_delay_and_full_test_accuracy():
    assert rfm_claims.grokking(modular([0.1] * 10 + [1.0] * 3)).verdict == HOLDS
    assert rfm_claims.grokking(modular([1.0] * 10)).verdict == FAILS  # no delay: generalised at once
    assert rfm_claims.grokking(modular([0.1] * 10)).verdict == FAILS  # never generalised
    assert rfm_claims.circulant(modular([1.0] * 3, deviation=0.9)).verdict == FAILS


def test_a_tau_that_is_not_proportional_to_k_prime_fails():
    generator = torch.Generator().manual_seed(0)
    k_prime = torch.rand(500, generator=generator, dtype=torch.float64)
    settings = {"run": "fact_geom_quadratic", "seed": 0}
    proportional = Experiment(
        pd.DataFrame(), [], extra=[{"tau": 3 * k_prime, "k_prime": k_prime, "settings": settings}]
    )
    unrelated = Experiment(
        pd.DataFrame(),
        [],
        extra=[
            {"tau": torch.rand(500, generator=generator, dtype=torch.float64), "k_prime": k_prime, "settings": settings}
        ],
    )
    assert rfm_claims.tau_proportional(proportional).verdict == HOLDS
    assert rfm_claims.tau_proportional(unrelated).verdict == FAILS


def mlp(
    final: dict[str, float], early_fact: float = 0.1, stationarity: float = 0.05, off: dict[str, float] | None = None
) -> Experiment:
    """Two layers' agreement at epochs 0 and 10; ``off``: linear2's at epoch 10 instead, far from a critical point."""
    rows = []
    for layer, (epoch, values) in itertools.product(("linear1", "linear2"), ((0, None), (10, final))):
        error = 5.0 if epoch == 0 else stationarity
        if off and layer == "linear2" and epoch == 10:
            values, error = off, 0.9
        for relation in ("fact", "nfa", "enfa", "bfact", "bnfa", "benfa"):
            value = values[relation] if values else (early_fact if relation == "fact" else 0.5)
            power = 0.5 if relation in ("nfa", "bnfa") else np.nan
            rows.append(
                {
                    "dataset": "digits",
                    "seed": 0,
                    "epoch": epoch,
                    "layer": layer,
                    "relation": relation,
                    "power": power,
                    "pearson": value,
                    "stationarity_error": error,
                    "tau": epoch / 4,
                }
            )
    return Experiment(
        pd.DataFrame(rows), settings=[{}], trained_with=[{"train": {"epochs": 10, "converged_below": 0.2}}]
    )


AGREEING = {"fact": 0.99, "nfa": 0.8, "enfa": 0.7, "bfact": 0.99, "bnfa": 0.6, "benfa": 0.5}


def test_an_nfa_closer_to_the_weights_than_fact_contradicts_figures_2_and_9():
    assert network_claims.fig2(mlp(AGREEING)).verdict == HOLDS
    assert network_claims.fig9_10(mlp(AGREEING)).verdict == HOLDS
    assert network_claims.fig2(mlp({**AGREEING, "fact": 0.5})).verdict == FAILS
    assert network_claims.fig9_10(mlp({**AGREEING, "bfact": 0.7, "bnfa": 0.95})).verdict == FAILS


def test_fact_high_from_the_start_contradicts_figure_8():
    assert network_claims.fig8(mlp(AGREEING, early_fact=0.1)).verdict == HOLDS
    assert network_claims.fig8(mlp(AGREEING, early_fact=0.95)).verdict == FAILS


def on_fashion_mnist(experiment: Experiment, epochs: int = 200, batch_size: int = 128) -> Experiment:
    """``experiment``'s runs as Fashion-MNIST's, trained for ``epochs`` of ``batch_size``."""
    train = {"epochs": epochs, "batch_size": batch_size, "converged_below": 0.2}
    table = experiment.table.assign(dataset="fashion_mnist")
    return Experiment(table, experiment.settings, [{"dataset": "fashion_mnist", "train": train}])


def test_the_paper_recipe_at_size_is_judged_on_fashion_mnist_alone_and_only_at_the_papers_recipe():
    judgement = our_claims.paper_recipe_at_size(on_fashion_mnist(mlp(AGREEING)))
    assert judgement.verdict == HOLDS and "fashion_mnist, 200 epochs of batch 128" in judgement.ours
    assert our_claims.paper_recipe_at_size(on_fashion_mnist(mlp({**AGREEING, "fact": 0.5}))).verdict == FAILS
    far = our_claims.paper_recipe_at_size(on_fashion_mnist(mlp(AGREEING, stationarity=0.5)))
    assert far.verdict == NOT_CRITICAL
    assert our_claims.paper_recipe_at_size(mlp(AGREEING)).verdict == NOT_RUN  # digits only
    shorter = our_claims.paper_recipe_at_size(on_fashion_mnist(mlp(AGREEING), epochs=40))
    assert shorter.verdict == NOT_RUN and "40 epochs of batch 128, not the paper's recipe" in shorter.ours


def trained(final: dict[str, dict[str, float]], stationarity: float = 0.01) -> Experiment:
    """Figure 12's or 13's table: per optimiser the last step's Pearson of each relation, and an early step."""
    rows = []
    for optimiser, values in final.items():
        for layer, step, relation in itertools.product(("conv1", "head"), (0, 100), ("fact", "nfa", "enfa")):
            rows.append(
                {
                    "optimiser": optimiser,
                    "seed": 0,
                    "step": step,
                    "layer": layer,
                    "side": "forward",
                    "relation": relation,
                    "power": 0.5 if relation == "nfa" else np.nan,
                    "pearson": values[relation] if step == 100 else 0.1,
                    "stationarity_error": stationarity if step == 100 else 3.0,
                }
            )
    return Experiment(pd.DataFrame(rows), settings=[{}])


TRAINED_AGREEING = {"adam_l2": {"fact": 1.0, "nfa": 0.9, "enfa": 0.8}, "adamw": {"fact": 0.95, "nfa": 0.9, "enfa": 0.8}}


def test_fact_off_at_adam_l2s_end_or_behind_the_nfa_contradicts_figures_12_and_13():
    agreeing = TRAINED_AGREEING
    assert our_claims.fact_at_adam_l2s_end(trained(agreeing)).verdict == HOLDS
    assert our_claims.fact_beats_nfa_at_the_end(trained(agreeing)).verdict == HOLDS
    off = {**agreeing, "adam_l2": {"fact": 0.3, "nfa": 0.9, "enfa": 0.8}}
    assert our_claims.fact_at_adam_l2s_end(trained(off)).verdict == FAILS
    assert our_claims.fact_beats_nfa_at_the_end(trained(off)).verdict == PARTLY  # AdamW's FACT still ahead
    assert our_claims.fact_at_adam_l2s_end(trained({"adamw": agreeing["adamw"]})).verdict == NOT_RUN


def deep_linear(best_power: dict[int, float], fact: float = 1.0, stationarity: float = 1e-3) -> Experiment:
    rows = []
    for depth, best in best_power.items():
        for power in (0.2, 0.25, 1 / 3, 0.5, 1.0):
            rows.append(
                {
                    "depth": depth,
                    "seed": 0,
                    "layer": "linear1",
                    "relation": "nfa",
                    "power": power,
                    "pearson": 1 - abs(power - best),
                }
            )
        rows.append(
            {
                "depth": depth,
                "seed": 0,
                "layer": "linear1",
                "relation": "fact",
                "power": np.nan,
                "pearson": fact,
                "stationarity_error": stationarity,
            }
        )
    return Experiment(pd.DataFrame(rows), settings=[{}], trained_with=[{"d": 4, "n": 10}])


def test_a_best_power_other_than_one_over_depth_contradicts_figure_11():
    assert network_claims.fig11_power(deep_linear({2: 0.5, 3: 1 / 3})).verdict == HOLDS
    assert network_claims.fig11_power(deep_linear({2: 1.0, 3: 1.0})).verdict == FAILS
    assert network_claims.fig11_fact(deep_linear({2: 0.5}, fact=0.5)).verdict == FAILS


FACT_RULES = {  # each rule that judges FACT, with results that would make it hold at a critical point
    "fig7": (network_claims.fig7_fact, lambda error: fig7([0.999, 0.995], 0.4, error)),
    "fig2": (network_claims.fig2, lambda error: mlp(AGREEING, stationarity=error)),
    "fig8": (network_claims.fig8, lambda error: mlp(AGREEING, stationarity=error)),
    "fig9_10": (network_claims.fig9_10, lambda error: mlp(AGREEING, stationarity=error)),
    "fig11": (network_claims.fig11_fact, lambda error: deep_linear({2: 0.5}, stationarity=error)),
    "fig12_13": (our_claims.fact_at_adam_l2s_end, lambda error: trained(TRAINED_AGREEING, error)),
    "fig12_13_nfa": (our_claims.fact_beats_nfa_at_the_end, lambda error: trained(TRAINED_AGREEING, error)),
}


@pytest.mark.parametrize("name", FACT_RULES)
def test_a_fact_claim_on_results_away_from_a_critical_point_says_so_and_what_to_change(name):
    rule, results = FACT_RULES[name]
    assert rule(results(0.01)).verdict == HOLDS
    judgement = rule(results(0.8))
    assert judgement.verdict == NOT_CRITICAL, name
    assert "largest 0.8" in judgement.ours and "≤ 0.2 needed" in judgement.ours and "polish" in judgement.ours
    missing = results(0.01)
    missing.table = missing.table.drop(columns="stationarity_error")
    assert rule(missing).verdict == NOT_CRITICAL and "rerun their extraction" in rule(missing).ours


COLUMN_OF_VERDICT = card.COLUMNS.index("verdict")


def test_only_the_layers_at_a_critical_point_are_judged():
    far_and_wrong = {**AGREEING, "fact": 0.2, "bfact": 0.2}
    for rule in (network_claims.fig2, network_claims.fig8, network_claims.fig9_10):
        judgement = rule(mlp(AGREEING, off=far_and_wrong))
        assert judgement.verdict == HOLDS and "judged on the 1 of 2 layers" in judgement.ours
        assert "the others' up to 0.9" in judgement.ours
        # the verdict says what it judged, and the left-out layer's values are shown
        assert judgement.scope == "on 1 of 2 layers (of every dataset and seed); 1 not at a critical point"
        assert "not judged, away from a critical point: " in judgement.ours
    left_out = network_claims.fig2(mlp(AGREEING, off=far_and_wrong)).ours.split("not judged")[1]
    assert "0.2" in left_out  # FACT's Pearson of the layer away from a critical point
    experiment = mlp(AGREEING, off=far_and_wrong)
    experiment.table["note"] = "synthetic"
    row = next(row for row in card.score({"quick": {"mlp": experiment}}) if row.figure.startswith("Figure 2"))
    assert row.cells()[COLUMN_OF_VERDICT].startswith("holds on 1 of 2 layers") and row.verdict == HOLDS
    # the same wrong layer at a critical point counts
    assert network_claims.fig2(mlp(far_and_wrong)).verdict == FAILS
    assert "τ = 2.50 at the end" in network_claims.fig2(mlp(AGREEING, stationarity=0.5)).ours


def test_a_converged_column_that_contradicts_the_stationarity_is_refused():
    claimed = mlp(AGREEING, stationarity=0.5)  # above converged_below 0.2 at the end
    claimed.table["converged"] = True
    with pytest.raises(ValueError, match="converged column contradicts its stationarity errors.*converged=True"):
        network_claims.fig2(claimed)
    honest = mlp(AGREEING, stationarity=0.5)
    honest.table["converged"] = False
    assert network_claims.fig2(honest).verdict == NOT_CRITICAL


def test_rows_for_each_scale_that_ran_and_one_not_run_row_for_an_experiment_never_run():
    rows = card.score(
        {"quick": {"deep_linear": deep_linear({2: 0.5})}, "paper": {"deep_linear": deep_linear({2: 1.0})}}
    )
    power_rows = [row for row in rows if row.claim == "Deep linear networks: the best NFA power is 1/L"]
    assert [(row.scale, row.verdict) for row in power_rows] == [("quick", HOLDS), ("paper", FAILS)]
    table1 = [row for row in rows if row.figure == "Table 1"]
    assert [row.verdict for row in table1] == [NOT_RUN, NOT_RUN] and all(row.scale == "" for row in table1)
    assert len(rows) == len(claims.CLAIMS) + 2


def test_settings_that_differ_from_the_papers_are_named():
    experiment = Experiment(
        pd.DataFrame(), settings=[{"d": 30, "kernel": {"name": "gaussian", "bandwidth": 5.0}, "iters": 5}]
    )
    assert differences("parity", experiment) == "d = 30 (paper: 50)"
    experiment.settings[0]["d"] = 50
    assert differences("parity", experiment) == "none of the paper's stated settings"


def test_the_stage_reads_files_from_their_places_and_writes_both_pages(tmp_path):
    quick = tmp_path / "results" / "quick" / "features" / "deep_linear.parquet"
    write_parquet(deep_linear({2: 1.0}).table, quick, {"settings": {}, "trained_with": [{"d": 4, "n": 10}]})
    markdown, page = tmp_path / "scorecard.md", tmp_path / "scorecard.html"
    scorecard_stage.main(["--inputs", str(quick), "--markdown", str(markdown), "--html", str(page)])
    text = markdown.read_text()
    assert "| Figure 11 | Deep linear networks: the best NFA power is 1/L |" in text
    assert "| quick |" in text and "does not hold" in text
    assert "<table>" in page.read_text() and "does not hold" in page.read_text()


def test_a_file_from_elsewhere_is_refused_with_what_to_give():
    with pytest.raises(ValueError, match="not under results/<scale>/"):
        results.classify("elsewhere/fig7.parquet")
    with pytest.raises(ValueError, match="not a result file the scorecard knows"):
        results.classify("results/quick/nets/mlp/digits_seed0.pt")
