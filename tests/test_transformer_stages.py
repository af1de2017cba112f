"""Figures 12 and 13: training with decay in the objective or decoupled, the stages, the figures."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from fact.experiments.data.modular import modular_addition, modular_addition_tokens
from fact.experiments.decay_runs import DecaySchedule, kept_steps, train_with_decay
from fact.experiments.models import TinyTransformer
from fact.experiments.plots import decay_runs, style
from fact.experiments.stages import extract_decay_runs, train_cnn, train_transformer


def schedule(optimiser: str, steps: int = 5, **changes) -> DecaySchedule:
    settings = {
        "optimiser": optimiser,
        "lr": 1e-2,
        "weight_decay": 0.1,
        "steps": steps,
        "final_lr_ratio": 1.0,
        "betas": (0.9, 0.98),
        "log_every": 1,
    }
    return DecaySchedule(**{**settings, **changes})


def tiny_task(seed: int):
    X, y, X_test, y_test = modular_addition_tokens(5, 0.6, seed)
    torch.manual_seed(seed)
    return TinyTransformer(5, 2, 4, 2, 8).double(), X, y, X_test, y_test


def test_kept_steps_start_and_end_the_run_and_are_denser_early():
    steps = kept_steps(3000, 16)
    assert steps[0] == 0 and steps[-1] == 3000 and steps == sorted(set(steps)) and len(steps) <= 16
    assert steps[len(steps) // 2] < 300  # log-spaced: half the checkpoints in the first tenth


def test_the_token_split_is_the_one_hot_split(fresh_seed):
    tokens, y, test_tokens, y_test = modular_addition_tokens(7, 0.5, fresh_seed)
    X, y_one_hot, X_test, _ = modular_addition(7, 0.5, fresh_seed)
    assert torch.equal(X[:, :7].argmax(1), tokens[:, 0]) and torch.equal(X[:, 7:].argmax(1), tokens[:, 1])
    assert torch.equal(y, y_one_hot) and torch.equal(y, tokens.sum(1) % 7)


def test_adam_l2_is_adam_on_the_regularised_objective_and_adamw_is_not(fresh_seed):
    """Decay in the objective: the same steps as Adam without decay on (1/n) sum CE + (lambda/2)||theta||^2."""
    model, X, y, X_test, y_test = tiny_task(fresh_seed)
    reference = TinyTransformer(5, 2, 4, 2, 8).double()
    reference.load_state_dict(model.state_dict())
    _, states = train_with_decay(model, X, y, X_test, y_test, schedule("adam_l2"), keep=[5])
    optimiser = torch.optim.Adam(reference.parameters(), lr=1e-2, betas=(0.9, 0.98))
    for _ in range(5):
        optimiser.zero_grad()
        objective = torch.nn.functional.cross_entropy(reference(X), y) + 0.05 * sum(
            (p**2).sum() for p in reference.parameters()
        )
        objective.backward()
        optimiser.step()
    for key, value in reference.state_dict().items():
        if key == "attention.in_proj_bias":  # its key third moves the output not at all: its gradient is
            continue  # rounding noise, which Adam's normalisation turns into full steps
        assert torch.allclose(states[5][key], value, atol=1e-12), f"seed={fresh_seed} {key}"
    decoupled, _, _, _, _ = tiny_task(fresh_seed)
    _, other = train_with_decay(decoupled, X, y, X_test, y_test, schedule("adamw"), keep=[5])
    assert not torch.allclose(other[5]["mlp_in.weight"], states[5]["mlp_in.weight"], atol=1e-6)


def test_an_unknown_optimiser_and_a_diverging_run_are_named():
    model, X, y, X_test, y_test = tiny_task(0)
    with pytest.raises(ValueError, match="unknown optimiser 'sgd'"):
        train_with_decay(model, X, y, X_test, y_test, schedule("sgd"), keep=[])
    from fact.features.errors import NonFiniteLossError

    with torch.no_grad():
        model.unembed.bias[0] = float("inf")
    with pytest.raises(NonFiniteLossError, match="at step 0; lower lr"):
        train_with_decay(model, X, y, X_test, y_test, schedule("adam_l2"), keep=[])


def stage_settings(optimiser: str) -> dict:
    return {
        "data": {"p": 7, "train_fraction": 0.5, "split_seed": 0},
        "model": {"width": 8, "heads": 2, "mlp_width": 16, "tied": False, "layer_norm": True},
        "train": {
            "optimiser": optimiser,
            "lr": 0.01,
            "weight_decay": 0.01,
            "steps": 20,
            "final_lr_ratio": 0.1,
            "betas": [0.9, 0.98],
            "log_every": 5,
        },
        "checkpoints": 4,
        "device": "cpu",
        "seed": 0,
        "scale": "quick",
    }


def test_the_stages_train_extract_and_draw_figure_12(tmp_path):
    checkpoints = []
    for optimiser in ("adam_l2", "adamw"):
        out = tmp_path / f"{optimiser}_seed0.pt"
        train_transformer.main(["--settings", json.dumps(stage_settings(optimiser)), "--out", str(out)])
        checkpoints.append(str(out))
    table, history = tmp_path / "transformer.parquet", tmp_path / "history.parquet"
    extract_decay_runs.main(
        [
            "--settings",
            json.dumps(
                {"powers": [0.5, 1.0], "batch_size": 10, "agop_probes": None, "device": "cpu", "scale": "quick"}
            ),
            "--checkpoints",
            *checkpoints,
            "--table",
            str(table),
            "--history",
            str(history),
            "--trained-with",
            json.dumps([stage_settings(o) for o in ("adam_l2", "adamw")]),
        ]
    )
    rows = pd.read_parquet(table)
    assert set(rows.layer) == set(decay_runs.TRANSFORMER_NAMES)  # every matrix but the position embedding
    assert set(rows.optimiser) == {"adam_l2", "adamw"} and rows.step.max() == 20
    assert {"pearson", "spearman", "relation", "power", "side", "stationarity_error"} <= set(rows.columns)
    steps = pd.read_parquet(history)
    assert {0, 20} <= set(steps.step) and steps.test_accuracy.between(0, 1).all()

    figure = tmp_path / "fig12.pdf"
    decay_runs.render_fig12(table, history, out=figure)
    assert figure.stat().st_size > 10_000
    caption = style.caption_path(figure).read_text()
    assert "Scale: quick" in caption and "mod 7" in caption and "adamw: lr 0.01" in caption


def test_the_cnn_stages_train_on_digits_and_draw_figure_13(tmp_path):
    settings = {
        "dataset": "digits",
        "split_seed": 0,
        "model": {"channels": [2, 3]},
        "train": {**stage_settings("adamw")["train"], "steps": 6},
        "checkpoints": 3,
        "device": "cpu",
        "seed": 0,
        "data_root": str(tmp_path),
        "scale": "quick",
    }
    out = tmp_path / "adamw_seed0.pt"
    train_cnn.main(["--settings", json.dumps(settings), "--out", str(out)])
    table, history = tmp_path / "cnn.parquet", tmp_path / "cnn_history.parquet"
    extract_decay_runs.main(
        [
            "--settings",
            json.dumps({"powers": [0.5], "batch_size": 500, "agop_probes": 2, "device": "cpu", "scale": "quick"}),
            "--checkpoints",
            str(out),
            "--table",
            str(table),
            "--history",
            str(history),
            "--trained-with",
            json.dumps([settings]),
        ]
    )
    rows = pd.read_parquet(table)
    assert set(rows.layer) == {"conv1", "conv2", "head"} and set(rows.step) == {0, 2, 6} or rows.step.max() == 6
    figure = tmp_path / "fig13.pdf"
    decay_runs.render_fig13(table, history, out=figure)
    caption = style.caption_path(figure).read_text()
    assert "digits (split seed 0;" in caption and "2 and 3 channels" in caption


class WithIdleWeight(torch.nn.Module):
    """A linear map and a weight the loss never sees (its gradient is exactly zero)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3).double()
        self.idle = torch.nn.Parameter(torch.ones(5, dtype=torch.float64))

    def forward(self, x):
        return self.linear(x) + 0 * self.idle.sum()


