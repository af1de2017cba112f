"""Per-sample losses (the loss_i of FACT's objective), the objective's weight decay lambda as the
functions take it, and the error raised when training's loss is not finite."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Loss = str | LossFn


def _without_trailing_ones(shape: torch.Size) -> tuple[int, ...]:
    shape = tuple(shape)
    while len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def mse_per_sample(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """torch's MSELoss for each sample: the mean over outputs of the squared error.

    Targets have the outputs' shape; only trailing dimensions of size one may differ
    (targets of shape (n,) for outputs of shape (n, 1)). Any other shape, a transposed
    one included, is refused rather than reshaped.
    """
    if targets.shape != outputs.shape:
        if _without_trailing_ones(targets.shape) != _without_trailing_ones(outputs.shape):
            raise ValueError(
                f"mse loss: targets of shape {tuple(targets.shape)} do not match outputs of shape "
                f"{tuple(outputs.shape)}; give targets of the outputs' shape, one row per sample"
            )
        targets = targets.reshape(outputs.shape)
    return ((outputs - targets) ** 2).reshape(outputs.shape[0], -1).mean(dim=1)


def ce_per_sample(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each sample; targets are class indices or class probabilities."""
    return F.cross_entropy(outputs, targets, reduction="none")


LOSSES: dict[str, LossFn] = {"mse": mse_per_sample, "ce": ce_per_sample}


def resolve_loss(loss: Loss) -> LossFn:
    """Turn ``"mse"``, ``"ce"`` or a callable ``(outputs, targets) -> per-sample losses`` into a callable."""
    if callable(loss):
        return loss
    if loss in LOSSES:
        return LOSSES[loss]
    raise ValueError(f"unknown loss {loss!r}: use one of {sorted(LOSSES)} or a callable (outputs, targets) -> per-sample losses")


def weight_decay_value(weight_decay) -> float:
    """The lambda of ``(1/n) sum loss_i + (lambda/2) ||theta||^2`` as a float, or a ValueError that says what
    to give: FACT divides by it, so it must be a finite number > 0."""
    if isinstance(weight_decay, (str, bytes)):
        raise ValueError(f"weight_decay must be a number, got the string {weight_decay!r}: write "
                         f"weight_decay={weight_decay} without quotes")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
        raise ValueError(f"weight_decay must be a number (the lambda of the objective), got {weight_decay!r}")
    if not (math.isfinite(weight_decay) and weight_decay > 0):
        raise ValueError(f"weight_decay must be a finite number > 0 (the lambda of the objective; FACT divides by "
                         f"it), got {weight_decay}")
    return float(weight_decay)


def stationarity_error(mean_gradient: torch.Tensor, weight: torch.Tensor, weight_decay: float) -> float:
    """||grad_W Lbar + lambda W|| / ||lambda W||, with grad_W Lbar the gradient of the mean loss: the
    relative size of the objective's gradient in W, zero exactly at a critical point, where FACT holds."""
    return float((mean_gradient + weight_decay * weight).norm() / (weight_decay * weight.norm()))


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite objective."""
