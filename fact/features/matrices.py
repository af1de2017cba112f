"""FACT, NFA (AGOP) and eNFA matrices of the weight matrices of any PyTorch model, in one pass over
the data.

Every matrix a registered view shows (``fact.features.layer_views``: ``nn.Linear``, ``nn.Conv1d/2d`` on their
patches, ``nn.Embedding`` on one-hot tokens, the four matrices of ``nn.MultiheadAttention``, or a
registered module) computes ``z = h @ W.T (+ b)`` at each position: ``h`` is the input of ``W`` and
``z`` its output without the bias. The pass, batch by batch:

1. a forward pass with hooks that keep each chosen matrix's ``h`` and ``z`` (``fact.features.recording``);
2. one batched backward pass giving the Jacobians and loss gradients at every ``z`` (``fact.features.backward``);
3. the batch's products added to the float64 sums G, E, B (``fact.features.accumulation``),

from which ``fact.features.layer_matrices.LayerMatrices`` builds every relation. The model runs in eval mode
(dropout off, batch norm on its running statistics, which stay unchanged) so that samples do not
interact, and every submodule's own mode is restored afterwards.

A layer applied several times in one forward pass (weight sharing, or inputs with extra leading
dimensions such as tokens) contributes every application to the sums, which is what the
stationarity condition of a shared weight says; ``n`` stays the number of samples. A weight held by
several modules (an embedding tied to the output head) is one weight: each use's G holds the gradient of
all its uses (``fact.features.shared_weights``), and its NFA and eNFA are each use's own. An embedding's
lookups of its ``padding_idx`` are no products of W and are left out of every relation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fact.features import distributed, heads
from fact.features.accumulation import Sums
from fact.features.backward import jacobians_and_gradients, loss_gradient, loss_gradients
from fact.features.batches import batches, check_computed, check_data, evaluating, forward, on_model
from fact.features.layer_matrices import LayerMatrices
from fact.features.layer_selection import LayerRef, resolve, resolve_layers
from fact.features.layer_views import ModelMatrix, model_matrices
from fact.features.losses import Loss, loss_name, resolve_loss
from fact.features.objective import weight_decay_value
from fact.features.recording import Recording
from fact.features.shared_weights import sum_over_uses, uses, with_every_use

log = logging.getLogger(__name__)

__all__ = [
    "LayerMatrices",
    "feature_matrices",
    "resolve_layers",
    "fact",
    "bfact",
    "agop",
    "enfa",
    "backward_agop",
    "backward_enfa",
]


@dataclass(frozen=True)
class _Request:
    """What one pass computes, checked once before any data is read."""

    loss_fn: object | None  # per-sample loss, or None for the AGOP alone
    weight_decay: float | None
    jacobian: bool
    agop_probes: int | None
    generator: torch.Generator | None
    centre_agop: bool = False


def _request(targets, loss, weight_decay, jacobian, agop_probes, generator, centre_agop=False) -> _Request:
    with_loss = targets is not None or loss is not None
    if with_loss and loss is None:
        raise ValueError("targets were given without a loss: pass loss='mse', 'sse', 'half_sse', 'ce' or a callable")
    if not with_loss and not jacobian:
        raise ValueError("nothing to compute: pass targets and a loss (FACT, eNFA) or jacobian=True (AGOP)")
    if agop_probes is not None and not (isinstance(agop_probes, int) and agop_probes >= 1):
        raise ValueError(f"agop_probes must be a positive integer (or None for the exact AGOP), got {agop_probes}")
    if centre_agop and (not jacobian or agop_probes is not None):
        raise ValueError(
            "centre_agop centres each output's gradients across samples, which needs the exact Jacobians: pass "
            "jacobian=True and agop_probes=None (random probes, drawn per sample, have no common mean to remove)"
        )
    return _Request(
        loss_fn=resolve_loss(loss) if with_loss else None,
        weight_decay=None if weight_decay is None else weight_decay_value(weight_decay),
        jacobian=jacobian,
        agop_probes=agop_probes,
        generator=generator,
        centre_agop=bool(centre_agop),
    )


def feature_matrices(
    model: nn.Module,
    inputs,
    targets: torch.Tensor | None = None,
    loss: Loss | None = None,
    weight_decay: float | None = None,
    *,
    layers: LayerRef | Sequence[LayerRef] | None = None,
    batch_size: int | None = 1024,
    jacobian: bool = True,
    agop_probes: int | None = None,
    generator: torch.Generator | None = None,
    centre_agop: bool = False,
    per_head: bool = False,
) -> dict[str, LayerMatrices]:
    """All relations for all (or the chosen) layers with a known input, in one pass over the data.

    Parameters
    ----------
    model : the network; it is not modified and its ``.grad`` fields are left alone. It
        runs in eval mode; each submodule's train/eval mode is restored on return.
    inputs : a tensor of samples (first dimension = samples), or an iterable of batches
        ``x`` or ``(x, y)`` such as a DataLoader.
    targets : tensor of targets aligned with ``inputs`` (tensor inputs only).
    loss : ``"mse"`` (per-sample mean squared error over outputs), ``"ce"`` (cross-entropy),
        or a callable ``(outputs, targets) -> per-sample losses``. Needed for FACT and eNFA.
    weight_decay : lambda of ``(1/n) sum loss_i + (lambda/2) ||theta||^2`` (PyTorch's
        ``weight_decay``). Needed for FACT and bFACT.
    layers : names or modules of the layers; None for every matrix a registered view shows
        (``fact.features.layer_views``). A layer whose output has no sample dimension (its first dimension
        is not the batch's, as a position embedding added to every sample) has no per-sample
        relations: it is left out, or, if named here, refused.
    batch_size : samples per forward pass for tensor inputs (None: all at once). Peak
        extra memory per layer is about batch_size x n_outputs x d_out numbers.
    jacobian : also accumulate the model Jacobians (AGOP, backward AGOP). Costs a
        backward pass vectorised over the model's outputs instead of a single one.
    agop_probes : estimate the Jacobian sums from this many random output directions
        instead of every output: with ``g ~ N(0, I)`` drawn per sample and probe,
        ``E[J^T g g^T J] = J^T J``, so the estimate is unbiased and its relative error
        shrinks as ``1 / sqrt(agop_probes)``. A model with hundreds of outputs then costs
        ``agop_probes`` backward passes instead of hundreds. ``generator`` seeds the draws.
    centre_agop : also form the AGOP of centred gradients, each output's (and position's) mean over the samples
        removed, as the NFA verification code of deep_neural_feature_ansatz reports beside the plain one
        (``LayerMatrices.centred_agop``; its relations ``nfa_centred`` and ``bnfa_centred``). Needs the exact
        Jacobians and samples of one length.
    per_head : also give each attention q, k and v matrix head by head, ``<matrix>[head <h>]``, its rows of
        each sum (``fact.features.heads``).

    Returns
    -------
    ``{layer name: LayerMatrices}``; every matrix is float64 on the model's device.
    """
    available = model_matrices(model)
    selected = resolve(available, layers)
    recorded = with_every_use(selected, available)  # a shared weight's gradient has every use's part
    request = _request(targets, loss, weight_decay, jacobian, agop_probes, generator, centre_agop)
    sums = Sums(recorded, centre=request.centre_agop)
    n = 0
    with evaluating(model), Recording(recorded) as recording:
        for x, y in batches(inputs, targets, batch_size):
            _batch(model, x, y, request, recording, sums, seen=n)
            n += len(x)
    if distributed.active():  # each rank summed over its shard: the sums over every shard
        distributed.check_ranks(_signature(model, recorded, request, loss), n, "feature_matrices")
        n = _sum_over_ranks(sums, n, recording, next(model.parameters()).device)
    if n == 0:
        raise ValueError("no data: the inputs hold no samples; give at least one")
    shared_with = uses(recorded)
    left_out = _without_sample_dimension(recording.no_sample_dimension, shared_with, selected, named=layers is not None)
    kept = {name: matrix for name, matrix in selected.items() if name not in left_out}
    result = _layer_matrices(kept, recorded, shared_with, sums, n, request.weight_decay)
    return heads.split_heads(result, heads.counts_of(model, result)) if per_head else result


def _layer_matrices(kept: dict, recorded: dict, shared_with: dict, sums: Sums, n: int, weight_decay) -> dict:
    """The result of each kept matrix from the pass's sums over ``n`` samples (G over every use of its weight)."""
    gradient_sums = sum_over_uses({name: sums.of[name]["G"] for name in recorded}, recorded)
    return {
        name: LayerMatrices(
            name=name,
            weight=matrix.weight.detach().to(torch.float64).clone(),
            n=n,
            weight_decay=weight_decay,
            loss_grad_input=gradient_sums[name],
            loss_grad_gram=sums.of[name]["E"],
            jacobian_gram=sums.of[name]["B"],
            jacobian_sum=sums.of[name]["S"],
            shared_with=shared_with.get(name, ()),
        )
        for name, matrix in kept.items()
    }


