"""The backward half of the hooked pass: from a batch's model outputs to, for every recorded ``z``,
the loss gradients ``grad_z loss_i`` and the Jacobians ``J_i = d f(x_i) / d z_i``.

Per-sample quantities come out of a single backward of the *summed* output because samples do not
interact in the forward pass (which holds in eval mode). One backward pass vectorised over output
directions gives the Jacobians of every layer at once; the loss gradients follow from them by the
chain rule ``grad_z loss = J . d loss / d f``, so no second pass is needed. With random output
probes instead of every output, the loss gradient rides along as one more direction.
"""

from __future__ import annotations

import torch

from fact.features.batches import check_computed


def loss_gradient(outputs: torch.Tensor, targets: torch.Tensor, loss_fn, seen: int) -> torch.Tensor:
    """d loss_i / d f(x_i), as rows (samples, outputs): the loss only, no pass through the network.
    ``seen`` counts the samples of earlier batches, for the error messages."""
    f = outputs.detach().requires_grad_()
    per_sample = loss_fn(f, targets)
    if per_sample.shape != (len(f),):
        raise ValueError(f"the loss must return one value per sample, shape ({len(f)},), got {tuple(per_sample.shape)}")
    check_computed(per_sample, "losses", seen)
    return torch.autograd.grad(per_sample.sum(), f)[0].reshape(len(f), -1)


def output_directions(
    n_samples: int, n_outputs: int, probes: int | None, like: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Output directions (directions, samples, outputs) to differentiate along. Exact: direction k
    selects output k of every sample. Probed: g ~ N(0, I) scaled by 1/sqrt(probes), so the sum of the
    probed J^T g g^T J is an unbiased estimate of the sum over every output."""
    if probes is None:
        identity = torch.eye(n_outputs, device=like.device, dtype=like.dtype)
        return identity[:, None, :].expand(n_outputs, n_samples, n_outputs)
    draws = torch.randn(probes, n_samples, n_outputs, generator=generator, dtype=like.dtype)
    return draws.to(like.device) / probes**0.5


def jacobians_and_gradients(
    flat_outputs: torch.Tensor,
    zs: list[torch.Tensor],
    loss_grad: torch.Tensor | None,
    probes: int | None,
    generator: torch.Generator | None,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """For each z: the Jacobians (directions, *z.shape) and, with ``loss_grad``, the loss gradient (z.shape)."""
    directions = output_directions(len(flat_outputs), flat_outputs.shape[1], probes, flat_outputs, generator)
    if probes is not None and loss_grad is not None:
        directions = torch.cat([directions, loss_grad[None]])
    jacobians = _along(flat_outputs, zs, directions, batched=True)
    if loss_grad is None:
        return jacobians, None
    if probes is None:  # the chain rule on the exact Jacobians: no extra backward direction
        return jacobians, [combine_directions(J, loss_grad) for J in jacobians]
    return [J[:-1] for J in jacobians], [J[-1] for J in jacobians]


def loss_gradients(flat_outputs: torch.Tensor, zs: list[torch.Tensor], loss_grad: torch.Tensor) -> list[torch.Tensor]:
    """grad_z sum_i loss_i for each z: one backward pass along the loss gradient."""
    return _along(flat_outputs, zs, loss_grad, batched=False)


def _along(
    flat_outputs: torch.Tensor, zs: list[torch.Tensor], directions: torch.Tensor, batched: bool
) -> list[torch.Tensor]:
    """Vector-Jacobian products of the outputs with each z; zeros for a z the outputs do not use."""
    grads = torch.autograd.grad(flat_outputs, zs, grad_outputs=directions, is_grads_batched=batched, allow_unused=True)
    leading = (len(directions),) if batched else ()
    return [
        torch.zeros(leading + z.shape, device=z.device, dtype=z.dtype) if g is None else g for g, z in zip(grads, zs)
    ]


def combine_directions(jacobians: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_k weights[i, k] jacobians[k, i, ...]: the gradient along per-sample output weights.

    One multiply-add per direction over the whole batch: a batched (1 x k) @ (k x d) product per
    sample, as einsum makes of it, reads the Jacobians several times more slowly.
    """
    shape = (len(weights),) + (1,) * (jacobians.dim() - 2)
    combined = jacobians[0] * weights[:, 0].reshape(shape)
    for direction in range(1, len(jacobians)):
        combined.addcmul_(jacobians[direction], weights[:, direction].reshape(shape))
    return combined
