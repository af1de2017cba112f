"""What the monitor reads from the optimizer that trains the model: the steps it takes (its step hook), how it
decays each followed weight (SGD's or Adam's L2, AdamW's decoupled decay, which lambda), and the learning rates
it stepped them with. The monitor's advice (``fact.features.monitor_advice``) reads these to say why a weight is
not at a critical point."""

from __future__ import annotations

import logging
import math

import torch

from fact.features.decay_time import NO_TAU, decay_rate

log = logging.getLogger("fact.features.monitor")

# How an optimizer's weight decay acts on a weight, which decides whether its fixed points are critical points of
# (1/n) sum_i loss_i + (lambda/2) ||theta||^2:
SGD = "SGD"  # lambda theta added to the gradient: its fixed points are critical points, reached as tau grows
ADAMW = "AdamW"  # theta shrunk beside the adaptive step: its fixed points are not critical points of that objective
ADAPTIVE_L2 = "adaptive with L2"  # Adam's weight_decay: critical points, but no decay time tau
NOT_DECAYED = "not decayed"  # no weight decay, or none of the optimizer's groups holds the weight


def decay_kind(optimizer: torch.optim.Optimizer, group: dict | None) -> str:
    """How ``optimizer`` decays the weights of ``group`` (None: a weight it does not train)."""
    if group is None or not group.get("weight_decay", 0.0):
        return NOT_DECAYED
    rate = decay_rate(optimizer, group)
    if math.isnan(rate):
        return ADAPTIVE_L2
    return SGD if isinstance(optimizer, torch.optim.SGD) else ADAMW


def unwrapped(optimizer) -> torch.optim.Optimizer:
    """The PyTorch optimizer inside a framework's wrapper (accelerate's ``.optimizer``, Lightning's
    ``._optimizer``; accelerate's is itself an Optimizer), whose class says how its weight decay acts and
    whose step hook counts the steps it takes."""
    while True:
        inner = getattr(optimizer, "optimizer", None) or getattr(optimizer, "_optimizer", None)
        if isinstance(inner, torch.optim.Optimizer):
            optimizer = inner
        elif isinstance(optimizer, torch.optim.Optimizer):
            return optimizer
        else:
            raise TypeError(f"monitor.step takes the optimizer that trains the model, not {type(optimizer).__name__}")


def groups_by_parameter(optimizer: torch.optim.Optimizer) -> dict[int, dict]:
    """{id(parameter): the parameter group that holds it} of ``optimizer``."""
    return {id(p): group for group in optimizer.param_groups for p in group["params"]}


class OptimizerWatch:
    """Per followed weight: how its optimizer decays it and with which lambda (by name, read once per optimizer),
    and the largest and the latest learning rate it was stepped with (by parameter, as the decay clock keeps tau,
    so that a step costs no walk of the model); per optimizer: the steps its hook counted."""

    def __init__(self) -> None:
        self.kind: dict[str, str] = {}
        self.decay: dict[str, float] = {}
        self._peak_lr: dict[int, float] = {}  # id(parameter) -> the largest learning rate it was stepped with
        self._last_lr: dict[int, float] = {}
        self._taken: dict[int, list[int]] = {}  # id(optimizer) -> [steps it took, of those at the last count]

    def knows(self, optimizer: torch.optim.Optimizer) -> bool:
        """Whether ``optimizer`` was checked (and its steps hooked) already."""
        return id(optimizer) in self._taken

    def check(self, optimizer: torch.optim.Optimizer, parameters: dict, weight_decay: float) -> None:
        """Read how ``optimizer`` decays the followed ``parameters`` (by name), hook its steps, and warn where it
        decays them with another lambda than ``weight_decay``, where they have no tau, or where it trains none."""
        taken = self._taken[id(optimizer)] = [0, -1]
        optimizer.register_step_post_hook(lambda *_: taken.__setitem__(0, taken[0] + 1))
        groups = groups_by_parameter(optimizer)
        followed = {name: groups.get(id(p)) for name, p in parameters.items()}
        for name, group in followed.items():
            if group is not None or name not in self.kind:  # a weight another optimizer trains keeps its own
                self.kind[name] = decay_kind(optimizer, group)
                self.decay[name] = 0.0 if group is None else float(group.get("weight_decay", 0.0))
        missing = sorted(name for name, group in followed.items() if group is None)
        other = sorted(name for name, group in followed.items() if group and self.decay[name] != weight_decay)
        no_tau = sorted(name for name, group in followed.items() if group and self.kind[name] == ADAPTIVE_L2)
        if other:
            log.warning(
                "the optimizer decays %s with another weight decay than weight_decay=%g: their FACT and "
                "stationarity speak of an objective they are not trained on",
                other,
                weight_decay,
            )
        if no_tau:
            log.warning("tau of %s is NaN: %s", no_tau, NO_TAU)
        if missing:
            log.warning("%s are in none of the optimizer's parameter groups: their tau stays 0", missing)

    def took_a_step(self, optimizer: torch.optim.Optimizer, counted: int) -> bool:
        """Whether ``optimizer`` took a step since the last count, as its step hook counted (the first count
        is taken on trust: the hook is set then)."""
        taken = self._taken[id(optimizer)]
        if taken[0] == taken[1]:
            log.warning(
                "monitor step %d: the optimizer took no step since the last count, so this one is not counted "
                "(count each optimizer.step() once; a step a GradScaler skipped shows as this too)",
                counted,
            )
            return False
        taken[1] = taken[0]
        return True

    def tick(self, optimizer: torch.optim.Optimizer) -> None:
        """Note the learning rate each parameter ``optimizer`` trains was stepped with."""
        for group in optimizer.param_groups:
            lr = float(group["lr"])
            for parameter in group["params"]:
                self._last_lr[id(parameter)] = lr
                self._peak_lr[id(parameter)] = max(lr, self._peak_lr.get(id(parameter), lr))

    def learning_rates(self, parameters: dict) -> tuple[dict[str, float], dict[str, float]]:
        """The largest and the latest learning rate of each of ``parameters`` (by name) stepped so far."""
        peak = {name: self._peak_lr[id(p)] for name, p in parameters.items() if id(p) in self._peak_lr}
        last = {name: self._last_lr[id(p)] for name, p in parameters.items() if id(p) in self._last_lr}
        return peak, last

    def state_dict(self, parameters: dict) -> dict:
        """The kinds, lambdas and learning rates of ``parameters`` (by name) read so far, for a resumed run."""
        peak, last = self.learning_rates(parameters)
        return {"kind": self.kind, "decay": self.decay, "peak_lr": peak, "last_lr": last}

    def load_state_dict(self, state: dict, parameters: dict) -> None:
        """A resumed run's rates and kinds (a state saved before they were kept has none: they start here)."""
        self.kind.update(state.get("kind", {}))
        self.decay.update(state.get("decay", {}))
        for name, parameter in parameters.items():
            if name in state.get("peak_lr", {}):
                self._peak_lr[id(parameter)] = state["peak_lr"][name]
            if name in state.get("last_lr", {}):
                self._last_lr[id(parameter)] = state["last_lr"][name]
