"""fact.features.batches: the data every pass reads and the checks it makes, the same for the hooked pass
(fact.features.matrices.feature_matrices) and the one over every weight (fact.features.weights.weight_matrices)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from fact.features.matrices import feature_matrices
from fact.features.metrics import relative_error
from fact.features.weights import weight_matrices
from tests.conftest import small_mlp

WEIGHT_DECAY = 1e-2


def fact_of_first_layer(pass_name: str, model, inputs, targets=None, weight_decay=WEIGHT_DECAY, **options):
    """FACT of the first weight by either pass."""
    if pass_name == "feature_matrices":
        return feature_matrices(model, inputs, targets, "mse", weight_decay, jacobian=False, **options)["0"].fact
    return weight_matrices(model, inputs, targets, "mse", weight_decay, **options)["0"].fact


PASSES = ["feature_matrices", "weight_matrices"]


def data(seed: int, n: int = 12):
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, 4, generator=generator, dtype=torch.float64),
        torch.randn(n, 3, generator=generator, dtype=torch.float64),
    )


@pytest.mark.parametrize("pass_name", PASSES)
def test_a_loader_of_dicts_gives_what_tensors_give(pass_name, fresh_seed):
    model, (X, Y) = small_mlp(fresh_seed), data(fresh_seed)
    loader = DataLoader([{"x": x, "y": y} for x, y in zip(X, Y)], batch_size=5)
    reference = fact_of_first_layer(pass_name, model, X, Y)
    assert relative_error(fact_of_first_layer(pass_name, model, loader), reference) < 1e-13
    unnamed = DataLoader([{"image": x, "label": y} for x, y in zip(X, Y)], batch_size=5)
    with pytest.raises(
        ValueError, match=r"a batch is a dict with keys \['image', 'label'\]; give the inputs under 'x'"
    ):
        fact_of_first_layer(pass_name, model, unnamed)


@pytest.mark.parametrize("pass_name", PASSES)
def test_one_sample_without_a_batch_dimension_is_told_to_add_one(pass_name):
    model, (X, Y) = small_mlp(0), data(0)
    with pytest.raises(ValueError, match=r"inputs of shape \(4,\) have no batch dimension.*x.unsqueeze\(0\)"):
        fact_of_first_layer(pass_name, model, X[0], Y[0])


@pytest.mark.parametrize("pass_name", PASSES)
@pytest.mark.parametrize("where", ["inputs", "targets"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_data_is_refused_naming_the_batch(pass_name, where, bad):
    model, (X, Y) = small_mlp(0), data(0)
    (X if where == "inputs" else Y)[7, 1] = bad
    with pytest.raises(
        ValueError, match=f"{where} contain non-finite values.*batch starting at sample 5; clean the data"
    ):
        fact_of_first_layer(pass_name, model, X, Y, batch_size=5)


@pytest.mark.parametrize("pass_name", PASSES)
@pytest.mark.parametrize(
    "weight_decay, message",
    [
        ("1e-3", "weight_decay must be a number, got the string '1e-3': write weight_decay=1e-3 without quotes"),
        (float("inf"), "weight_decay must be a finite number > 0"),
        (float("nan"), "weight_decay must be a finite number > 0"),
        (0.0, "weight_decay must be a finite number > 0"),
        (-1e-3, "weight_decay must be a finite number > 0"),
    ],
)
def test_a_weight_decay_that_is_no_positive_number_is_refused(pass_name, weight_decay, message):
    model, (X, Y) = small_mlp(0), data(0)
    with pytest.raises(ValueError, match=message):
        fact_of_first_layer(pass_name, model, X, Y, weight_decay=weight_decay)


@pytest.mark.parametrize("pass_name", PASSES)
def test_a_half_precision_overflow_says_to_compute_in_float32(pass_name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3)).half()
    X, Y = (value.half() * 300 for value in data(0))  # finite in float16; their squared errors are not
    with pytest.raises(ValueError, match=r"overflowed torch.float16.*compute in float32, e.g. model.float\(\)"):
        fact_of_first_layer(pass_name, model, X, Y)
    fact_of_first_layer(pass_name, model.float(), X.float(), Y.float())  # as advised: no overflow


@pytest.mark.parametrize("pass_name", PASSES)
def test_non_finite_weights_are_named_as_the_cause(pass_name):
    model, (X, Y) = small_mlp(0), data(0)
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="model outputs are non-finite.*from finite data: check the model's weights"):
        fact_of_first_layer(pass_name, model, X, Y)


@pytest.mark.parametrize("pass_name", PASSES)
def test_inputs_without_a_sample_are_refused(pass_name):
    model, (X, Y) = small_mlp(0), data(0)
    with pytest.raises(ValueError, match="give at least one"):
        fact_of_first_layer(pass_name, model, X[:0], Y[:0])
    with pytest.raises(ValueError, match="give at least one"):
        fact_of_first_layer(pass_name, model, [], None)


@pytest.mark.parametrize("pass_name", PASSES)
def test_integer_inputs_to_a_float_model_are_named_with_what_to_give(pass_name):
    model, (X, Y) = small_mlp(0), data(0)
    with pytest.raises(ValueError, match=r"inputs are integers \(torch.int64\): give floating inputs"):
        fact_of_first_layer(pass_name, model, X.long(), Y)


class Described(nn.Module):
    """A model that returns its outputs inside a container, as a Hugging Face model returns a ModelOutput."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return {"logits": self.model(x)}


@pytest.mark.parametrize("pass_name", PASSES)
def test_outputs_that_are_no_tensor_say_to_give_a_module_returning_the_logits(pass_name):
    model, (X, Y) = small_mlp(0), data(0)
    with pytest.raises(ValueError, match=r"model outputs are a dict, not a tensor: give a module whose forward"):
        fact_of_first_layer(pass_name, Described(model), X, Y)
