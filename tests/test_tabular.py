"""The Table 1 protocol: hyperparameter selection, fold evaluation, the per-dataset stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fact.experiments import table1_protocol as tabular_protocol
from fact.experiments.data.protocol_splits import TabularDataset, load_sklearn
from fact.experiments.stages import table1_dataset as tabular_stage
from fact.experiments.table1_protocol import Protocol, Selection, evaluate, fold_accuracy, row_normalised, select
from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.rfm import RFM

FIXTURE = Path(__file__).parent / "fixtures" / "uci121"
LAPLACE = Kernel("laplace", 10.0)


def protocol(**changes) -> Protocol:
    settings = {
        "kernel": LAPLACE,
        "regs": (10.0, 1.0, 1e-3),
        "normalise": (True, False),
        "iters": 2,
        "dtype": "float64",
    }
    return Protocol(**{**settings, **changes})


def test_row_normalisation_leaves_zero_rows_alone(fresh_seed):
    X = np.random.default_rng(fresh_seed).normal(size=(5, 3))
    X[2] = 0
    normalised = row_normalised(X)
    assert np.allclose(np.linalg.norm(normalised[[0, 1, 3, 4]], axis=1), 1)
    assert (normalised[2] == 0).all()


def test_fold_accuracy_is_kernel_regression_with_the_given_matrix():
    data = load_sklearn("wine")
    train, test = data.folds[0]
    accuracy, solver = fold_accuracy(
        data.X[train],
        data.y[train],
        data.X[test],
        data.y[test],
        torch.eye(data.X.shape[1]),
        0.1,
        protocol(),
        data.n_classes,
    )
    model = RFM(kernel="laplace", bandwidth=10.0, reg=0.1, iters=0).fit(data.X[train], data.y[train])
    assert accuracy == pytest.approx(model.score(data.X[test], data.y[test]))
    assert solver == "cholesky"


def test_selection_breaks_ties_towards_the_first_grid_point():
    # three well-separated clusters: every setting classifies the validation rows perfectly
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    X = np.eye(3)[y] * 5 + 0.01 * rng.normal(size=(60, 3))
    order = rng.permutation(60)
    data = TabularDataset("blobs", X, y, 3, (order[:30], order[30:]), [(order[:45], order[45:])] * 4, "test")
    chosen = select(data, {"update": "nfa", "power": 1.0}, protocol())
    assert (chosen.reg, chosen.normalise, chosen.iteration, chosen.val_accuracy) == (10.0, True, 0, 1.0)
    assert torch.equal(chosen.M, torch.eye(3, dtype=torch.float64))


def test_kernel_regression_only_tries_iteration_zero():
    data = load_sklearn("iris")
    table = evaluate(data, "laplace", {"update": "none"}, protocol())
    assert (table.iteration == 0).all() and len(table) == 4
    assert table.accuracy.between(0.8, 1.0).all()


def test_refit_relearns_the_feature_matrix_on_each_fold(monkeypatch):
    data = load_sklearn("wine")
    chosen = Selection(
        reg=1e-3, normalise=False, iteration=2, val_accuracy=1.0, M=torch.full((13, 13), 7.0, dtype=torch.float64)
    )
    monkeypatch.setattr("fact.experiments.table1_protocol.select", lambda *args, **kwargs: chosen)
    seen = []
    original = fold_accuracy

    def spy(X_train, y_train, X_test, y_test, M, reg, protocol, n_classes):
        seen.append(M.clone())
        return original(X_train, y_train, X_test, y_test, M, reg, protocol, n_classes)

    monkeypatch.setattr("fact.experiments.table1_protocol.fold_accuracy", spy)
    refit = evaluate(data, "nfa", {"update": "nfa", "power": 1.0}, protocol(fold_features="refit"))
    assert len(seen) == 4 and not torch.allclose(seen[0], seen[1])  # each fold its own M
    assert not any(torch.allclose(M, chosen.M) for M in seen)
    assert refit.accuracy.mean() > 0.9
    seen.clear()
    evaluate(data, "nfa", {"update": "nfa", "power": 1.0}, protocol(fold_features="validation"))
    assert all(torch.equal(M, chosen.M) for M in seen)  # the validation split's M on every fold


def test_methods_that_choose_the_same_model_share_their_folds(monkeypatch):
    data = load_sklearn("iris")
    calls = []
    original = fold_accuracy
    monkeypatch.setattr(
        "fact.experiments.table1_protocol.fold_accuracy", lambda *args: calls.append(1) or original(*args)
    )
    shared = {}
    first = evaluate(data, "laplace", {"update": "none"}, protocol(), fold_cache=shared)
    second = evaluate(data, "laplace_again", {"update": "none"}, protocol(), fold_cache=shared)
    assert len(calls) == 4 and first.accuracy.tolist() == second.accuracy.tolist()


def test_an_unknown_fold_features_mode_is_named():
    with pytest.raises(ValueError, match="fold_features must be one of"):
        protocol(fold_features="both")


def _settings(**changes) -> dict:
    settings = {
        "dataset": "iris",
        "source": "sklearn",
        "data_root": "data",
        "split_seed": 0,
        "device": "cpu",
        "dtype": "float32",
        "kernel": {"name": "laplace", "bandwidth": 10.0},
        "regs": [1.0, 0.01],
        "normalise": [True, False],
        "iters": 1,
        "fold_features": "validation",
        "agop_max_samples": 20000,
        "scale": "quick",
        "methods": {"fact_geom": {"update": "fact_geom"}, "laplace": {"update": "none"}},
    }
    return {**settings, **changes}


def test_the_stage_writes_one_row_per_method_and_fold(tmp_path):
    out = tmp_path / "iris.parquet"
    tabular_stage.main(["--settings", json.dumps(_settings(normalise=[False])), "--table", str(out)])
    table = pd.read_parquet(out)
    assert sorted(table.method.unique()) == ["fact_geom", "laplace"]
    assert len(table) == 8 and (table.status == "ok").all()
    assert not table.normalise.any()  # only the normalisation choices given
    assert {"dataset", "fold", "reg", "iteration", "accuracy", "solver", "fit_seconds", "n", "d"} <= set(table.columns)


def test_the_stage_records_an_unavailable_dataset_and_goes_on(tmp_path):
    status = tmp_path / "data" / "uci121" / "status"
    status.mkdir(parents=True)
    (status / "adult.json").write_text(json.dumps({"dataset": "adult", "available": False, "reason": "no checksum"}))
    out = tmp_path / "adult.parquet"
    tabular_stage.main(
        [
            "--settings",
            json.dumps(_settings(dataset="adult", source="uci121", data_root=str(tmp_path / "data"))),
            "--table",
            str(out),
        ]
    )
    table = pd.read_parquet(out)
    assert (table.status == "unavailable").all() and (table.reason == "no checksum").all()


def test_the_stage_runs_a_uci121_folder(tmp_path):
    root = tmp_path / "data" / "uci121"
    (root / "status").mkdir(parents=True)
    shutil.copytree(FIXTURE / "toy", root / "toy")
    (root / "status" / "toy.json").write_text(json.dumps({"dataset": "toy", "available": True, "reason": ""}))
    out = tmp_path / "toy.parquet"
    tabular_stage.main(
        [
            "--settings",
            json.dumps(_settings(dataset="toy", source="uci121", data_root=str(tmp_path / "data"))),
            "--table",
            str(out),
        ]
    )
    table = pd.read_parquet(out)
    assert (table.status == "ok").all() and table.n.iloc[0] == 12


def test_a_killed_stage_resumes_from_its_finished_methods(tmp_path, monkeypatch):
    settings = json.dumps(_settings(normalise=[False]))
    reference = tmp_path / "reference.parquet"
    tabular_stage.main(["--settings", settings, "--table", str(reference)])
    out = tmp_path / "iris.parquet"
    real_evaluate, calls = tabular_stage.evaluate, []

    def killed_on_the_second_method(dataset, method, *args, **kwargs):
        calls.append(method)
        if len(calls) == 2:
            raise KeyboardInterrupt("job killed")
        return real_evaluate(dataset, method, *args, **kwargs)

    monkeypatch.setattr(tabular_stage, "evaluate", killed_on_the_second_method)
    with pytest.raises(KeyboardInterrupt):
        tabular_stage.main(["--settings", settings, "--table", str(out)])
    assert not out.exists() and (tmp_path / "iris.parquet.partial" / "fact_geom.parquet").exists()

    calls.clear()
    tabular_stage.main(["--settings", settings, "--table", str(out)])
    assert calls == ["laplace"]  # fact_geom was taken from the killed run
    assert not (tmp_path / "iris.parquet.partial").exists()
    columns = ["method", "fold", "reg", "normalise", "iteration", "accuracy"]
    pd.testing.assert_frame_equal(pd.read_parquet(out)[columns], pd.read_parquet(reference)[columns])


def test_kept_methods_of_other_settings_are_not_reused(tmp_path, monkeypatch):
    out = tmp_path / "iris.parquet"
    tabular_stage.main(["--settings", json.dumps(_settings(regs=[1.0])), "--table", str(out)])
    partial = tmp_path / "iris.parquet.partial"
    partial.mkdir()
    shutil.copy(out, partial / "fact_geom.parquet")  # rows of other settings (regs [1.0]) left behind
    calls = []
    real_evaluate = tabular_stage.evaluate
    monkeypatch.setattr(
        tabular_stage,
        "evaluate",
        lambda dataset, method, *a, **k: calls.append(method) or real_evaluate(dataset, method, *a, **k),
    )
    tabular_stage.main(["--settings", json.dumps(_settings()), "--table", str(out)])
    assert calls == ["fact_geom", "laplace"]


def test_kept_methods_of_other_code_are_not_reused(tmp_path, monkeypatch):
    # killed, then the RFM code fixed: the kept rows were made by the old code and must be recomputed
    settings = json.dumps(_settings())
    out = tmp_path / "iris.parquet"
    real_evaluate = tabular_stage.evaluate

    def killed_on_the_second_method(dataset, method, *args, **kwargs):
        if method == "laplace":
            raise KeyboardInterrupt("job killed")
        return real_evaluate(dataset, method, *args, **kwargs)

    monkeypatch.setattr(tabular_stage, "evaluate", killed_on_the_second_method)
    with pytest.raises(KeyboardInterrupt):
        tabular_stage.main(["--settings", settings, "--table", str(out)])
    assert (tmp_path / "iris.parquet.partial" / "fact_geom.parquet").exists()
    calls = []
    monkeypatch.setattr(
        tabular_stage,
        "evaluate",
        lambda dataset, method, *a, **k: calls.append(method) or real_evaluate(dataset, method, *a, **k),
    )
    monkeypatch.setattr(tabular_stage, "code_hash", lambda module: "the code after a fix")
    tabular_stage.main(["--settings", settings, "--table", str(out)])
    assert calls == ["fact_geom", "laplace"]


def test_a_dataset_too_large_for_memory_is_refused_before_the_selection(monkeypatch):
    dataset = load_sklearn("iris", 0)
    largest = max(len(train) for train, _ in dataset.folds)
    monkeypatch.setattr(
        "fact.kernel_machines.ridge.free_memory", lambda device: largest * largest * 4
    )  # under the 95% margin
    monkeypatch.setattr(tabular_protocol, "select", lambda *a, **k: pytest.fail("the selection started"))
    with pytest.raises(MemoryError, match=rf"iris's largest fit on {largest} points"):
        evaluate(dataset, "laplace", {"update": "none"}, protocol())
