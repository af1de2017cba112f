"""Figure 14's table: every trained layer's FACT and NFA agreement beside its stationarity error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fact.experiments.convergence import holds_below, points
from fact.experiments.io import read_parquet, read_parquet_metadata, write_parquet
from fact.experiments.plots.convergence import render_fig14
from fact.experiments.plots.style import caption_path
from fact.experiments.scorecard import our_claims
from fact.experiments.scorecard.critical import NOT_CRITICAL
from fact.experiments.scorecard.results import Experiment
from fact.experiments.scorecard.verdicts import HOLDS, PARTLY
from fact.experiments.stages import convergence


def extraction(
    keys: dict, states: list[int], state: str, errors: list[float], facts: list[float], tau: bool
) -> pd.DataFrame:
    """An extraction table: per state, FACT, two NFA powers and a backward row, one layer."""
    rows = []
    for step, error, fact in zip(states, errors, facts):
        common = {
            **keys,
            state: step,
            "layer": "w1",
            "stationarity_error": error,
            "scale": "quick",
            **({"tau": step / 10} if tau else {}),
        }
        rows += [
            {**common, "side": "forward", "relation": "fact", "power": np.nan, "pearson": fact},
            {**common, "side": "forward", "relation": "nfa", "power": 0.25, "pearson": 0.1},
            {**common, "side": "forward", "relation": "nfa", "power": 0.52, "pearson": 0.7},
            {**common, "side": "backward", "relation": "bfact", "power": np.nan, "pearson": -1.0},
        ]
    return pd.DataFrame(rows)


def tables() -> dict[str, pd.DataFrame]:
    return {
        "mlp": extraction(
            {"dataset": "digits", "seed": 0}, [0, 10, 20], "epoch", [3.0, 0.5, 0.1], [0.2, 0.9, 0.99], tau=True
        ),
        "transformer": extraction(
            {"optimiser": "adam_l2", "seed": 1}, [0, 100], "step", [0.9, 0.01], [0.4, 0.999], tau=False
        ),
    }


def test_one_point_per_layer_state_with_the_nfa_at_the_power_nearest_a_half():
    table = points(tables())
    assert len(table) == 5 and set(table.architecture) == {"ReLU MLP", "transformer"}
    assert (table.nfa == 0.7).all() and (table.nfa_power == 0.52).all()
    mlp = table[table.architecture == "ReLU MLP"].set_index("state")
    assert mlp.loc[10, "fact"] == 0.9 and mlp.loc[10, "stationarity_error"] == 0.5 and mlp.loc[20, "tau"] == 2.0
    assert table[table.architecture == "transformer"].tau.isna().all() and set(table.run) == {"digits 0", "adam_l2 1"}


def test_fact_holds_below_the_first_stationarity_where_it_misses():
    table = points(tables())  # (error, FACT): (0.01, .999) (0.1, .99) (0.5, .9) (0.9, .4) (3, .2)
    assert holds_below(table) == 0.1
    assert holds_below(table, level=0.5) == 0.5
    assert holds_below(table, level=0.9995) == 0.0
    assert holds_below(table[table.fact > 0.95]) == 0.1


def test_the_stage_and_the_figure(tmp_path):
    paths = []
    for name, table in tables().items():
        paths.append(tmp_path / f"{name}.parquet")
        write_parquet(table, paths[-1], {"trained_with": [{"train": {"converged_below": 0.3}}]})
    out = tmp_path / "convergence.parquet"
    convergence.main(["--inputs", *map(str, paths), "--table", str(out)])
    assert len(read_parquet(out)) == 5 and len(read_parquet_metadata(out)["trained_with"]) == 2
    render_fig14(out, out=tmp_path / "fig14.pdf")
    caption = caption_path(tmp_path / "fig14.pdf").read_text(encoding="utf-8")
    assert "5 layer states" in caption and "stationarity error ≤ 0.1 (dotted line; 2 states)" in caption
    with pytest.raises(SystemExit, match="not an extraction table"):
        convergence.main(["--inputs", str(tmp_path / "fig14.pdf"), "--table", str(out)])


def test_figure_14s_claim_is_judged_at_critical_points_only():
    table = points(tables())
    judged = our_claims.fig14(Experiment(table, [{}], trained_with=[{"train": {"converged_below": 0.2}}]))
    assert judged.verdict == HOLDS and "wherever the stationarity error is ≤ 0.1" in judged.ours
    assert (
        our_claims.fig14(Experiment(table, [{}], trained_with=[{"train": {"converged_below": 0.6}}])).verdict == PARTLY
    )
    far = our_claims.fig14(Experiment(table[table.stationarity_error > 0.2], [{}]))
    assert far.verdict == NOT_CRITICAL and "smallest 0.5" in far.ours
