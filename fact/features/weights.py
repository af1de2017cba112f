"""FACT and bFACT of every weight of any PyTorch model, from the gradient of the mean loss.

At a critical point of ``L(theta) = (1/n) sum_i loss_i + (lambda/2) ||theta||^2`` every parameter
satisfies ``grad_W Lbar = -lambda W``, where ``Lbar`` is the mean loss. Hence, for every weight,

    W^T W = FACT  := -(1/lambda) W^T grad_W Lbar
    W W^T = bFACT := -(1/lambda) grad_W Lbar W^T

For a weight used as ``z = W h`` (at one position or many), ``W^T grad_W Lbar`` is exactly the
FACT sum of the paper, ``(1/n) sum_i sum_positions grad_{h} loss_i h^T``, so one backward pass of
the summed loss per batch gives FACT and bFACT of every weight at once: no hooks, no per-sample
work, any architecture.

A weight is taken as the matrix that acts on its input, as ``fact.features.layer_views`` shows it and under
the same name as in ``fact.features.matrices`` (``matrix_views``):

* ``nn.Linear`` ``fc``: ``weight`` (out x in), named ``fc``;
* ``nn.Conv1d/2d``: the kernel as ``out x (in * prod(kernel))``, acting on a patch;
* ``nn.Embedding``: ``weight^T`` (dim x vocabulary), acting on a one-hot token;
* ``nn.MultiheadAttention`` ``attention``: ``attention[q]``, ``attention[k]``, ``attention[v]`` (blocks
  of ``in_proj_weight``, or ``q_proj_weight`` ... when kdim or vdim differ) and ``attention.out_proj``;
* any other parameter with two or more dimensions (a ``Conv3d`` kernel, a module of your own):
  ``parameter.reshape(shape[0], -1)``, under its name in ``model.named_parameters()``.

One-dimensional parameters (biases, norms' scales) have no matrix and are left out, and so are
frozen weights (``requires_grad`` off): the objective is over the trained parameters. A weight
shared by two modules (tied embeddings) appears once, with the gradient of all its uses, which is
what stationarity says about it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from fact.features import distributed, heads
from fact.features.batches import batches, check_computed, check_data, evaluating, forward, on_model
from fact.features.layer_matrices import WeightProducts
from fact.features.layer_views import flattened, model_matrices
from fact.features.losses import Loss, loss_name, resolve_loss
from fact.features.objective import stationarity_error, weight_decay_value

# How a parameter becomes the matrix acting on its module's input, and back.
View = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class WeightMatrix(WeightProducts):
    """One weight as the matrix acting on its input, with the gradient of the mean loss.

    Attributes
    ----------
    name : the matrix's name (``fact.features.layer_views``; a parameter's own name where no view covers it).
    weight : W, float64, as the matrix acting on the module's input (see the module docstring).
    gradient : the gradient of the mean loss (no weight decay) with respect to that matrix, float64.
    weight_decay : lambda of the objective.
    """

    name: str
    weight: torch.Tensor
    gradient: torch.Tensor
    weight_decay: float

    @cached_property
    def fact(self) -> torch.Tensor:
        """-(1/lambda) W^T grad_W Lbar = -(1/(n lambda)) sum_i sum_positions grad_h loss_i h^T."""
        return -(self.weight.T @ self.gradient) / self.weight_decay

    @cached_property
    def bfact(self) -> torch.Tensor:
        """-(1/lambda) grad_W Lbar W^T = -(1/(n lambda)) sum_i sum_positions grad_z loss_i z^T (z = W h, no bias)."""
        return -(self.gradient @ self.weight.T) / self.weight_decay

    @cached_property
    def stationarity_error(self) -> float:
        """||grad_W Lbar + lambda W|| / ||lambda W||: zero at a critical point of the objective."""
        return stationarity_error(self.gradient, self.weight, self.weight_decay)


def matrix_views(model: nn.Module) -> dict[str, tuple[nn.Parameter, View]]:
    """Every weight of ``model`` with the function that views it (or its gradient) as the matrix acting
    on its input: the matrices of ``fact.features.layer_views`` under their names, a parameter shared by two
    modules (tied embeddings) under the first one's; then any other parameter with two or more
    dimensions under its parameter's name, as ``parameter.reshape(shape[0], -1)``."""
    views: dict[str, tuple[nn.Parameter, View]] = {}
    owner: dict[int, str] = {}  # id(parameter) -> the module whose view claimed it
    for name, matrix in model_matrices(model).items():
        parameter = matrix.parameter
        if owner.setdefault(id(parameter), matrix.module_name) == matrix.module_name:
            views[name] = (parameter, matrix.view.matrix)
    for name, parameter in model.named_parameters():
        if parameter.dim() >= 2 and id(parameter) not in owner:
            views[name] = (parameter, flattened)
            owner[id(parameter)] = name
    return views


