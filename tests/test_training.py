"""Minibatch SGD: the objective it minimises, resumption after a kill, convergence flags."""

from __future__ import annotations

import re

import pytest
import torch

from fact.experiments.models import mlp
from fact.experiments.training import SGDSettings, UnreadableStateError, discard_state, train_sgd
from fact.features.errors import NonFiniteLossError


def small_task(seed: int):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(96, 6, generator=generator)
    Y = torch.nn.functional.one_hot(X[:, :3].argmax(1), 3).float()
    return X, Y


SETTINGS = SGDSettings(epochs=6, batch_size=32, lr=0.05, weight_decay=1e-3)


def test_a_killed_run_resumes_to_the_same_weights(tmp_path, fresh_seed):
    X, Y = small_task(fresh_seed)
    torch.manual_seed(fresh_seed)
    straight = mlp(6, 16, 3)
    start = {k: v.clone() for k, v in straight.state_dict().items()}
    whole = train_sgd(straight, X, Y, SETTINGS, fresh_seed, tmp_path / "a.state", keep_epochs=(0, 3, 6))

    interrupted = mlp(6, 16, 3)
    interrupted.load_state_dict(start)
    first = train_sgd(
        interrupted, X, Y, SETTINGS, fresh_seed, tmp_path / "b.state", keep_epochs=(0, 3, 6), stop_after=4
    )
    assert not first["finished"] and (tmp_path / "b.state").exists()
    resumed = mlp(6, 16, 3)  # a fresh process: new random weights, overwritten by the saved state
    second = train_sgd(resumed, X, Y, SETTINGS, fresh_seed, tmp_path / "b.state", keep_epochs=(0, 3, 6))
    # the state outlives the call: a kill before the caller saves the result must lose nothing
    assert second["finished"] and (tmp_path / "b.state").exists()
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), f"{name}, seed={fresh_seed}"
    assert sorted(second["checkpoints"]) == [0, 3, 6]
    assert torch.equal(second["checkpoints"][3]["linear2.weight"], whole["checkpoints"][3]["linear2.weight"])
    assert second["history"].train_loss.tolist() == whole["history"].train_loss.tolist()
    again = mlp(6, 16, 3)  # killed after training, before the result was saved: no epoch is repeated
    third = train_sgd(again, X, Y, SETTINGS, fresh_seed, tmp_path / "b.state", keep_epochs=(0, 3, 6), stop_after=0)
    assert third["finished"] and third["history"].train_loss.tolist() == whole["history"].train_loss.tolist()
    assert all(torch.equal(value, again.state_dict()[name]) for name, value in straight.state_dict().items())
    discard_state(tmp_path / "b.state")
    assert not (tmp_path / "b.state").exists()


def test_training_lowers_the_loss_and_a_low_loss_is_not_convergence(tmp_path, fresh_seed, caplog):
    X, Y = small_task(fresh_seed)
    torch.manual_seed(fresh_seed)
    with caplog.at_level("WARNING", logger="fact.experiments.training"):
        result = train_sgd(
            mlp(6, 32, 3),
            X,
            Y,
            SGDSettings(epochs=60, batch_size=16, lr=0.1, weight_decay=1e-4),
            fresh_seed,
            tmp_path / "s",
        )
    losses = result["history"].train_loss
    assert losses.iloc[-1] < 0.5 * losses.iloc[0], f"seed={fresh_seed}"
    assert result["history"].lr.iloc[-1] < 0.01 * 0.1  # cosine decay to ~0
    # tau = 1e-4 / 0.1 * (sum of the rates) is far too short for weight decay to act: no critical point
    assert set(result["stationarity"]) == {f"linear{i}" for i in range(1, 6)}
    assert min(result["stationarity"].values()) > 0.2 and not result["converged"]
    assert (
        "weight decay has not had the time to act" in caplog.text
        and "raise epochs, weight_decay or polish_steps" in caplog.text
    )


def test_a_run_at_a_critical_point_is_converged(tmp_path, fresh_seed):
    X, Y = small_task(fresh_seed)
    torch.manual_seed(fresh_seed)
    net = mlp(6, 8, 3, depth=1).double()  # one linear layer: ridge regression, whose one critical point GD reaches
    result = train_sgd(
        net,
        X.double(),
        Y.double(),
        SGDSettings(epochs=300, batch_size=len(X), lr=0.2, weight_decay=0.05, final_lr_ratio=0.0),
        fresh_seed,
        tmp_path / "s",
    )
    assert result["history"].tau.iloc[-1] > 10
    assert max(result["stationarity"].values()) <= 0.2 and result["converged"], (
        f"seed={fresh_seed}: {result['stationarity']}"
    )
    strict = train_sgd(
        net,
        X.double(),
        Y.double(),
        SGDSettings(epochs=1, batch_size=len(X), lr=1e-6, weight_decay=0.05, converged_below=1e-12),
        fresh_seed,
        tmp_path / "t",
    )
    assert not strict["converged"]


def test_sgd_weight_decay_is_the_lambda_of_the_objective(tmp_path, fresh_seed):
    # one full-batch step from theta equals theta - lr * grad[(1/n) sum loss + (lambda/2)||theta||^2]
    X, Y = small_task(fresh_seed)
    torch.manual_seed(fresh_seed)
    net = mlp(6, 8, 3, depth=2)
    reference = mlp(6, 8, 3, depth=2)
    reference.load_state_dict(net.state_dict())
    train_sgd(
        net,
        X,
        Y,
        SGDSettings(epochs=1, batch_size=len(X), lr=0.1, weight_decay=0.01, momentum=0.0, final_lr_ratio=1.0),
        fresh_seed,
        tmp_path / "state",
    )
    objective = torch.nn.functional.mse_loss(reference(X), Y) + 0.005 * sum(
        (p**2).sum() for p in reference.parameters()
    )
    grads = torch.autograd.grad(objective, list(reference.parameters()))
    for (name, p), g in zip(reference.named_parameters(), grads):
        assert torch.allclose(net.state_dict()[name], p - 0.1 * g, atol=1e-6), name


