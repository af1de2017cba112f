"""Model families of the paper and the full-batch training used to reach critical points."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)


class QuadraticNet(nn.Module):
    """Two-layer network with quadratic activation, f(x) = sum_j a_j (w_j^T x)^2 (spec section 4.7).

    Both weight matrices are bias-free ``nn.Linear`` layers, so ``fact.matrices`` sees
    ``hidden`` (W, m x d) and ``readout`` (a^T, 1 x m). Outputs have shape (batch, 1).
    """

    def __init__(self, d: int, width: int):
        super().__init__()
        self.hidden = nn.Linear(d, width, bias=False)
        self.readout = nn.Linear(width, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.hidden(x) ** 2)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite objective."""


def parameter_gradient_norm(params: Iterable[torch.Tensor]) -> float:
    """Euclidean norm of all parameter gradients together."""
    return math.sqrt(sum(float((p.grad ** 2).sum()) for p in params if p.grad is not None))


def _finite_or_raise(value: torch.Tensor, where: str) -> None:
    if not torch.isfinite(value):
        raise NonFiniteLossError(
            f"the training objective became {float(value)} at {where}; lower the learning rate "
            "or check the data scale"
        )


def minimise_lbfgs(params: list[torch.Tensor], objective: Callable[[], torch.Tensor], grad_tol: float,
                   max_rounds: int = 20, iterations_per_round: int = 500) -> float:
    """Full-batch L-BFGS with strong-Wolfe line search until the gradient norm is below ``grad_tol``.

    Runs rounds of ``iterations_per_round`` iterations (a fresh curvature history each
    round helps on the very ill-conditioned objectives of the paper) and stops early once
    the tolerance is met or a round makes no progress. Returns the final gradient norm.
    """
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations_per_round, tolerance_grad=grad_tol / 10,
                                  tolerance_change=0.0, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = objective()
        _finite_or_raise(value.detach(), "an L-BFGS step")
        value.backward()
        return value

    grad_norm = math.inf
    for round_index in range(max_rounds):
        value = closure()
        grad_norm = parameter_gradient_norm(params)
        log.info("lbfgs round %d: objective %.12g, gradient norm %.3e", round_index, float(value.detach()), grad_norm)
        if grad_norm < grad_tol:
            break
        before = [p.detach().clone() for p in params]
        optimizer.step(closure)
        optimizer.state.clear()  # new curvature history next round
        if all(torch.equal(b, p) for b, p in zip(before, params)):
            break
    closure()
    return parameter_gradient_norm(params)


@dataclass(frozen=True)
class FullBatchSchedule:
    """Adam with cosine decay, then optional L-BFGS polishing, on the whole dataset at once."""

    weight_decay: float
    lr: float
    steps: int
    final_lr_ratio: float = 1e-2
    polish: str = "lbfgs"  # "lbfgs" or "none"
    grad_tol: float = 1e-6
    polish_rounds: int = 10
    log_every: int = 500


def regularised_objective(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                          weight_decay: float) -> torch.Tensor:
    """(1/n) sum_i loss_i + (weight_decay/2) ||theta||^2, the objective FACT is stated for."""
    penalty = sum((p ** 2).sum() for p in model.parameters())
    return loss_fn(model(inputs), targets).mean() + weight_decay / 2 * penalty


def train_full_batch(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                     loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     schedule: FullBatchSchedule, progress: bool = True) -> list[dict]:
    """Train on the full dataset; return the history as records (phase, step, objective, grad_norm).

    The weight decay is in the objective itself (not in the optimiser), so Adam and L-BFGS
    minimise exactly the function whose critical points FACT describes.
    Raises NonFiniteLossError as soon as the objective is NaN or infinite.
    """
    from tqdm import tqdm

    params = list(model.parameters())

    def objective() -> torch.Tensor:
        return regularised_objective(model, inputs, targets, loss_fn, schedule.weight_decay)

    optimizer = torch.optim.Adam(params, lr=schedule.lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(schedule.steps, 1), eta_min=schedule.lr * schedule.final_lr_ratio)
    history: list[dict] = []
    for step in tqdm(range(schedule.steps), desc="adam", disable=not progress, mininterval=5):
        optimizer.zero_grad()
        value = objective()
        _finite_or_raise(value.detach(), f"Adam step {step}")
        value.backward()
        if step % schedule.log_every == 0 or step == schedule.steps - 1:
            grad_norm = parameter_gradient_norm(params)
            history.append({"phase": "adam", "step": step, "objective": float(value), "grad_norm": grad_norm})
            log.info("adam step %d: objective %.10g, gradient norm %.3e", step, float(value), grad_norm)
        optimizer.step()
        decay.step()

    if schedule.polish == "lbfgs":
        grad_norm = minimise_lbfgs(params, objective, schedule.grad_tol, schedule.polish_rounds)
    elif schedule.polish == "none":
        optimizer.zero_grad()
        objective().backward()
        grad_norm = parameter_gradient_norm(params)
    else:
        raise ValueError(f"unknown polish {schedule.polish!r}: use 'lbfgs' or 'none'")
    final = float(objective().detach())
    _finite_or_raise(torch.tensor(final), "the end of training")
    history.append({"phase": "final", "step": schedule.steps, "objective": final, "grad_norm": grad_norm})
    return history