def _batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    request: _Request,
    recording: Recording,
    sums: Sums,
    seen: int,
) -> None:
    """One batch: the recorded forward pass, the backward pass at every z, the sums."""
    x, y = _on_model(model, x, y, request, seen)
    recording.start_batch(len(x))
    with torch.enable_grad():
        outputs = forward(model, x, seen)
        check_computed(outputs, "model outputs", seen)
        if len(outputs) != len(x):
            raise ValueError(
                f"the model returned {len(outputs)} outputs for a batch of {len(x)} inputs; "
                "the first dimension must be the sample"
            )
        kept = list(recording.kept())
        if not kept:
            raise ValueError(f"none of the layers {sorted(recording.selected)} was used in the forward pass")
        flat_outputs = outputs.reshape(len(x), -1)
        loss_grad = None if request.loss_fn is None else loss_gradient(outputs, y, request.loss_fn, seen)
        zs = [z for _, _, z in kept]
        if request.jacobian:
            jacobians, grads = jacobians_and_gradients(
                flat_outputs, zs, loss_grad, request.agop_probes, request.generator
            )
        else:
            jacobians, grads = None, loss_gradients(flat_outputs, zs, loss_grad)
    for index, (name, h, z) in enumerate(kept):
        matrix = recording.selected[name]
        sums.add(
            name,
            matrix.view,
            matrix.module,
            h,
            z,
            None if grads is None else grads[index],
            None if jacobians is None else jacobians[index],
        )


