"""The MLP stages: training with resumption, extraction to a tidy table, and FACT at convergence."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from fact.experiments.data.images import digits, load
from fact.experiments.io import load_torch, read_parquet_metadata
from fact.experiments.models import mlp
from fact.experiments.plots.mlp import training_in_words
from fact.experiments.provenance import code_hash
from fact.experiments.stages import extract_mlp, train_mlp
from fact.experiments.training import SGDSettings, train_sgd
from fact.features.matrices import feature_matrices


def settings(**changes) -> dict:
    base = {
        "dataset": "digits",
        "split_seed": 0,
        "seed": 1,
        "device": "cpu",
        "scale": "quick",
        "data_root": "data",
        "model": {"width": 16, "depth": 3, "bias": True},
        "keep_epochs": [0, 2, 3],
        "train": {
            "epochs": 3,
            "batch_size": 128,
            "lr": 0.05,
            "weight_decay": 1e-3,
            "momentum": 0.9,
            "final_lr_ratio": 0.0,
            "converged_below": 0.2,
            "polish_steps": 0,
        },
    }
    return {**base, **changes}


def test_digits_split_is_seeded_and_disjoint():
    a, b = digits(seed=3), digits(seed=3)
    assert torch.equal(a.X_train, b.X_train) and len(a.X_train) + len(a.X_test) == 1797
    assert a.X_train.max() <= 1 and a.d == 64
    with pytest.raises(ValueError, match="unknown image dataset 'imagenet'"):
        load("imagenet")


def test_train_and_extract_stages_write_what_the_figures_read(tmp_path):
    out = tmp_path / "digits_seed1.pt"
    train_mlp.main(["--settings", json.dumps(settings()), "--out", str(out)])
    run = load_torch(out)
    assert sorted(run["checkpoints"]) == [0, 2, 3] and len(run["history"]) == 3
    assert not (tmp_path / "digits_seed1.pt.state").exists()
    table_path = tmp_path / "mlp.parquet"
    extract_mlp.main(
        [
            "--checkpoints",
            str(out),
            "--trained-with",
            json.dumps([settings()]),
            "--settings",
            json.dumps({"powers": [0.5], "batch_size": 500, "device": "cpu", "data_root": "data", "scale": "quick"}),
            "--table",
            str(table_path),
        ]
    )
    table = pd.read_parquet(table_path)
    assert {
        "dataset",
        "seed",
        "epoch",
        "layer",
        "side",
        "relation",
        "power",
        "pearson",
        "note",
        "stationarity_error",
    } <= set(table.columns)
    assert (table.stationarity_error > 0).all()  # a few epochs of SGD: no critical point
    assert sorted(table.epoch.unique()) == [0, 2, 3]
    assert set(table.layer) == {"linear1", "linear2", "linear3"}
    assert {"fact", "fact_sqrt", "nfa", "enfa", "bfact", "bnfa", "benfa"} <= set(table.relation)
    # the captions state what these runs were trained with, read from the table's metadata
    words = training_in_words(read_parquet_metadata(table_path)["trained_with"])
    assert "3-layer ReLU MLP of width 16" in words and "3 epochs in batches of 128" in words
    assert "learning rate 0.05 with cosine decay to 0" in words and "momentum 0.9" in words
    assert "weight decay λ = 0.001" in words


def test_the_caption_follows_a_changed_setting():
    changed = settings(train={**settings()["train"], "momentum": 0.5, "batch_size": 32})
    words = training_in_words([{**changed, "objective": {"loss": "ce", "weight_decay": 0.25}}])
    assert "momentum 0.5" in words and "batches of 32" in words and "momentum 0.9" not in words
    # the loss and lambda are the objective's the run recorded
    assert "cross-entropy on one-hot targets" in words and "λ = 0.25" in words


def test_datasets_trained_for_their_own_epochs_are_named_with_them_in_the_caption():
    objective = {"objective": {"loss": "mse", "weight_decay": 1e-3}}
    longer = settings(dataset="mnist_test", train={**settings()["train"], "epochs": 300})
    runs = [{**settings(dataset=name), **objective} for name in ("fashion_mnist", "digits")]
    words = training_in_words([*runs, {**longer, **objective}])
    assert "on fashion_mnist, digits: 3-layer ReLU MLP" in words and "SGD for 3 epochs" in words
    assert "; on mnist_test: 3-layer ReLU MLP" in words and "SGD for 300 epochs" in words
    assert training_in_words(runs).startswith("3-layer")  # one description: no dataset named


def killed_stage_state(path, stage_settings: dict, train_changes: dict | None = None) -> None:
    """The state `train_mlp` leaves when killed after two epochs, made with ``train_changes`` to its settings."""
    made_with = {**stage_settings, "train": {**stage_settings["train"], **(train_changes or {})}}
    data = digits(0)
    torch.manual_seed(1)
    model = mlp(64, 16, 10, 3)
    Y = torch.nn.functional.one_hot(data.y_train, 10).float()
    train_sgd(
        model,
        data.X_train,
        Y,
        SGDSettings(**made_with["train"]),
        1,
        path,
        (0, 2, 3),
        stop_after=2,
        identity={"settings": made_with, "code": code_hash("fact.experiments.stages.train_mlp")},
    )


def test_the_training_stage_resumes_a_killed_job(tmp_path, caplog):
    whole, parts = tmp_path / "whole.pt", tmp_path / "parts.pt"
    train_mlp.main(["--settings", json.dumps(settings()), "--out", str(whole)])
    killed_stage_state(f"{parts}.state", settings())
    train_mlp.main(["--settings", json.dumps(settings()), "--out", str(parts)])
    assert "resuming from" in caplog.text
    a, b = load_torch(whole), load_torch(parts)
    for name, value in a["checkpoints"][3].items():
        assert torch.equal(value, b["checkpoints"][3][name]), name


@pytest.mark.parametrize("changed", [{"lr": 0.2}, {"weight_decay": 1e-2}, {"momentum": 0.5}])
def test_a_state_left_by_other_settings_is_discarded_not_resumed(tmp_path, caplog, changed):
    # killed with one value, rerun with another: the output must be what the new value alone gives
    whole, parts = tmp_path / "whole.pt", tmp_path / "parts.pt"
    train_mlp.main(["--settings", json.dumps(settings()), "--out", str(whole)])
    killed_stage_state(f"{parts}.state", settings(), changed)
    train_mlp.main(["--settings", json.dumps(settings()), "--out", str(parts)])
    assert "discarding" in caplog.text and "resuming" not in caplog.text
    a, b = load_torch(whole), load_torch(parts)
    for name, value in a["checkpoints"][3].items():
        assert torch.equal(value, b["checkpoints"][3][name]), name


def test_an_unreadable_state_stops_the_stage_with_what_to_do(tmp_path):
    out = tmp_path / "run.pt"
    killed_stage_state(f"{out}.state", settings())
    state = tmp_path / "run.pt.state"
    state.write_bytes(state.read_bytes()[:1000])  # truncated
    with pytest.raises(SystemExit, match=r"run\.pt\.state.*delete it"):
        train_mlp.main(["--settings", json.dumps(settings()), "--out", str(out)])


def test_fact_matches_the_weights_of_a_converged_mlp_on_every_layer(tmp_path):
    """The quick-scale claim of Figure 2: Pearson(W^T W, FACT) >= 0.9 per layer, above eNFA's."""
    data = digits(0)
    torch.manual_seed(0)
    model = mlp(64, 128, 10)
    Y = torch.nn.functional.one_hot(data.y_train, 10).float()
    train_sgd(
        model,
        data.X_train,
        Y,
        SGDSettings(epochs=400, batch_size=64, lr=0.05, weight_decay=1e-3),
        0,
        tmp_path / "state",
    )
    layers = feature_matrices(model.double(), data.X_train.double(), Y.double(), "mse", 1e-3, batch_size=2048)
    for name, layer in layers.items():
        pearson = {r["relation"]: r["pearson"] for r in layer.agreement([0.5])}
        assert pearson["fact"] >= 0.9, name
        assert pearson["fact"] > pearson["enfa"], name


