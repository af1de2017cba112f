"""Full-batch training to an exact critical point: Adam, then L-BFGS into the basin, then Newton's
method on the exact Hessian (Figure 7 and the tests' critical points).

The weight decay is in the objective itself, (1/n) sum_i loss_i + (lambda/2) ||theta||^2, so the
optimisers minimise exactly the function whose critical points FACT describes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from fact.features.objective import finite_or_raise, regularised_objective, trained_parameters

log = logging.getLogger(__name__)


def parameter_gradient_norm(params: Iterable[torch.Tensor]) -> float:
    """Euclidean norm of all parameter gradients together."""
    return math.sqrt(sum(float((p.grad**2).sum()) for p in params if p.grad is not None))


def minimise_lbfgs(
    params: list[torch.Tensor],
    objective: Callable[[], torch.Tensor],
    grad_tol: float,
    max_rounds: int = 20,
    iterations_per_round: int = 500,
) -> float:
    """Full-batch L-BFGS with strong-Wolfe line search until the gradient norm is below ``grad_tol``.

    Runs rounds of ``iterations_per_round`` iterations (a fresh curvature history each
    round helps on the very ill-conditioned objectives of the paper) and stops early once
    the tolerance is met or a round makes no progress. Returns the final gradient norm.
    """
    optimizer = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=iterations_per_round,
        tolerance_grad=grad_tol / 10,
        tolerance_change=0.0,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        value = objective()
        finite_or_raise(value.detach(), "an L-BFGS step")
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
class NewtonResult:
    """Where Newton's method stopped: the gradient norm, its iterations, the Hessian's smallest eigenvalue."""

    grad_norm: float
    iterations: int
    hessian_min_eigenvalue: float  # > 0: the critical point is a strict local minimum


def minimise_newton(
    model: nn.Module,
    objective: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    grad_tol: float,
    max_iterations: int = 100,
    max_parameters: int = 20_000,
) -> NewtonResult:
    """Damped saddle-free Newton on the exact Hessian, for small models.

    First-order methods crawl along the weakly curved directions that weight decay alone
    resolves (curvature ~ lambda), so they stop at gradient norms far above what an exact
    FACT check needs. Newton's method converges quadratically once near a minimum; using
    |H| + mu I (absolute eigenvalues, adaptive damping mu) keeps every step a descent step
    far from it and near saddles. The model's trained parameters are overwritten with the
    result; frozen ones (``requires_grad`` off) stay as they are.

    ``objective`` maps ``{name: parameter}`` to the scalar objective.
    """
    padded = [name for name, m in model.named_modules() if isinstance(m, nn.Embedding) and m.padding_idx is not None]
    if padded:
        raise ValueError(
            f"{padded} are embeddings with a padding_idx: PyTorch's gradient leaves their padding lookups out, so it "
            "is the gradient of no objective, and Newton's method, which builds the objective's Hessian, would "
            "seek another point; polish with lbfgs, or set padding_idx=None"
        )
    named = {name: p for name, p in model.named_parameters() if p.requires_grad}
    sizes = [p.numel() for p in named.values()]
    if sum(sizes) > max_parameters:
        raise ValueError(
            f"Newton polishing builds the full Hessian: {sum(sizes)} parameters exceed "
            f"max_parameters={max_parameters}; use polish: lbfgs for larger models"
        )

    def unflatten(vector: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = torch.split(vector, sizes)
        return {name: piece.reshape(p.shape) for (name, p), piece in zip(named.items(), pieces)}

    def f(vector: torch.Tensor) -> torch.Tensor:
        return objective(unflatten(vector))

    # The Hessian uses forward-mode AD, which the fused attention kernels lack: attention
    # runs on its plain-math kernel here (same values, any device).
    with sdpa_kernel(SDPBackend.MATH):
        vector, iterations = _newton_iterations(
            f, torch.cat([p.detach().reshape(-1) for p in named.values()]), grad_tol, max_iterations
        )
        gradient = torch.func.grad(f)(vector)
        smallest = float(torch.linalg.eigvalsh(torch.func.hessian(f)(vector))[0])
    with torch.no_grad():
        for parameter, value in zip(named.values(), unflatten(vector).values()):
            parameter.copy_(value)
    return NewtonResult(float(gradient.norm()), iterations, smallest)


def _newton_iterations(
    f: Callable[[torch.Tensor], torch.Tensor], vector: torch.Tensor, grad_tol: float, max_iterations: int
) -> tuple[torch.Tensor, int]:
    """Saddle-free Newton steps from ``vector``; returns the last point and the iterations taken."""
    damping = 1e-6
    iteration = 0
    for iteration in range(max_iterations):
        value = f(vector)
        finite_or_raise(value.detach(), f"Newton iteration {iteration}")
        gradient = torch.func.grad(f)(vector)
        if float(gradient.norm()) < grad_tol:
            break
        # Saddle-free Newton: invert |eigenvalues| + damping, so that every step descends
        # even where the Hessian is indefinite (after Adam we may sit near a saddle).
        eigenvalues, eigenvectors = torch.linalg.eigh(torch.func.hessian(f)(vector))
        projected = eigenvectors.T @ gradient
        gradient_norm = gradient.norm()
        # Within rounding of the objective, descent cannot be seen: there a step counts as
        # progress when the objective does not rise beyond rounding and the gradient shrinks.
        rounding = 8 * torch.finfo(value.dtype).eps * value.abs()
        while damping <= 1e8:
            step = -eigenvectors @ (projected / (eigenvalues.abs() + damping))
            trial = f(vector + step)
            if trial < value or (
                trial <= value + rounding and torch.func.grad(f)(vector + step).norm() < gradient_norm
            ):
                vector = vector + step
                damping = max(damping / 10, 1e-12)
                break
            damping *= 10
        else:  # no descent step at any damping: numerically stationary
            break
        log.info(
            "newton iteration %d: objective %.15g, gradient norm %.3e", iteration, float(value), float(gradient.norm())
        )
    return vector, iteration


POLISHES = ("lbfgs+newton", "lbfgs", "newton", "none")


@dataclass(frozen=True)
class FullBatchSchedule:
    """Adam with cosine decay, then optional polishing to a critical point, on the whole dataset at once."""

    weight_decay: float
    lr: float
    steps: int
    final_lr_ratio: float = 1e-2
    # After Adam: "lbfgs+newton" (L-BFGS reaches the basin, then Newton on the exact Hessian
    # converges quadratically; small models), "lbfgs", "newton" or "none".
    polish: str = "lbfgs+newton"
    grad_tol: float = 1e-10
    lbfgs_rounds: int = 5  # rounds of 500 L-BFGS iterations
    newton_iterations: int = 100
    log_every: int = 500


def train_full_batch(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    schedule: FullBatchSchedule,
    progress: bool = True,
) -> list[dict]:
    """Train on the full dataset; return the history as records (phase, step, objective, grad_norm).

    The weight decay is in the objective itself (not in the optimiser), so Adam and L-BFGS
    minimise exactly the function whose critical points FACT describes.
    Raises NonFiniteLossError as soon as the objective is NaN or infinite.
    """
    from tqdm import tqdm

    params = trained_parameters(model)

    def objective(at: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        return regularised_objective(model, inputs, targets, loss_fn, schedule.weight_decay, at)

    optimizer = torch.optim.Adam(params, lr=schedule.lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(schedule.steps, 1), eta_min=schedule.lr * schedule.final_lr_ratio
    )
    history: list[dict] = []
    for step in tqdm(range(schedule.steps), desc="adam", disable=not progress, mininterval=5):
        optimizer.zero_grad()
        value = objective()
        finite_or_raise(value.detach(), f"Adam step {step}")
        value.backward()
        if step % schedule.log_every == 0 or step == schedule.steps - 1:
            grad_norm = parameter_gradient_norm(params)
            current = float(value.detach())
            history.append({"phase": "adam", "step": step, "objective": current, "grad_norm": grad_norm})
            log.info("adam step %d: objective %.10g, gradient norm %.3e", step, current, grad_norm)
        optimizer.step()
        decay.step()

    if schedule.polish not in POLISHES:
        raise ValueError(f"unknown polish {schedule.polish!r}: use one of {POLISHES}")
    extra = {}
    if "lbfgs" in schedule.polish:
        grad_norm = minimise_lbfgs(params, objective, schedule.grad_tol, schedule.lbfgs_rounds)
    if "newton" in schedule.polish:
        result = minimise_newton(model, objective, schedule.grad_tol, schedule.newton_iterations)
        grad_norm = result.grad_norm
        extra = {"hessian_min_eigenvalue": result.hessian_min_eigenvalue}
        log.info(
            "newton: gradient norm %.3e after %d iterations, smallest Hessian eigenvalue %.3e",
            result.grad_norm,
            result.iterations,
            result.hessian_min_eigenvalue,
        )
    if schedule.polish == "none":
        optimizer.zero_grad()
        objective().backward()
        grad_norm = parameter_gradient_norm(params)
    final = objective().detach()
    finite_or_raise(final, "the end of training")
    history.append(
        {"phase": "final", "step": schedule.steps, "objective": float(final), "grad_norm": grad_norm, **extra}
    )
    return history
