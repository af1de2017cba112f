"""The decay runs (Figures 12 and 13): full-batch training with weight decay applied two ways: in the objective (Adam on
``(1/n) sum_i loss_i + (lambda/2) ||theta||^2``, PyTorch's ``Adam(weight_decay=lambda)``) or
decoupled from it (``AdamW``, which shrinks the weights by ``lr * lambda`` each step).

Only the first has the critical points of the regularised objective as its fixed points, so only
there does FACT have to hold at convergence; the second is what most transformers are trained with.

AdamW's decay acts for the time ``tau = lambda * sum_t lr_t`` (the weights are multiplied by
``exp(-tau)`` apart from the loss's steps), recorded in the history. Adam-L2 has no such time: its
decay passes through Adam's per-coordinate scaling like the loss gradient does, so its ``tau`` is NaN.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from torch import nn

from fact.features.decay_time import decay_rate
from fact.features.errors import NonFiniteLossError
from fact.features.objective import regularised_gradients, trained_parameters

log = logging.getLogger(__name__)

OPTIMISERS = ("adam_l2", "adamw")
LOSS = "ce"  # what train_with_decay minimises (cross-entropy), by its name in fact.features.losses


@dataclass(frozen=True)
class DecaySchedule:
    """Full-batch steps of one optimiser with cosine-decayed learning rate."""

    optimiser: str  # "adam_l2" (decay in the objective) or "adamw" (decoupled)
    lr: float
    weight_decay: float  # lambda
    steps: int
    final_lr_ratio: float  # learning rate at the last step / lr
    betas: tuple[float, float]
    log_every: int  # steps between accuracy records


def kept_steps(steps: int, count: int) -> list[int]:
    """``count`` steps from 0 to ``steps``, evenly spaced in log(1 + step): dense early, where features form."""
    points = torch.logspace(0, math.log10(steps + 1), count, dtype=torch.float64) - 1
    return sorted({int(round(float(point))) for point in points} | {0, steps})


def regularised_gradient_norm(model: nn.Module, X: torch.Tensor, y: torch.Tensor, weight_decay: float) -> float:
    """||grad of (1/n) sum_i CE_i + (lambda/2) ||theta||^2|| over the trained parameters: zero at a critical point."""
    parameters = trained_parameters(model)
    loss = nn.functional.cross_entropy(model(X), y)
    gradients = regularised_gradients(torch.autograd.grad(loss, parameters), parameters, weight_decay)
    return float(torch.sqrt(sum((g**2).sum() for g in gradients)))


def _accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        outputs = model(X)
        return float(nn.functional.cross_entropy(outputs, y)), float((outputs.argmax(1) == y).double().mean())


def train_with_decay(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    X_test: torch.Tensor,
    y_test: torch.Tensor,
    schedule: DecaySchedule,
    keep: list[int],
) -> tuple[list[dict], dict[int, dict]]:
    """Train on all of (X, y) at once with cross-entropy; return the history (train and test loss and
    accuracy every ``log_every`` steps and at every kept step) and the state dicts of the kept steps.

    Raises NonFiniteLossError when the loss stops being finite.
    """
    if schedule.optimiser not in OPTIMISERS:
        raise ValueError(f"unknown optimiser {schedule.optimiser!r}: use one of {OPTIMISERS}")
    kind = torch.optim.Adam if schedule.optimiser == "adam_l2" else torch.optim.AdamW
    optimiser = kind(
        model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay, betas=tuple(schedule.betas)
    )
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=max(schedule.steps, 1), eta_min=schedule.lr * schedule.final_lr_ratio
    )
    history, states, lr_sum = [], {}, 0.0
    for step in range(schedule.steps + 1):
        if step % schedule.log_every == 0 or step in keep:
            train_loss, train_accuracy = _accuracy(model, X, y)
            test_loss, test_accuracy = _accuracy(model, X_test, y_test)
            history.append(
                {
                    "step": step,
                    "train_loss": train_loss,
                    "train_accuracy": train_accuracy,
                    "test_loss": test_loss,
                    "test_accuracy": test_accuracy,
                    "gradient_norm": regularised_gradient_norm(model, X, y, schedule.weight_decay),
                    "tau": decay_rate(optimiser, optimiser.param_groups[0]) * lr_sum,  # NaN for Adam-L2
                }
            )
            log.info(
                "step %d: train loss %.3e, accuracy train %.3f test %.3f",
                step,
                train_loss,
                train_accuracy,
                test_accuracy,
            )
        if step in keep:
            states[step] = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
        if step == schedule.steps:
            break
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(X), y)
        if not torch.isfinite(loss.detach()):
            raise NonFiniteLossError(f"the training loss is {float(loss.detach())} at step {step}; lower lr")
        loss.backward()
        lr_sum += optimiser.param_groups[0]["lr"]
        optimiser.step()
        decay.step()
    return history, states