def test_adamw_records_tau_the_time_its_decay_has_acted_and_adam_l2_none(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    X, y = torch.randn(30, 4, generator=generator, dtype=torch.float64), torch.randint(0, 3, (30,), generator=generator)
    model = WithIdleWeight()
    steps = schedule("adamw", steps=200, lr=0.02, weight_decay=0.1, final_lr_ratio=0.1, log_every=50)
    history, _ = train_with_decay(model, X, y, X, y, steps, keep=[])
    tau = history[-1]["tau"]
    lrs = [0.002 + (0.02 - 0.002) * (1 + math.cos(math.pi * t / 200)) / 2 for t in range(200)]  # the cosine decay
    assert tau == pytest.approx(0.1 * sum(lrs), rel=1e-9) and history[0]["tau"] == 0
    # only the decoupled decay moves the idle weight: it shrinks by exp(-tau) (to second order in lr * lambda)
    idle = float(model.idle.detach()[0])
    assert idle == pytest.approx(math.exp(-tau), rel=1e-3)
    assert abs(idle - math.exp(-tau / 2)) > 0.05
    history, _ = train_with_decay(WithIdleWeight(), X, y, X, y, schedule("adam_l2", steps=3), keep=[])
    assert all(record["tau"] != record["tau"] for record in history)  # NaN: no such time for Adam-L2
