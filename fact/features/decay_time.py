"""How long weight decay has acted on each weight: tau = sum_t rate_t lr_t, read from a PyTorch optimizer.

Weight decay alone shrinks a weight by about exp(-tau): the time it needs to bring a network to a
critical point, where FACT holds (in the paper's MLPs FACT's agreement with W^T W follows tau, and
about tau >= 2 was needed). The rate of one step, for the weight's parameter group:

* ``SGD`` with ``weight_decay`` lambda and ``momentum`` mu: the step's decay ``lr lambda theta`` is echoed
  by the momentum buffer, ``lr lambda (1 - dampening) / (1 - mu)`` in all (Nesterov's: ``lr lambda / (1 - mu)``);
* ``AdamW`` (and ``Adam(decoupled_weight_decay=True)``): ``theta <- theta (1 - lr lambda)``, rate ``lambda``;
* ``Adam`` with ``weight_decay`` (L2 added to the gradient) and other adaptive methods: the decay passes
  through the per-coordinate scaling as the loss gradient does, so no such time exists: tau is NaN.

A group without weight decay has rate 0. The learning rate read is the group's when the clock ticks:
tick right after ``optimizer.step()``, before a scheduler changes it for the next step.
"""

from __future__ import annotations

import math

import torch

NO_TAU = (
    "weight decay inside an adaptive optimizer's gradient (Adam's weight_decay, L2) is rescaled per "
    "coordinate like the loss gradient, so it has no decay time tau; SGD and AdamW have one"
)


def decay_rate(optimizer: torch.optim.Optimizer, group: dict) -> float:
    """lambda's share of one step of ``group`` per unit learning rate; NaN where tau is not defined."""
    weight_decay = group.get("weight_decay", 0.0)
    if not weight_decay:
        return 0.0
    if isinstance(optimizer, torch.optim.SGD):
        momentum, dampening = group.get("momentum", 0.0), group.get("dampening", 0.0)
        echo = 1.0 if group.get("nesterov") else 1.0 - dampening
        return weight_decay * echo / (1.0 - momentum) if momentum else weight_decay
    if isinstance(optimizer, torch.optim.AdamW) or group.get("decoupled_weight_decay"):
        return weight_decay
    return math.nan


class DecayClock:
    """tau of every parameter an optimizer steps, accumulated one step at a time."""

    def __init__(self) -> None:
        self._tau: dict[int, float] = {}  # id(parameter) -> tau

    def tick(self, optimizer: torch.optim.Optimizer) -> None:
        """Add the step just taken by ``optimizer`` (each group's rate times its learning rate)."""
        for group in optimizer.param_groups:
            step = decay_rate(optimizer, group) * float(group["lr"])
            for parameter in group["params"]:
                self._tau[id(parameter)] = self._tau.get(id(parameter), 0.0) + step

    def set(self, parameter: torch.Tensor, tau: float) -> None:
        """Start ``parameter`` at ``tau`` (a resumed run's; NaN where it cannot be known)."""
        self._tau[id(parameter)] = float(tau)

    def tau(self, parameter: torch.Tensor) -> float:
        """The parameter's tau so far (0 before any step; NaN where undefined)."""
        return self._tau.get(id(parameter), 0.0)