def trained_views(model: nn.Module, names: Iterable[str] | None = None) -> dict[str, tuple[nn.Parameter, View]]:
    """``matrix_views`` of the trained weights, or of the named ones (refusing an unknown or frozen name)."""
    views = matrix_views(model)
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)  # a string is one name, not its characters
        unknown = [name for name in names if name not in views]
        if unknown:
            raise ValueError(f"no weight named {unknown}; the model's weights are {list(views)}")
        frozen = [name for name in names if not views[name][0].requires_grad]
        if frozen:
            raise ValueError(
                f"{frozen} do not require gradients: a frozen weight is not trained, so no "
                "critical point speaks of it; leave it out, or set requires_grad on it"
            )
        views = {name: views[name] for name in names}
    return {name: view for name, view in views.items() if view[0].requires_grad}


def mean_loss_gradients(
    model: nn.Module, inputs, targets, loss: Loss, batch_size: int | None = None, shared: dict | None = None
) -> dict[int, torch.Tensor]:
    """Gradient of the mean loss (1/n) sum_i loss_i for every parameter, summed over batches in
    float64; in eval mode (dropout off, batch norm on its running statistics), every submodule's
    own mode restored afterwards. Returns {id(parameter): gradient}. Under ``torch.distributed`` the ranks
    must hold the same weights, loss and ``shared`` settings (checked before the sums)."""
    per_sample = resolve_loss(loss)
    parameters = [p for p in model.parameters() if p.requires_grad]
    sums = {id(p): torch.zeros_like(p, dtype=torch.float64) for p in parameters}
    n = 0
    with evaluating(model):
        for X, Y in batches(inputs, targets, batch_size):
            if Y is None:
                raise ValueError("FACT needs targets: the loss gradient is part of its definition")
            X, Y = on_model(model, X), on_model(model, Y)
            check_data(X, "inputs", n)
            check_data(Y, "targets", n)
            outputs = forward(model, X, n)
            check_computed(outputs, "model outputs", n)
            losses = per_sample(outputs, Y)
            check_computed(losses, "losses", n)
            gradients = torch.autograd.grad(losses.sum(), parameters, allow_unused=True)
            for parameter, gradient in zip(parameters, gradients):
                if gradient is not None:
                    sums[id(parameter)] += gradient.double()
            n += len(X)
    if distributed.active():  # each rank summed over its shard: the gradient over every shard
        signature = {
            "parameters": [(tuple(p.shape), str(p.dtype)) for p in parameters],
            "loss": loss_name(loss),
            "weights": distributed.fingerprint(parameters),
            **(shared or {}),
        }
        distributed.check_ranks(signature, n, "the gradient of the mean loss")
        distributed.sum_over_ranks(list(sums.values()), "gradient sums")
        n = distributed.total_samples(n, parameters[0].device)
    if n == 0:
        raise ValueError("no data: the inputs hold no samples; give at least one")
    return {key: value / n for key, value in sums.items()}


def weight_matrices(
    model: nn.Module,
    inputs,
    targets,
    loss: Loss,
    weight_decay: float,
    batch_size: int | None = None,
    names: Iterable[str] | None = None,
    per_head: bool = False,
) -> dict[str, WeightMatrix]:
    """FACT and bFACT of every weight of ``model`` (or of the named ones), one backward pass per batch; with
    ``per_head``, each attention q, k and v matrix also head by head (``fact.features.heads``).

    ``inputs``/``targets`` are tensors (batched by ``batch_size``) or a DataLoader of (x, y) pairs;
    ``loss`` a name ("mse", "sse", "half_sse", "ce": fact.features.losses) or a per-sample callable
    ``(outputs, targets) -> losses``;
    ``weight_decay`` the lambda of the objective, > 0.
    """
    weight_decay = weight_decay_value(weight_decay)
    views = trained_views(model, names)
    gradients = mean_loss_gradients(
        model, inputs, targets, loss, batch_size, {"weight_decay": weight_decay, "names": list(views)}
    )
    result = {
        name: WeightMatrix(name, view(parameter.detach().double()), view(gradients[id(parameter)]), weight_decay)
        for name, (parameter, view) in views.items()
    }
    return heads.split_heads(result, heads.counts_of(model, result), heads.weight_head_of) if per_head else result
