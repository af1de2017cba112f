"""Is the loss the monitor computes the one the optimizer minimises? Compared once, on one step's gradient.

The monitor's FACT and stationarity error are of ``(1/n) sum_i loss_i + (lambda/2) ||theta||^2`` with *its*
loss: a training loop that sums where the monitor averages (``reduction="sum"``, ``0.5 * ||f - y||^2`` over
outputs), or that takes another loss (every position of a sequence where the monitor takes the last), minimises
another objective, whose critical points are not the monitor's. At one optimizer step, the training gradient
``g`` of each followed weight (its ``.grad``, on the step's batch) is compared with the monitor's gradient of its
mean loss ``m`` on its own samples, at the same parameters:

* the cosine of the two, over all followed weights: a batch's gradient points near its mean's (far from 0)
  wherever the losses are the same;
* the scale ``<g, m> / ||m||^2``: 1 on average for a batch of the same loss whatever its noise (the noise is
  spread over every direction, little of it along ``m``), ``c`` for a loss ``c`` times as large.

A training gradient that holds the decay too (L2 added to the loss) is compared with ``m + lambda W``. Where the
loop clips gradients, a step whose gradients were clipped keeps their direction only, so only the cosine is
judged then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

COSINE_FLOOR = 0.5  # a batch gradient of the same loss, early in training, points closer than this to its mean's
SCALE_RANGE = 1.5  # the scale of the same loss is 1 up to noise; half the loss (1/2 ||f - y||^2) is off by 2


@dataclass(frozen=True)
class LossCheck:
    """One step's training gradient against the monitor's (see the module docstring)."""

    step: int
    cosine: float
    scale: float
    with_decay: bool  # the training gradient held lambda W (L2 in the loss)
    clipped: bool  # the step's gradients were clipped: their scale says nothing

    @property
    def agrees(self) -> bool:
        """Whether the training gradient is the monitor's loss's, up to a batch's noise."""
        scaled_alike = self.clipped or 1 / SCALE_RANGE <= self.scale <= SCALE_RANGE
        return self.cosine >= COSINE_FLOOR and scaled_alike

    def describe(self) -> str:
        """The measures, in words."""
        scale = "clipped, scale not judged" if self.clipped else f"scale {self.scale:.3g}"
        decay = ", lambda W included" if self.with_decay else ""
        return f"at step {self.step}: cosine {self.cosine:.3f}, {scale}{decay}"

    def advice(self) -> str:
        """What a disagreement means and what to change."""
        return (
            f"the monitor's loss is not the one training minimises (its gradient against the training gradient "
            f"{self.describe()}; the same loss gives a cosine near 1 and a scale near 1): give the Monitor that loss "
            "(a per-sample callable, averaged over samples as training averages), or every FACT and stationarity "
            "error it records is of another objective"
        )


def compare(
    step: int,
    training: list[torch.Tensor],
    monitor: list[torch.Tensor],
    weights: list[torch.Tensor],
    weight_decay: float,
    clipped: bool = False,
) -> LossCheck:
    """Compare the followed weights' training gradients with the monitor's (lists in the same order)."""
    g = torch.cat([gradient.detach().double().flatten() for gradient in training])
    m = torch.cat([gradient.detach().double().flatten() for gradient in monitor])
    decay = weight_decay * torch.cat([weight.detach().double().flatten() for weight in weights])
    plain = LossCheck(step, *_measures(g, m), with_decay=False, clipped=clipped)
    if plain.agrees:
        return plain
    decayed = LossCheck(step, *_measures(g, m + decay), with_decay=True, clipped=clipped)
    return decayed if decayed.agrees else plain


def _measures(g: torch.Tensor, m: torch.Tensor) -> tuple[float, float]:
    """The cosine of ``g`` with ``m`` and the scale of ``g`` along ``m`` (NaN where either is 0)."""
    if not m.norm() > 0 or not g.norm() > 0:
        return math.nan, math.nan
    return float(g @ m / (g.norm() * m.norm())), float(g @ m / (m @ m))


def clipped_to(parameters: list[torch.Tensor], max_norm: float | None) -> bool:
    """Whether the gradients of ``parameters`` (all the optimizer steps) were clipped to ``max_norm``: their
    norm is that bound, to the rounding of the clip."""
    if not max_norm:
        return False
    gradients = [p.grad.detach().double().flatten() for p in parameters if p.grad is not None]
    if not gradients:
        return False
    return abs(float(torch.cat(gradients).norm()) - max_norm) <= 1e-3 * max_norm
