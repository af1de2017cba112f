"""FACT checked on every trained weight of a model, by fact.features.weights against its own gradient."""

from __future__ import annotations

from fact.features.metrics import relative_error
from fact.features.weights import weight_matrices


def assert_fact_holds_for_every_weight(
    model, inputs, targets, loss: str, weight_decay: float, context: str
) -> set[str]:
    """FACT and bFACT to 1e-6 for every weight at a critical point; a flipped sign or 2 lambda fails.
    Returns the names of the weights checked."""
    weights = weight_matrices(model, inputs, targets, loss, weight_decay)
    for key, weight in weights.items():
        assert weight.stationarity_error < 1e-6, f"{context} {key}"
        assert relative_error(weight.fact, weight.wtw) < 1e-6, f"{context} {key}"
        assert relative_error(weight.bfact, weight.wwt) < 1e-6, f"{context} {key}"
        assert relative_error(-weight.fact, weight.wtw) > 1.9, f"{context} {key}: sign"
    wrong = weight_matrices(model, inputs, targets, loss, 2 * weight_decay)
    assert all(relative_error(w.fact, w.wtw) > 0.4 for w in wrong.values()), f"{context}: constant"
    return set(weights)
