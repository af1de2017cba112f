"""The objective FACT is stated for, written once:

    L(theta) = (1/n) sum_i loss_i + (lambda/2) ||theta||^2,

where theta is the *trained* parameters (a frozen one, ``requires_grad`` off, is part of the model,
not of the objective's variables); its gradient; how far each weight is from a critical point; and
the checks of lambda and of the objective's value that every trainer makes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from fact.features.errors import NonFiniteLossError
from fact.features.real_number import real_number

BatchLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def trained_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The objective's variables: the parameters that require gradients."""
    return [p for p in model.parameters() if p.requires_grad]


def penalty(parameters: list[torch.Tensor], weight_decay: float) -> torch.Tensor:
    """(lambda/2) ||theta||^2."""
    return weight_decay / 2 * sum((p**2).sum() for p in parameters)


def regularised_objective(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: BatchLoss,
    weight_decay: float,
    params: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """L(theta) on the whole data at once, ``loss_fn`` giving the per-sample losses.

    With ``params`` the model is evaluated at those parameters instead of its own
    (``torch.func.functional_call``), which lets second-order methods differentiate twice.
    """
    if params is None:
        outputs, values = model(inputs), trained_parameters(model)
    else:
        outputs, values = torch.func.functional_call(model, params, (inputs,)), list(params.values())
    return loss_fn(outputs, targets).mean() + penalty(values, weight_decay)


def regularised_backward(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    weight_decay: float,
    batch_size: int | None,
    loss_share: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """L(theta)'s value, its gradient accumulated into ``.grad`` batch by batch (so the whole data never
    has to be held as activations at once). ``loss_share(outputs, targets)`` is one batch's share of the
    mean loss (its losses summed, over the whole data's n)."""
    n = len(X)
    batch_size = batch_size or n
    value = torch.zeros((), dtype=torch.float64, device=X.device)
    for first in range(0, n, batch_size):
        part = loss_share(model(X[first : first + batch_size]), Y[first : first + batch_size])
        part.backward()
        value += part.detach()
    decay = penalty(trained_parameters(model), weight_decay)
    decay.backward()
    return value + decay.detach()


def regularised_gradients(
    loss_gradients: list[torch.Tensor], parameters: list[torch.Tensor], weight_decay: float
) -> list[torch.Tensor]:
    """grad L(theta) from the mean loss's gradients: grad Lbar + lambda theta, parameter by parameter."""
    return [g + weight_decay * p.detach() for g, p in zip(loss_gradients, parameters)]


def stationarity_error(mean_gradient: torch.Tensor, weight: torch.Tensor, weight_decay: float) -> float:
    """||grad_W Lbar + lambda W|| / ||lambda W||, with grad_W Lbar the gradient of the mean loss: the
    relative size of the objective's gradient in W, zero exactly at a critical point, where FACT holds."""
    return float((mean_gradient + weight_decay * weight).norm() / (weight_decay * weight.norm()))


def finite_or_raise(value: torch.Tensor, where: str) -> None:
    """Raise NonFiniteLossError, saying what to change, when the objective is NaN or infinite."""
    if not torch.isfinite(value):
        raise NonFiniteLossError(
            f"the training objective became {float(value)} at {where}; lower the learning rate or check the data scale"
        )


def weight_decay_value(weight_decay) -> float:
    """The lambda of L(theta) as a float, or a ValueError that says what to give."""
    return real_number(
        weight_decay, "weight_decay", positive=True, meaning="the lambda of the objective; FACT divides by it"
    )


def converged_below_value(value) -> float:
    """A threshold on the stationarity error, in (0, 1]: above 1 the gradient of the objective is larger than
    the weight decay's own pull, so no reading calls that a critical point."""
    value = real_number(value, "converged_below", positive=True, meaning="a stationarity error, in (0, 1]")
    if value > 1:
        raise ValueError(
            f"converged_below must be at most 1, got {value:g}: a stationarity error above 1 is no critical point "
            "by any reading (0.2 is the default)"
        )
    return value
