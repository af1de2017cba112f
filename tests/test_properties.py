"""Properties that must hold for every input, on inputs hypothesis draws: the agreement measures' invariances,
the monitor's counting of steps and tau, and the checks of numbers given as settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from fact.features.metrics import agreement, cosine, pearson, relative_error, spearman
from fact.features.monitor import Monitor
from fact.features.real_number import real_number

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
matrices = st.integers(2, 6).flatmap(lambda d: arrays(np.float64, (d, d), elements=finite))


def varied(matrix: np.ndarray) -> bool:
    """Far enough from constant for a correlation to be defined and well conditioned."""
    return float(np.std(matrix)) > 1e-3 * (1 + float(np.abs(matrix).max()))


@settings(deadline=None)  # timing on a loaded machine is no property
@given(matrices, st.floats(1e-2, 1e2), st.floats(-1e2, 1e2))
def test_pearson_is_one_for_a_positive_affine_image_and_symmetric(values, scale, shift):
    if not varied(values):
        return
    a = torch.from_numpy(values)
    assert pearson(a, scale * a + shift) == pytest.approx(1.0, abs=1e-9)
    assert pearson(a, -scale * a + shift) == pytest.approx(-1.0, abs=1e-9)
    b = a.flip(0)
    assert pearson(a, b) == pytest.approx(pearson(b, a), abs=1e-12)


@settings(deadline=None)  # timing on a loaded machine is no property
@given(matrices)
def test_spearman_sees_only_the_order(values):
    if not varied(values):
        return
    a = torch.from_numpy(values)
    # a strictly increasing, nonlinear map that rounding cannot break: the cube of each value's place among
    # the distinct values (ties stay ties)
    places = torch.searchsorted(torch.unique(a), a.flatten()).reshape(a.shape).double()
    assert spearman(a, places**3) == pytest.approx(1.0, abs=1e-9)
    assert spearman(a, -(places**3)) == pytest.approx(-1.0, abs=1e-9)


@settings(deadline=None)  # timing on a loaded machine is no property
@given(matrices, matrices)
def test_cosine_is_bounded_and_an_estimate_of_itself_has_no_error(first, second):
    a = torch.from_numpy(first)
    b = torch.from_numpy(second[: len(first), : len(first)]) if len(second) >= len(first) else a.T
    value = cosine(a, b)
    assert math.isnan(value) or -1 - 1e-12 <= value <= 1 + 1e-12
    if float(a.norm()) > 0:
        assert relative_error(a, a) == 0.0
        measured = agreement(a, a)
        assert measured["relative_error"] == 0.0 and (math.isnan(measured["cosine"]) or measured["cosine"] > 1 - 1e-12)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.floats(1e-3, 0.2), st.integers(0, 2)), min_size=1, max_size=12),
    st.integers(1, 4),
)
def test_the_monitor_counts_each_optimizer_step_once_whatever_the_calls(steps, every):
    """Each entry: a step at that learning rate, then 0-2 extra monitor.step calls for the same step."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    X, Y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.01)
    monitor = Monitor(model, X, Y, "mse", 0.01, every=every)
    for lr, extra in steps:
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        nn.functional.mse_loss(model(X), Y).backward()
        optimizer.step()
        for _ in range(1 + extra):
            monitor.step(optimizer)
    assert monitor.steps == len(steps)
    recorded = monitor.table
    assert sorted(recorded.step.unique()) == list(range(every, len(steps) + 1, every))
    for step in recorded.step.unique():
        expected = 0.01 * sum(lr for lr, _ in steps[:step])
        assert recorded[recorded.step == step].tau.unique() == pytest.approx([expected], rel=1e-12)


@settings(deadline=None)  # timing on a loaded machine is no property
@given(st.floats(0, 1e300, allow_nan=False, allow_infinity=False))
def test_a_finite_number_is_a_setting_and_its_text_is_refused_saying_to_drop_the_quotes(value):
    assert real_number(value, "lr") == value
    with pytest.raises(ValueError, match="without quotes"):
        real_number(str(value), "lr")
    with pytest.raises(ValueError, match="must be a finite number"):
        real_number(-value - 1e-300 if value == 0 else -value, "lr")


@settings(deadline=None)  # timing on a loaded machine is no property
@given(st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, int]), st.integers(1, 100))
def test_a_whole_number_of_any_integer_type_is_a_step_count(kind, every):
    model = nn.Linear(2, 1).double()
    X, Y = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    assert Monitor(model, X, Y, "mse", 0.1, every=kind(every)).every == every
