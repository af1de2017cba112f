"""The RFM experiments' data, metrics and stages, on tiny settings."""

from __future__ import annotations

import json
import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from fact.experiments.analysis import fit_through_origin
from fact.experiments.data.modular import modular_addition
from fact.experiments.data.parity import sparse_parity
from fact.experiments.io import load_torch
from fact.experiments.job_settings import from_json
from fact.experiments.plots import style
from fact.experiments.plots.modular import render_fig5, render_fig6
from fact.experiments.plots.parity import render_fig3
from fact.experiments.stages import rfm_modular, rfm_parity


def test_sparse_parity_labels_follow_the_support():
    X, y, X_test, y_test, support = sparse_parity(200, 10, 3, seed=4, n_test=50)
    assert X.shape == (200, 10) and X_test.shape == (50, 10) and len(support) == 3
    assert set(X.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(y, (X[:, support].prod(1) > 0).long())
    again = sparse_parity(200, 10, 3, seed=4, n_test=50)
    assert torch.equal(again[0], X) and torch.equal(again[4], support)
    with pytest.raises(ValueError, match="k must lie in 1..d=10"):
        sparse_parity(10, 10, 11, seed=0)


def test_modular_addition_covers_every_pair_once():
    X, y, X_test, y_test = modular_addition(7, 0.5, seed=1)
    assert len(X) == 24 and len(X_test) == 25
    everything = torch.cat([X, X_test])
    assert len({tuple(row.tolist()) for row in everything}) == 49
    a, b = everything[:, :7].argmax(1), everything[:, 7:].argmax(1)
    assert torch.equal(torch.cat([y, y_test]), (a + b) % 7)


def test_circulant_deviation_is_zero_exactly_for_circulants():
    c = torch.randn(11, dtype=torch.float64)
    index = torch.arange(11)
    circulant = c[(index[None, :] - index[:, None]) % 11]
    hankel = c[(index[None, :] + index[:, None]) % 11]
    assert rfm_modular.circulant_deviation(circulant) < 1e-14
    assert rfm_modular.circulant_deviation(hankel) < 1e-14
    assert rfm_modular.circulant_deviation(torch.randn(11, 11, dtype=torch.float64)) > 0.5


def test_fit_through_origin():
    x = np.linspace(-1, 2, 50)
    slope, r2 = fit_through_origin(x, 3 * x)
    assert slope == pytest.approx(3) and r2 == pytest.approx(1)
    assert fit_through_origin(x, 3 * x + 1)[1] < 1


def test_parity_stage_records_every_iteration_and_method(tmp_path):
    settings = {
        "experiment": "fig4",
        "d": 8,
        "k": 2,
        "n": 300,
        "n_test": 100,
        "seed": 0,
        "device": "cpu",
        "dtype": "float64",
        "kernel": {"name": "gaussian", "bandwidth": 3.0},
        "reg": 1e-3,
        "iters": 2,
        "methods": {"nfa": {"update": "nfa", "normalisation": "max"}, "fact_geom": {"update": "fact_geom"}},
        "scale": "quick",
    }
    table, matrices = rfm_parity.run(from_json(rfm_parity.ParitySettings, settings), logging.getLogger("test"))
    assert set(table.method) == {"nfa", "fact_geom"} and set(table.task) == {"sparse_parity"}
    assert set(table.split) == {"train", "test", "features"}
    assert table.groupby("method").iteration.max().tolist() == [2, 2]
    assert matrices["fact_geom"].shape == (3, 8, 8)
    share = table.query("metric == 'support_share' and iteration == 0").value
    assert np.allclose(share, 2 / 8)  # M_0 = I spreads the diagonal evenly


def test_modular_stage_writes_its_table_and_tau_pairs(tmp_path):
    settings = {
        "p": 7,
        "train_fraction": 0.6,
        "seed": 0,
        "run": "fact_geom_quadratic",
        "method": {"update": "fact_geom"},
        "kernel": {"name": "quadratic"},
        "reg": 0.0,
        "iters": 2,
        "pairs": 50,
        "device": "cpu",
        "dtype": "float64",
        "scale": "quick",
    }
    table_path, matrices_path = tmp_path / "t.parquet", tmp_path / "m.pt"
    rfm_modular.main(["--settings", json.dumps(settings), "--table", str(table_path), "--matrices", str(matrices_path)])
    table = pd.read_parquet(table_path)
    assert {"task", "run", "method", "kernel", "seed", "iteration", "split", "metric", "value"} <= set(table.columns)
    assert set(table.run) == {"fact_geom_quadratic"} and set(table.method) == {"fact_geom"}
    assert {"circulant_deviation", "alignment_with_final", "accuracy", "mse"} <= set(table.metric)
    final = table.query("metric == 'alignment_with_final'").sort_values("iteration").value.iloc[-1]
    assert final == pytest.approx(1.0)
    saved = load_torch(matrices_path)
    assert saved["matrices"].shape == (3, 14, 14)
    assert saved["tau"].shape == saved["k_prime"].shape == (50,)


def test_figures_5_and_6_draw_every_seed(tmp_path, monkeypatch):
    paths = []
    for run, kernel, method in (
        ("nfa", {"name": "gaussian", "bandwidth": 2.5}, {"update": "nfa", "centre": True}),
        ("fact_geom_quadratic", {"name": "quadratic"}, {"update": "fact_geom"}),
    ):
        for seed in (0, 1):
            settings = {
                "p": 7,
                "train_fraction": 0.6,
                "seed": seed,
                "run": run,
                "method": method,
                "kernel": kernel,
                "reg": 0.0,
                "iters": 2,
                "pairs": 50,
                "device": "cpu",
                "dtype": "float64",
                "scale": "quick",
            }
            table, matrices = tmp_path / f"{run}_seed{seed}.parquet", tmp_path / f"{run}_seed{seed}.pt"
            rfm_modular.main(["--settings", json.dumps(settings), "--table", str(table), "--matrices", str(matrices)])
            paths += [str(table), str(matrices)]
    captions = []
    monkeypatch.setattr(style, "caption", lambda figure, text: captions.append(text))
    render_fig5(*paths, out=tmp_path / "fig5.pdf")
    assert "split seeds 0, 1" in captions[-1] and "final test accuracy per seed" in captions[-1]
    render_fig6(*paths, out=tmp_path / "fig6.pdf")
    assert "(seed 0)" in captions[-1] and "(seed 1)" in captions[-1]


def test_figure_3_names_the_seed_of_each_panel_when_there_are_several(tmp_path, monkeypatch):
    paths = []
    for seed in (0, 1):
        settings = {
            "experiment": "fig3",
            "d": 8,
            "k": 2,
            "n": 200,
            "n_test": 100,
            "seed": seed,
            "device": "cpu",
            "dtype": "float64",
            "kernel": {"name": "gaussian", "bandwidth": 3.0},
            "reg": 1e-3,
            "iters": 1,
            "methods": {"nfa": {"update": "nfa"}, "fact_geom": {"update": "fact_geom"}},
            "scale": "quick",
        }
        table, matrices = tmp_path / f"k2_seed{seed}.parquet", tmp_path / f"k2_seed{seed}.pt"
        rfm_parity.main(["--settings", json.dumps(settings), "--table", str(table), "--matrices", str(matrices)])
        paths += [str(table), str(matrices)]
    titles = []
    real_subplots = plt.subplots

    def recording_subplots(*args, **kwargs):
        figure, axes = real_subplots(*args, **kwargs)
        titles.append(axes)
        return figure, axes

    monkeypatch.setattr(plt, "subplots", recording_subplots)
    render_fig3(*paths, out=tmp_path / "fig3.pdf")
    shown = [axis.get_title() for axis in titles[-1].ravel()]
    assert len(shown) == 4 and sum("seed 0" in t for t in shown) == 2 and sum("seed 1" in t for t in shown) == 2
