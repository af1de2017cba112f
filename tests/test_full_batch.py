"""fact.experiments.full_batch: Adam, L-BFGS and Newton reach a strict local minimum, reproducibly; a
diverging run stops."""

import json

import pytest
import torch
from torch import nn

from fact.experiments.full_batch import FullBatchSchedule, minimise_newton, train_full_batch
from fact.experiments.models import QuadraticNet
from fact.experiments.stages import train_fig7
from fact.features.errors import NonFiniteLossError
from fact.features.losses import mse_per_sample
from fact.features.objective import regularised_objective


def quick_run(seed: int):
    torch.manual_seed(seed)
    X = torch.randn(40, 4, dtype=torch.float64)
    y = (X[:, :1] * X[:, 1:2]) + X[:, 2:3] ** 2
    model = QuadraticNet(4, 6).double()
    schedule = FullBatchSchedule(weight_decay=1e-2, lr=0.01, steps=200, grad_tol=1e-10)
    history = train_full_batch(model, X, y, mse_per_sample, schedule, progress=False)
    return model, history


def test_training_reaches_a_strict_local_minimum(fresh_seed):
    _, history = quick_run(fresh_seed)
    final = history[-1]
    assert final["grad_norm"] < 1e-10, f"seed={fresh_seed}"
    assert final["hessian_min_eigenvalue"] > 0, f"seed={fresh_seed}"


def test_cpu_training_is_bitwise_reproducible():
    first, _ = quick_run(3)
    second, _ = quick_run(3)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])


def test_non_finite_loss_stops_training():
    X = torch.full((8, 4), 1e200, dtype=torch.float64)
    model = QuadraticNet(4, 3).double()
    with pytest.raises(NonFiniteLossError, match="Adam step 0"):
        train_full_batch(
            model,
            X,
            torch.zeros(8, 1, dtype=torch.float64),
            mse_per_sample,
            FullBatchSchedule(weight_decay=1e-3, lr=0.1, steps=10),
            progress=False,
        )


def test_the_training_stage_writes_no_checkpoint_when_the_loss_diverges(tmp_path):
    settings = {
        "data": {"hypercube_weight": 0.5, "spike_scale": 1e120, "epsilon": 1.0},
        "model": {"width": 4},
        "train": {"weight_decay": 1e-3, "lr": 0.01, "steps": 5},
        "device": "cpu",
        "seed": 0,
        "scale": "quick",
    }
    out = tmp_path / "seed0.pt"
    with pytest.raises(SystemExit, match="objective became .*no checkpoint was written"):
        train_fig7.main(["--settings", json.dumps(settings), "--out", str(out)])
    assert list(tmp_path.iterdir()) == []


def test_unknown_polish_is_refused():
    X = torch.randn(8, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown polish 'bfgs'"):
        train_full_batch(
            QuadraticNet(4, 3).double(),
            X,
            X[:, :1],
            mse_per_sample,
            FullBatchSchedule(weight_decay=1e-3, lr=0.01, steps=1, polish="bfgs"),
            progress=False,
        )


def test_newton_refuses_a_padding_embedding_whose_gradient_is_of_no_objective():
    model = nn.Sequential(nn.Embedding(5, 3, padding_idx=0), nn.Flatten(), nn.Linear(6, 2)).double()
    tokens, targets = torch.randint(0, 5, (8, 2)), torch.randn(8, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\['0'\] are embeddings with a padding_idx.*polish with lbfgs"):
        minimise_newton(
            model, lambda params: regularised_objective(model, tokens, targets, mse_per_sample, 1e-2, params), 1e-9
        )
