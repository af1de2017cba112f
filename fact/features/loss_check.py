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
judged then. A small batch's gradient can point far from its mean's by noise alone: where one step disagrees,
the next steps' gradients are added to it (both sides, at the same parameters), up to ``CHECK_STEPS`` steps,
and the sums are judged; a loss that differs stays apart however many steps are summed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

COSINE_FLOOR = 0.5  # a batch gradient of the same loss, early in training, points closer than this to its mean's
SCALE_RANGE = 1.5  # the scale of the same loss is 1 up to noise; half the loss (1/2 ||f - y||^2) is off by 2
CHECK_STEPS = 4  # steps summed at most before a disagreement is reported: the noise of the sum is halved


@dataclass(frozen=True)
class LossCheck:
    """One step's training gradient against the monitor's (see the module docstring)."""

    step: int
    cosine: float
    scale: float
    with_decay: bool  # the training gradient held lambda W (L2 in the loss)
    clipped: bool  # the step's gradients were clipped: their scale says nothing
    steps: int = 1  # the steps whose gradients were summed, from ``step`` on

    @property
    def agrees(self) -> bool:
        """Whether the training gradient is the monitor's loss's, up to a batch's noise."""
        scaled_alike = self.clipped or 1 / SCALE_RANGE <= self.scale <= SCALE_RANGE
        return self.cosine >= COSINE_FLOOR and scaled_alike

    def describe(self) -> str:
        """The measures, in words."""
        scale = "clipped, scale not judged" if self.clipped else f"scale {self.scale:.3g}"
        decay = ", lambda W included" if self.with_decay else ""
        steps = f"at step {self.step}" if self.steps == 1 else f"over steps {self.step}-{self.step + self.steps - 1}"
        return f"{steps}: cosine {self.cosine:.3f}, {scale}{decay}"

    def advice(self) -> str:
        """What a disagreement means and what to change."""
        return (
            f"the monitor's loss is not the one training minimises (its gradient against the training gradient "
            f"{self.describe()}; the same loss gives a cosine near 1 and a scale near 1): give the Monitor that loss "
            "(a per-sample callable, averaged over samples as training averages; the squared error summed over c "
            'outputs is "sse", scale c against "mse", and half of it "half_sse", scale c/2), or every FACT and '
            "stationarity error it records is of another objective"
        )


def compare(
    step: int,
    training: list[torch.Tensor],
    monitor: list[torch.Tensor],
    weights: list[torch.Tensor],
    weight_decay: float,
    clipped: bool = False,
) -> LossCheck:
    """Compare one step's training gradients of the followed weights with the monitor's (lists in one order)."""
    return judge(step, flat(training), flat(monitor), weight_decay * flat(weights), clipped, steps=1)


def judge(step: int, g: torch.Tensor, m: torch.Tensor, decay: torch.Tensor, clipped: bool, steps: int) -> LossCheck:
    """The check of the training gradient ``g`` against the monitor's ``m`` (``decay``: lambda W, the same sum)."""
    plain = LossCheck(step, *_measures(g, m), with_decay=False, clipped=clipped, steps=steps)
    if plain.agrees:
        return plain
    decayed = LossCheck(step, *_measures(g, m + decay), with_decay=True, clipped=clipped, steps=steps)
    return decayed if decayed.agrees else plain


def flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The tensors as one float64 vector."""
    return torch.cat([tensor.detach().double().flatten() for tensor in tensors])


class Sums:
    """The gradients of successive steps, summed until they agree or ``CHECK_STEPS`` were added."""

    def __init__(self):
        self.first: int | None = None
        self.steps = 0
        self.sums: list[torch.Tensor] = []  # training, monitor, lambda W
        self.clipped = False

    def add(self, step: int, training, monitor, weights, weight_decay: float, clipped: bool) -> LossCheck | None:
        """Add one step's gradients (as for ``compare``); the check once it is judged, else None."""
        added = [flat(training), flat(monitor), weight_decay * flat(weights)]
        self.sums = added if not self.sums else [total + new for total, new in zip(self.sums, added)]
        self.first = step if self.first is None else self.first
        self.steps += 1
        self.clipped |= clipped
        check = judge(self.first, *self.sums, clipped=self.clipped, steps=self.steps)
        return check if check.agrees or self.steps >= CHECK_STEPS else None


def _measures(g: torch.Tensor, m: torch.Tensor) -> tuple[float, float]:
    """The cosine of ``g`` with ``m`` and the scale of ``g`` along ``m`` (NaN where either is 0)."""
    if not m.norm() > 0 or not g.norm() > 0:
        return math.nan, math.nan
    return float(g @ m / (g.norm() * m.norm())), float(g @ m / (m @ m))


def training_gradients(followed: list, trained: list, max_norm: float | None, norm_before: float | None):
    """The followed weights' training gradients and whether only their direction is known (clipped): a clipped
    step's gradients are scaled back by the clip's factor where the norm before the clip was measured."""
    gradients = [parameter.grad for parameter in followed]
    if not clipped_to(trained, max_norm):
        return gradients, False
    if norm_before is None or norm_before < max_norm * (1 - 1e-3):  # not measured, or not of this clip
        return gradients, True
    factor = min(1.0, max_norm / (norm_before + 1e-6))  # torch.nn.utils.clip_grad_norm_'s factor
    return [gradient / factor for gradient in gradients], False


class NormBeforeClip:
    """The norm of the gradients of ``parameters`` as backward leaves them, before a loop clips them: a hook on
    each parameter reads its gradient after every accumulation into it, so the last reading is the step's."""

    def __init__(self, parameters):
        self._squares: dict[int, torch.Tensor] = {}
        self._handles = [p.register_post_accumulate_grad_hook(self._read) for p in parameters if p.requires_grad]

    def _read(self, parameter: torch.Tensor) -> None:
        self._squares[id(parameter)] = parameter.grad.detach().double().square().sum()

    def finish(self) -> float | None:
        """Remove the hooks; the norm read (None where backward reached none of the parameters)."""
        for handle in self._handles:
            handle.remove()
        return float(sum(self._squares.values()).sqrt()) if self._squares else None


def clipped_to(parameters: list[torch.Tensor], max_norm: float | None) -> bool:
    """Whether the gradients of ``parameters`` (all the optimizer steps) were clipped to ``max_norm``: their
    norm is that bound, to the rounding of the clip."""
    if not max_norm:
        return False
    gradients = [p.grad.detach().double().flatten() for p in parameters if p.grad is not None]
    if not gradients:
        return False
    return abs(float(torch.cat(gradients).norm()) - max_norm) <= 1e-3 * max_norm