def _signature(model: nn.Module, recorded: dict[str, ModelMatrix], request: _Request, loss) -> dict:
    """What every rank must share before its sums are added to the others'."""
    return {
        "matrices": [(name, tuple(m.weight.shape), str(m.weight.dtype)) for name, m in recorded.items()],
        "weight_decay": request.weight_decay,
        "loss": None if loss is None else loss_name(loss),
        "jacobian": request.jacobian,
        "agop_probes": request.agop_probes,
        "centre_agop": request.centre_agop,
        "weights": distributed.fingerprint(model.parameters()),
    }


def _sum_over_ranks(sums: Sums, n: int, recording: Recording, device: torch.device) -> int:
    """All-reduce every matrix's sums and the sample count; a layer without a sample dimension on any
    rank is left out on every rank."""
    recording.no_sample_dimension.update(distributed.union(recording.no_sample_dimension))
    every_sum = [sums.of[name][key] for name in sorted(sums.of) for key in ("G", "E", "B", "S")]
    distributed.sum_over_ranks(every_sum, "sums of the layers")  # one check of the ranks for them all
    return distributed.total_samples(n, device)


def _on_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, request: _Request, seen: int):
    """The batch on the model's device, floating data in its precision, checked."""
    if request.loss_fn is not None and y is None:
        raise ValueError("a loss was given but the batches carry no targets")
    x = on_model(model, x)
    check_data(x, "inputs", seen)
    if request.loss_fn is None:
        return x, None
    y = on_model(model, y)
    check_data(y, "targets", seen)
    return x, y