def test_a_polished_run_is_recorded_and_the_figures_show_tau_and_stationarity(tmp_path):
    from fact.experiments.plots import mlp as mlp_figures
    from fact.experiments.plots.style import caption_path

    run_settings = settings(train={**settings()["train"], "converged_below": 1e-9, "polish_steps": 5})
    out = tmp_path / "digits_seed1.pt"
    train_mlp.main(["--settings", json.dumps(run_settings), "--out", str(out)])
    run = load_torch(out)
    assert run["polish"]["steps"] == 5 and not run["converged"]
    assert run["polish"]["stationarity"] == pytest.approx(run["stationarity"], rel=1e-3)  # the network handed on
    table_path = tmp_path / "mlp.parquet"
    extract_mlp.main(
        [
            "--checkpoints",
            str(out),
            "--trained-with",
            json.dumps([run_settings]),
            "--settings",
            json.dumps({"powers": [0.5], "batch_size": 500, "device": "cpu", "data_root": "data", "scale": "quick"}),
            "--table",
            str(table_path),
        ]
    )
    table = pd.read_parquet(table_path)
    assert table.groupby("epoch").polish_steps.max().to_dict() == {0: 0, 2: 0, 3: 5}
    tau = table.groupby("epoch").tau.max()
    assert tau[0] == 0 < tau[2] < tau[3] == pytest.approx(run["history"][-1]["tau"])
    final = table[(table.epoch == 3) & (table.relation == "fact")].set_index("layer").stationarity_error
    for layer, error in final.items():  # the extraction measures the polished weights
        assert error == pytest.approx(run["stationarity"][layer], rel=1e-3)
    for render in (mlp_figures.render_fig2, mlp_figures.render_fig8):
        figure = tmp_path / f"{render.__name__}.pdf"
        render(table_path, out=figure)
        caption = caption_path(figure).read_text(encoding="utf-8")
        assert f"τ = {tau[3]:.2f} at the end, then at most 5 L-BFGS steps" in caption
        assert (
            f"largest stationarity error {final.max():.2g}" in caption and "0% of runs at a critical point" in caption
        )


