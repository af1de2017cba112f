"""Figure 11's stages: a deep linear network reaches FACT exactly, and the NFA needs s = 1/L."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fact.experiments.analysis import best_powers
from fact.experiments.data.synthetic import linear_teacher
from fact.experiments.io import load_torch, read_parquet_metadata, save_torch
from fact.experiments.models import deep_linear
from fact.experiments.plots.deep_linear import training_in_words
from fact.experiments.stages import extract_deep_linear, train_deep_linear
from fact.experiments.stages.extract_deep_linear import PowerGrid, power_grid
from fact.features.matrices import feature_matrices


def test_the_power_grid_always_holds_one_over_each_depth():
    grid = power_grid(PowerGrid(min=0.1, max=1.0, count=4), [3, 7])
    assert round(1 / 3, 6) in grid and round(1 / 7, 6) in grid and grid == sorted(grid)


def test_a_trained_deep_linear_network_satisfies_fact_and_peaks_at_one_over_l(tmp_path):
    paths, trained_with = [], []
    for depth in (2, 3):
        settings = run_settings(depth, d=5, n=512, epochs=1500, batch_size=128)
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


def run_settings(depth: int, d: int, n: int, epochs: int, batch_size: int) -> dict:
    """A deep linear training job's settings."""
    return {
        "d": d,
        "n": n,
        "data_seed": 0,
        "depth": depth,
        "seed": 0,
        "device": "cpu",
        "scale": "quick",
        "train": {
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": 0.02,
            "weight_decay": 5e-3,
            "momentum": 0.9,
            "final_lr_ratio": 0.0,
            "converged_below": 0.2,
            "polish_steps": 0,
        },
    }


def extracted(checkpoint: Path, settings: dict, table: Path) -> pd.DataFrame:
    extract_deep_linear.main(
        [
            "--checkpoints",
            str(checkpoint),
            "--trained-with",
            json.dumps([settings]),
            "--settings",
            json.dumps({"powers": {"min": 0.5, "max": 1.0, "count": 2}, "scale": "quick"}),
            "--table",
            str(table),
        ]
    )
    return pd.read_parquet(table).query("relation == 'fact'").set_index("layer")


def test_the_extraction_uses_the_loss_and_lambda_the_checkpoint_records(tmp_path):
    settings = run_settings(2, d=4, n=64, epochs=5, batch_size=32)
    trained = tmp_path / "L2.pt"
    train_deep_linear.main(["--settings", json.dumps(settings), "--out", str(trained)])
    checkpoint = load_torch(trained)
    assert checkpoint["objective"] == {"loss": "mse", "weight_decay": 5e-3}
    # the same network, recorded as trained on the other loss with another lambda
    other = tmp_path / "other.pt"
    save_torch({**checkpoint, "objective": {"loss": "ce", "weight_decay": 0.02}}, other)

    as_trained = extracted(trained, settings, tmp_path / "a.parquet")
    as_recorded = extracted(other, settings, tmp_path / "b.parquet")

    X, Y, _ = linear_teacher(4, 64, 0)
    model = deep_linear(4, 2).double()
    model.load_state_dict(max(checkpoint["checkpoints"].items())[1])
    for loss, weight_decay, table in (("mse", 5e-3, as_trained), ("ce", 0.02, as_recorded)):
        for layer in feature_matrices(model, X.double(), Y.double(), loss, weight_decay).values():
            (record,) = [r for r in layer.agreement((0.5,)) if r["relation"] == "fact" and r["side"] == "forward"]
            assert table.loc[layer.name, "pearson"] == pytest.approx(record["pearson"], rel=1e-12)
            assert table.loc[layer.name, "stationarity_error"] == pytest.approx(record["stationarity_error"], rel=1e-12)
    assert not np.allclose(as_trained.pearson, as_recorded.pearson)


def test_a_checkpoint_that_does_not_record_its_objective_is_refused(tmp_path):
    settings = run_settings(2, d=4, n=64, epochs=1, batch_size=32)
    trained = tmp_path / "L2.pt"
    train_deep_linear.main(["--settings", json.dumps(settings), "--out", str(trained)])
    checkpoint = load_torch(trained)
    del checkpoint["objective"]
    save_torch(checkpoint, trained)
    with pytest.raises(SystemExit, match=rf"{trained} does not record the objective it was trained on"):
        extracted(trained, settings, tmp_path / "a.parquet")
