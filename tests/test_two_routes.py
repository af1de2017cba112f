"""FACT's two routes check each other on a zoo of models: the hooked pass (``feature_matrices``: per-position
sums at every product z = W h) and the gradient of the mean loss (``weight_matrices``, and any use of a weight
viewed from the parameter's gradient) must give the same FACT, bFACT and stationarity for every matrix, at random
weights; where a model is brought to a critical point, FACT = W^T W.

The zoo holds a model for every module type the registry of views knows (a test fails when a view is registered
without one), and the cases where the two routes once disagreed: an embedding tied to its output head (GPT-2's
default), a padding embedding, a weight shared by two layers, a layer applied twice, attention with a mask."""

from __future__ import annotations

import pytest

from fact.features import layer_views
from fact.features.layer_views import MatrixView, model_matrices, register_view, single, unregister_view
from fact.features.losses import ce_per_sample, mse_per_sample, resolve_loss
from fact.features.matrices import feature_matrices
from fact.features.metrics import relative_error
from fact.features.weights import mean_loss_gradients, weight_matrices
from tests.conftest import train_to_critical_point
from tests.support.fact_checks import assert_fact_holds_for_every_weight
from tests.support.zoo import Scaled, zoo

WEIGHT_DECAY = 1e-2


SCALED = single(MatrixView("weight", outputs=lambda module, gradient: 3 * gradient))


ZOO = [
    "mlp",
    "conv2d",
    "conv1d",
    "scaled (registered)",
    "tied head",
    "padding embedding",
    "tied padding embedding",
    "shared linears",
    "keyword call",
    "masked attention",
    "transformer",
    "tied transformer",
    "gpt2",
    "tied gpt2 (default)",
    "gpt2 language model (the Trainer's loss)",
]


@pytest.fixture(scope="module", autouse=True)
def scaled_registered():
    register_view(Scaled, SCALED)
    yield
    unregister_view(Scaled)


def gradient_route(model, inputs, targets, loss: str) -> dict[str, dict]:
    """FACT, bFACT and stationarity of every matrix a view shows, from the gradient of the mean loss with
    respect to its parameter, seen as that matrix (each use of a shared weight in its own orientation)."""
    gradients = mean_loss_gradients(model, inputs, targets, loss)
    found = {}
    for name, matrix in model_matrices(model).items():
        W = matrix.weight.detach().double()
        gradient = matrix.view.matrix(gradients[id(matrix.parameter)])
        found[name] = {
            "fact": -(W.T @ gradient) / WEIGHT_DECAY,
            "bfact": -(gradient @ W.T) / WEIGHT_DECAY,
            "stationarity": float((gradient + WEIGHT_DECAY * W).norm() / (WEIGHT_DECAY * W.norm())),
        }
    return found


def assert_the_routes_agree(model, inputs, targets, loss: str, left_out: set[str], context: str) -> None:
    hooked = feature_matrices(model, inputs, targets, loss, WEIGHT_DECAY, jacobian=False)
    reference = gradient_route(model, inputs, targets, loss)
    assert set(reference) - set(hooked) == left_out, context
    for name, result in hooked.items():
        expected = reference[name]
        assert relative_error(result.fact, expected["fact"]) < 1e-10, f"{context} {name}: FACT"
        assert relative_error(result.bfact, expected["bfact"]) < 1e-10, f"{context} {name}: bFACT"
        assert abs(result.stationarity_error - expected["stationarity"]) < 1e-10 * expected["stationarity"], (
            f"{context} {name}: stationarity"
        )
    weights = weight_matrices(model, inputs, targets, loss, WEIGHT_DECAY)
    for name in set(weights) & set(hooked):  # one name for one weight: the first use of a shared one
        assert relative_error(hooked[name].fact, weights[name].fact) < 1e-10, f"{context} {name}"
        assert abs(hooked[name].stationarity_error - weights[name].stationarity_error) < 1e-10, f"{context} {name}"


@pytest.mark.parametrize("name", ZOO)
def test_the_hooked_pass_and_the_gradient_agree_on_every_matrix(fresh_seed, name):
    assert_the_routes_agree(*zoo(name, fresh_seed), f"seed={fresh_seed} {name}")


def test_the_zoo_holds_every_registered_module_type():
    models = [zoo(name, 0)[0] for name in ZOO]
    seen = {type(module) for model in models for module in model.modules()}
    missing = [t.__name__ for t in layer_views.registered_types() if not any(issubclass(s, t) for s in seen)]
    assert not missing, f"add a model holding {missing} to the zoo of tests/test_two_routes.py"


@pytest.mark.parametrize("name", ["tied head", "shared linears"])
def test_fact_holds_for_every_use_of_a_shared_weight_at_a_critical_point(fresh_seed, name):
    """(A padding embedding has no critical point to reach: PyTorch's gradient leaves its padding lookups out, so
    it is the gradient of no objective, and Newton's method, which needs one, refuses it.)"""
    model, inputs, targets, loss, _ = zoo(name, fresh_seed)
    per_sample = ce_per_sample if loss == "ce" else mse_per_sample
    grad_norm = train_to_critical_point(model, inputs, targets, per_sample, WEIGHT_DECAY)
    assert grad_norm < 1e-9, f"seed={fresh_seed} {name}: Newton stopped at gradient norm {grad_norm:.1e}"
    assert_fact_holds_for_every_weight(model, inputs, targets, loss, WEIGHT_DECAY, f"seed={fresh_seed} {name}")
    for use, result in feature_matrices(model, inputs, targets, loss, WEIGHT_DECAY, jacobian=False).items():
        assert result.stationarity_error < 1e-6, f"seed={fresh_seed} {name} {use}"
        assert relative_error(result.fact, result.wtw) < 1e-6, f"seed={fresh_seed} {name} {use}"
        assert relative_error(result.bfact, result.wwt) < 1e-6, f"seed={fresh_seed} {name} {use}"


@pytest.mark.parametrize("loss", ["sse", "half_sse"])
def test_the_routes_agree_and_fact_holds_for_the_squared_errors_summed_over_outputs(fresh_seed, loss):
    model, inputs, targets, mse, _ = zoo("mlp", fresh_seed)
    assert mse == "mse"
    assert_the_routes_agree(model, inputs, targets, loss, set(), f"seed={fresh_seed} {loss}")
    train_to_critical_point(model, inputs, targets, resolve_loss(loss), WEIGHT_DECAY)
    assert_fact_holds_for_every_weight(model, inputs, targets, loss, WEIGHT_DECAY, f"seed={fresh_seed} {loss}")
    # the same critical point read with the mean over outputs: FACT c (or c/2) times too small, which the
    # stationarity error shows
    divisor = {"sse": 1, "half_sse": 2}[loss] / targets.shape[1]
    for name, result in feature_matrices(model, inputs, targets, "mse", WEIGHT_DECAY, jacobian=False).items():
        assert relative_error(result.fact / divisor, result.wtw) < 1e-6, f"seed={fresh_seed} {loss} {name}"
        assert result.stationarity_error > 0.3, f"seed={fresh_seed} {loss} {name}"
