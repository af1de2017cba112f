"""Full-batch L-BFGS in float64 from where SGD stopped, until the network is at a critical point.

SGD with weight decay approaches a critical point of (1/n) sum_i loss_i + (lambda/2) ||theta||^2 only
as fast as weight decay acts (tau, see ``fact.experiments.training``); at the paper's lambda = 1e-4 that takes more
epochs than a small dataset gives. L-BFGS on the same objective, over the whole training set and in
float64, takes the rest of the way in far fewer passes. It stops as soon as every weight's stationarity
error ||grad_W Lbar + lambda W|| / ||lambda W|| is at most ``converged_below``, or when its step budget
runs out, and hands on the state it measured closest to a critical point (L-BFGS lowers the objective,
not the stationarity error, which can rise on the way); either way it says where it ended.
"""

from __future__ import annotations

import logging
import time

import torch
from torch import nn

from fact.features.losses import batch_share
from fact.features.objective import (
    converged_below_value,
    finite_or_raise,
    regularised_backward,
    trained_parameters,
)
from fact.features.weights import weight_matrices

log = logging.getLogger(__name__)


def polish_lbfgs(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    loss: str,
    weight_decay: float,
    converged_below: float,
    max_steps: int,
    check_every: int = 25,
    batch_size: int | None = None,
) -> dict:
    """L-BFGS steps on the objective training minimised, (1/n) sum_i loss_i + (lambda/2)||theta||^2 with the loss
    named ``loss`` (``fact.experiments.training.LOSS`` after ``train_sgd``), in float64, until converged or
    ``max_steps``, measuring every weight's stationarity error every ``check_every`` steps. L-BFGS lowers the
    objective, not the stationarity error, which can rise on the way: ``model`` is left, in its own dtype, at
    the checked state closest to a critical point (the start included). Returns {"steps", "kept_step",
    "seconds", "stationarity_before", "stationarity"}."""
    converged_below = converged_below_value(converged_below)
    dtype = next(model.parameters()).dtype
    start = time.perf_counter()
    model.double()
    X, Y = X.double(), Y.double() if Y.is_floating_point() else Y  # class labels stay integers
    params = trained_parameters(model)
    optimiser = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=check_every,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        history_size=100,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = regularised_loss_backward(model, X, Y, loss, weight_decay, batch_size)
        finite_or_raise(value, "an L-BFGS step of the polish")
        return value

    start_point = stationarity = stationarity_errors(model, X, Y, loss, weight_decay, batch_size)
    best = _Checked(0, stationarity, params)
    steps = 0
    while steps < max_steps and max(stationarity.values()) > converged_below:
        optimiser.param_groups[0]["max_iter"] = min(check_every, max_steps - steps)
        before_step = [p.detach().clone() for p in params]
        optimiser.step(closure)
        steps = optimiser.state[params[0]]["n_iter"]
        if all(torch.equal(b, p) for b, p in zip(before_step, params)):
            log.warning(
                "L-BFGS makes no more progress after %d steps (a ReLU kink, or the end of float64's precision)", steps
            )
            break
        stationarity = stationarity_errors(model, X, Y, loss, weight_decay, batch_size)
        log.info("L-BFGS step %d: largest stationarity error %.3g", steps, max(stationarity.values()))
        if max(stationarity.values()) < best.largest:
            best = _Checked(steps, stationarity, params)
    best.restore(params)
    model.to(dtype)
    return {
        "steps": steps,
        "kept_step": best.step,
        "seconds": time.perf_counter() - start,
        "stationarity_before": start_point,
        "stationarity": best.stationarity,
    }


class _Checked:
    """A state the polish measured: its step, stationarity errors and a copy of the weights."""

    def __init__(self, step: int, stationarity: dict[str, float], params: list[torch.Tensor]):
        self.step, self.stationarity = step, stationarity
        self.largest = max(stationarity.values())
        self.weights = [p.detach().clone() for p in params]

    def restore(self, params: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for param, weight in zip(params, self.weights):
                param.copy_(weight)


def regularised_loss_backward(
    model: nn.Module, X: torch.Tensor, Y: torch.Tensor, loss: str, weight_decay: float, batch_size: int | None
) -> torch.Tensor:
    """The objective training minimises ((1/n) sum_i loss_i, plus the penalty), its gradient accumulated into
    ``.grad`` batch by batch."""

    def share(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return batch_share(loss, outputs, targets, len(Y))

    return regularised_backward(model, X, Y, weight_decay, batch_size, share)


def stationarity_errors(
    model: nn.Module, X: torch.Tensor, Y: torch.Tensor, loss: str, weight_decay: float, batch_size: int | None
) -> dict[str, float]:
    """Every weight's ||grad_W Lbar + lambda W|| / ||lambda W|| on (X, Y) under the loss named ``loss``."""
    weights = weight_matrices(model, X, Y, loss, weight_decay, batch_size=batch_size)
    return {name: weight.stationarity_error for name, weight in weights.items()}
