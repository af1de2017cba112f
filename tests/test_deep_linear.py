"""Figure 11's stages: a deep linear network reaches FACT exactly, and the NFA needs s = 1/L."""

from __future__ import annotations

import json

import pandas as pd

from fact.experiments.analysis import best_powers
from fact.experiments.io import read_parquet_metadata
from fact.experiments.plots.deep_linear import training_in_words
from fact.experiments.stages import extract_deep_linear, train_deep_linear
from fact.experiments.stages.extract_deep_linear import PowerGrid, power_grid


def test_the_power_grid_always_holds_one_over_each_depth():
    grid = power_grid(PowerGrid(min=0.1, max=1.0, count=4), [3, 7])
    assert round(1 / 3, 6) in grid and round(1 / 7, 6) in grid and grid == sorted(grid)


def test_a_trained_deep_linear_network_satisfies_fact_and_peaks_at_one_over_l(tmp_path):
    paths, trained_with = [], []
    for depth in (2, 3):
        settings = {
            "d": 5,
            "n": 512,
            "data_seed": 0,
            "depth": depth,
            "seed": 0,
            "device": "cpu",
            "scale": "quick",
            "train": {
                "epochs": 1500,
                "batch_size": 128,
                "lr": 0.02,
                "weight_decay": 5e-3,
                "momentum": 0.9,
                "final_lr_ratio": 0.0,
                "converged_below": 0.2,
                "polish_steps": 0,
            },
        }
        path = tmp_path / f"L{depth}.pt"
        train_deep_linear.main(["--settings", json.dumps(settings), "--out", str(path)])
        paths.append(str(path))
        trained_with.append(settings)
    table_path = tmp_path / "deep_linear.parquet"
    extract_deep_linear.main(
        [
            "--checkpoints",
            *paths,
            "--trained-with",
            json.dumps(trained_with),
            "--settings",
            json.dumps({"powers": {"min": 0.1, "max": 1.2, "count": 23}, "scale": "quick"}),
            "--table",
            str(table_path),
        ]
    )
    table = pd.read_parquet(table_path)
    fact = table[table.relation == "fact"]
    assert fact.pearson.min() > 0.999  # every layer, both depths
    best = best_powers(table)
    assert abs(best[2] - 0.5) < 0.03 and abs(best[3] - 1 / 3) < 0.03
    # the caption states the settings these runs were trained with, read from the table
    trained_with = read_parquet_metadata(table_path)["trained_with"]
    assert len(trained_with) == 1  # both depths share everything else
    words = training_in_words(trained_with[0])
    assert "d = 5, n = 512 points" in words and "1500 epochs in batches of 128" in words
    assert "momentum 0.9" in words and "weight decay λ = 0.005" in words