def _without_sample_dimension(
    found: set[str], shared_with: dict[str, tuple[str, ...]], selected: dict[str, ModelMatrix], named: bool
) -> set[str]:
    """The matrices left out: those whose output has no sample dimension, and every use of their weights
    (whose gradient would lack that use's part). Refused where ``layers=`` named one."""
    left_out = found | {other for name in found for other in shared_with.get(name, ())}
    if not left_out & selected.keys():
        return left_out
    if named:
        raise ValueError(
            f"the output of {sorted(found)} has no sample dimension (e.g. a position embedding added "
            "to every sample): per-sample relations are not defined for it or for another use of its weight; "
            "leave it out of layers=, or use fact.features.weights for its FACT"
        )
    log.info(
        "left out %s: the output of %s has no sample dimension (e.g. a position embedding shared by every sample)",
        sorted(left_out & selected.keys()),
        sorted(found),
    )
    return left_out


# --------------------------------------------------------------------------- one-matrix shortcuts


def _single(model, layer, inputs, targets, loss, weight_decay, jacobian, batch_size) -> LayerMatrices:
    if isinstance(layer, Sequence) and not isinstance(layer, str):
        raise TypeError("pass one layer (a name or a module); use feature_matrices for several")
    result = feature_matrices(
        model, inputs, targets, loss, weight_decay, layers=[layer], batch_size=batch_size, jacobian=jacobian
    )
    return next(iter(result.values()))


def fact(
    model: nn.Module, layer: LayerRef, inputs, targets, loss: Loss, weight_decay: float, batch_size: int | None = 1024
) -> torch.Tensor:
    """FACT = -(1/(n lambda)) sum_i grad_{h_i} loss_i h_i^T of one layer (d_in x d_in).

    Equals W^T W at a critical point of (1/n) sum_i loss_i + (lambda/2) ||theta||^2.
    """
    return _single(model, layer, inputs, targets, loss, weight_decay_value(weight_decay), False, batch_size).fact


def bfact(
    model: nn.Module, layer: LayerRef, inputs, targets, loss: Loss, weight_decay: float, batch_size: int | None = 1024
) -> torch.Tensor:
    """bFACT = -(1/(n lambda)) sum_i grad_{z_i} loss_i z_i^T of one layer (d_out x d_out).

    Equals W W^T at a critical point.
    """
    return _single(model, layer, inputs, targets, loss, weight_decay_value(weight_decay), False, batch_size).bfact


def agop(
    model: nn.Module, layer: LayerRef, inputs, power: float = 1.0, batch_size: int | None = 1024, centre: bool = False
) -> torch.Tensor:
    """AGOP^power with AGOP = (1/n) sum_i grad_{h_i} f (grad_{h_i} f)^T, summed over outputs (d_in x d_in); with
    ``centre``, of the gradients less their mean over the samples."""
    if not centre:
        return _single(model, layer, inputs, None, None, None, True, batch_size).agop_power(power)
    result = feature_matrices(model, inputs, layers=[layer], batch_size=batch_size, centre_agop=True)
    return next(iter(result.values())).centred_agop_power(power)


def enfa(model: nn.Module, layer: LayerRef, inputs, targets, loss: Loss, batch_size: int | None = 1024) -> torch.Tensor:
    """eNFA = (1/n) sum_i grad_{h_i} loss_i grad_{h_i} loss_i^T (d_in x d_in)."""
    return _single(model, layer, inputs, targets, loss, None, False, batch_size).enfa


def backward_agop(
    model: nn.Module, layer: LayerRef, inputs, power: float = 1.0, batch_size: int | None = 1024
) -> torch.Tensor:
    """(backward AGOP)^power with backward AGOP = (1/n) sum_i grad_{z_i} f (grad_{z_i} f)^T (d_out x d_out)."""
    return _single(model, layer, inputs, None, None, None, True, batch_size).backward_agop_power(power)


def backward_enfa(
    model: nn.Module, layer: LayerRef, inputs, targets, loss: Loss, batch_size: int | None = 1024
) -> torch.Tensor:
    """Backward eNFA = (1/n) sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T (d_out x d_out)."""
    return _single(model, layer, inputs, targets, loss, None, False, batch_size).backward_enfa