def test_a_diverging_run_stops_with_advice(tmp_path):
    X, Y = small_task(0)
    with pytest.raises(NonFiniteLossError, match="lower lr"):
        train_sgd(mlp(6, 16, 3), X * 1e20, Y, SETTINGS, 0, tmp_path / "s")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_training_on_cuda_follows_the_cpu_run(tmp_path):
    X, Y = small_task(0)
    torch.manual_seed(0)
    on_cpu = mlp(6, 16, 3)
    on_gpu = mlp(6, 16, 3)
    on_gpu.load_state_dict(on_cpu.state_dict())
    train_sgd(on_cpu, X, Y, SETTINGS, 0, tmp_path / "cpu")
    result = train_sgd(on_gpu.cuda(), X.cuda(), Y.cuda(), SETTINGS, 0, tmp_path / "gpu", keep_epochs=(6,))
    assert result["checkpoints"][6]["linear1.weight"].device.type == "cpu"  # kept weights live on the host
    for name, value in on_cpu.state_dict().items():
        assert torch.allclose(value, on_gpu.state_dict()[name].cpu(), atol=1e-4), name


def test_a_state_of_another_network_data_or_code_is_discarded(tmp_path, monkeypatch, caplog):
    X, Y = small_task(0)
    torch.manual_seed(0)
    train_sgd(mlp(6, 16, 3), X, Y, SETTINGS, 0, tmp_path / "s", stop_after=2)
    assert (tmp_path / "s").exists()
    # a wider network, other data, other training code: none may continue that state
    assert train_sgd(mlp(6, 32, 3), X, Y, SETTINGS, 0, tmp_path / "s", stop_after=0)["history"].empty
    assert "differs in: parameters" in caplog.text
    assert train_sgd(mlp(6, 16, 3), X + 1, Y, SETTINGS, 0, tmp_path / "s", stop_after=0)["history"].empty
    assert "differs in: data" in caplog.text
    monkeypatch.setattr("fact.experiments.training.code_hash", lambda module: "edited")
    assert train_sgd(mlp(6, 16, 3), X, Y, SETTINGS, 0, tmp_path / "s", stop_after=0)["history"].empty
    assert "differs in: code" in caplog.text
    monkeypatch.undo()
    assert len(train_sgd(mlp(6, 16, 3), X, Y, SETTINGS, 0, tmp_path / "s", stop_after=0)["history"]) == 2


def test_a_state_that_cannot_be_read_is_named_with_what_to_do(tmp_path):
    X, Y = small_task(0)
    (tmp_path / "s").write_bytes(b"not a torch file")
    with pytest.raises(UnreadableStateError, match=r"training state .*/s .*delete it"):
        train_sgd(mlp(6, 16, 3), X, Y, SETTINGS, 0, tmp_path / "s")


def layer_imbalance(net) -> float:
    """||W_4||^2 + ||b_4||^2 - ||W_5||^2: the loss gradient leaves it unchanged (ReLU is positively
    homogeneous: scaling a neuron's incoming weights by a and outgoing ones by 1/a changes nothing)."""
    with torch.no_grad():
        return float(net.linear4.weight.pow(2).sum() + net.linear4.bias.pow(2).sum() - net.linear5.weight.pow(2).sum())


def test_weight_decay_removes_a_relu_networks_layer_imbalance_as_exp_of_minus_two_tau(tmp_path, fresh_seed):
    X, Y = small_task(fresh_seed)
    torch.manual_seed(fresh_seed)
    net = mlp(6, 16, 3, depth=5).double()
    with torch.no_grad():
        net.linear4.weight.mul_(2.0)  # a large imbalance to start from
    before = layer_imbalance(net)
    settings = SGDSettings(epochs=400, batch_size=32, lr=0.01, weight_decay=0.02, momentum=0.9, final_lr_ratio=0.2)
    history = train_sgd(net, X.double(), Y.double(), settings, fresh_seed, tmp_path / "state")["history"]
    steps = 400 * 3
    expected_tau = 0.02 / (1 - 0.9) * sum(settings.lr_at(step, steps) for step in range(steps))
    assert history.tau.iloc[-1] == pytest.approx(expected_tau, rel=1e-12)
    assert history.tau.is_monotonic_increasing and history.tau.iloc[0] > 0
    ratio = layer_imbalance(net) / before
    assert ratio == pytest.approx(torch.exp(torch.tensor(-2 * history.tau.iloc[-1])).item(), rel=0.05), (
        f"seed={fresh_seed}: imbalance ratio {ratio:.4f}, tau {history.tau.iloc[-1]:.3f}"
    )
    # tau without momentum's 1 / (1 - momentum) predicts another ratio
    assert abs(ratio - torch.exp(torch.tensor(-2 * (1 - 0.9) * history.tau.iloc[-1])).item()) > 0.5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"lr": "0.1"}, "lr must be a number, got the string '0.1': write lr=0.1 without quotes"),
        ({"momentum": 1.0}, "momentum must be in [0, 1), got 1.0"),
        ({"epochs": 2.0}, "epochs must be a whole number >= 1, got 2.0"),
        ({"converged_below": "0.2"}, "converged_below must be a number, got the string '0.2'"),
    ],
)
def test_settings_that_training_cannot_use_are_refused_when_made(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SGDSettings(**{"epochs": 1, "batch_size": 4, "lr": 0.1, "weight_decay": 1e-2, **change})