def test_a_killed_extraction_keeps_the_runs_it_finished_and_computes_only_the_rest(tmp_path, monkeypatch):
    runs = [settings(seed=seed) for seed in (1, 2)]
    paths = [tmp_path / f"digits_seed{seed}.pt" for seed in (1, 2)]
    for path, run in zip(paths, runs):
        train_mlp.main(["--settings", json.dumps(run), "--out", str(path)])
    stage = {"powers": [0.5], "batch_size": 500, "device": "cpu", "data_root": "data", "scale": "quick"}
    real, computed = extract_mlp.extract, []

    def extraction(table, kill_at=None):
        def counted(run, path, *rest):
            if len(computed) == kill_at:
                raise KeyboardInterrupt
            computed.append(path)
            return real(run, path, *rest)

        computed.clear()
        monkeypatch.setattr(extract_mlp, "extract", counted)
        arguments = ["--checkpoints", *map(str, paths), "--trained-with", json.dumps(runs)]
        extract_mlp.main([*arguments, "--settings", json.dumps(stage), "--table", str(tmp_path / table)])

    extraction("whole.parquet")
    assert computed == list(map(str, paths)) and not (tmp_path / "whole.parquet.partial").exists()
    with pytest.raises(KeyboardInterrupt):
        extraction("resumed.parquet", kill_at=1)
    assert [p.name for p in (tmp_path / "resumed.parquet.partial").iterdir()] == ["digits_seed1.pt.parquet"]
    extraction("resumed.parquet")
    assert computed == [str(paths[1])]  # the first run's rows were kept
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "resumed.parquet"), pd.read_parquet(tmp_path / "whole.parquet")
    )

    with pytest.raises(KeyboardInterrupt):
        extraction("retrained.parquet", kill_at=1)
    runs[0] = settings(seed=1, keep_epochs=[0, 3])  # the first run trained again, otherwise: its kept rows are stale
    train_mlp.main(["--settings", json.dumps(runs[0]), "--out", str(paths[0])])
    extraction("retrained.parquet")
    assert computed == list(map(str, paths))
    assert sorted(pd.read_parquet(tmp_path / "retrained.parquet").query("seed == 1").epoch.unique()) == [0, 3]
