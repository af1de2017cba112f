"""FACT, NFA (AGOP) and eNFA matrices of the weight matrices of any PyTorch model.

Every layer this module knows (``nn.Linear``, ``nn.Conv1d/2d`` on their patches, ``nn.Embedding``
on one-hot tokens, the q, k, v and output matrices of ``nn.MultiheadAttention`` (``fact.attention``),
or any module registered in ``fact.layer_inputs.KINDS``) computes
``z = h @ W.T (+ b)`` at each position: ``h`` is the input of ``W`` and ``z`` its output
*without* the bias (spec section 1). For the training objective

    L(theta) = (1/n) sum_i loss_i + (weight_decay / 2) ||theta||^2

the Features at Convergence Theorem says that at a critical point

    W^T W = FACT  := -(1 / (n weight_decay)) sum_i grad_{h_i} loss_i  h_i^T        (d_in x d_in)
    W W^T = bFACT := -(1 / (n weight_decay)) sum_i grad_{z_i} loss_i  z_i^T        (d_out x d_out)

All the matrices here are built from three sums over the data, taken at the level of
``z`` and turned into ``h``-level matrices with ``grad_h = W^T grad_z``:

    G = sum_i grad_{z_i} loss_i h_i^T          -> FACT = -W^T G / (n lambda),  bFACT = -G W^T / (n lambda)
    E = sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T -> eNFA = W^T E W / n,     backward eNFA = E / n
    B = sum_i J_i J_i^T, J_i = d f(x_i) / d z_i     -> AGOP = W^T B W / n,     backward AGOP = B / n

One forward pass per batch records ``h`` and ``z`` for every requested layer through
forward hooks; one batched backward pass (vectorised over the model's outputs) gives
the Jacobians ``J_i`` for all layers at once, and the loss gradients follow from them by
the chain rule ``grad_z loss = J . d loss / d f``, so no second pass is needed (with random
output probes instead of every output, the loss gradient is one more direction of the same
batched pass). B and E, Gram matrices, are formed from their upper triangle of blocks
(``fact.linalg.gram``). Per-sample
quantities come out of a single backward of the *summed* output because samples do not
interact in the forward pass. That holds in eval mode, so the model is put in eval mode
for the pass (dropout off, batch norm on its running statistics, which stay unchanged)
and every submodule's own mode is restored afterwards.

A layer applied several times in one forward pass (weight sharing, or inputs with
extra leading dimensions such as tokens) contributes every application to the sums,
which is what the stationarity condition of a shared weight says; ``n`` stays the number
of samples.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from fact.batches import batches, check_computed, check_data, evaluating
from fact import attention
from fact.layer_inputs import LayerKind, kind_of
from fact.linalg import gram, psd_sqrt_of_gram, sym_power
from fact.losses import Loss, resolve_loss, stationarity_error, weight_decay_value
from fact.metrics import cosine, pearson, relative_error, spearman

LayerRef = str | nn.Module

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class LayerMatrices:
    """The data sums of one weight matrix, and every relation built from them.

    Attributes
    ----------
    name : the layer's name in the model.
    weight : W, shape (d_out, d_in), float64.
    n : number of samples summed over.
    weight_decay : lambda of the objective, or None when no FACT was asked for.
    loss_grad_input : G = sum_i grad_{z_i} loss_i h_i^T, or None without targets.
    loss_grad_gram : E = sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T, or None without targets.
    jacobian_gram : B = sum_i J_i J_i^T with J_i = d f(x_i) / d z_i, or None when not asked for.
    """

    name: str
    weight: torch.Tensor
    n: int
    weight_decay: float | None
    loss_grad_input: torch.Tensor | None
    loss_grad_gram: torch.Tensor | None
    jacobian_gram: torch.Tensor | None

    def _need(self, value: torch.Tensor | None, what: str, how: str) -> torch.Tensor:
        if value is None:
            raise ValueError(f"layer {self.name!r}: {what} was not computed; {how}")
        return value

    def _fact_scale(self) -> float:
        if self.weight_decay is None:
            raise ValueError(f"layer {self.name!r}: FACT needs weight_decay > 0 (the lambda of the training objective)")
        return -1.0 / (self.n * self.weight_decay)

    @cached_property
    def stationarity_error(self) -> float:
        """||grad_W Lbar + lambda W|| / ||lambda W|| from the pass's own sum, grad_W Lbar = G / n: zero at a
        critical point. Every use of the layer is in G; a weight shared with another layer is not (its
        gradient has that layer's part too): use ``fact.weights`` for one."""
        G = self._need(self.loss_grad_input, "the stationarity error", "pass targets and a loss")
        self._fact_scale()  # it needs lambda as FACT does
        return stationarity_error(G / self.n, self.weight, self.weight_decay)

    # Left-hand sides
    @cached_property
    def wtw(self) -> torch.Tensor:
        """W^T W (d_in x d_in)."""
        return self.weight.T @ self.weight

    @cached_property
    def wwt(self) -> torch.Tensor:
        """W W^T (d_out x d_out)."""
        return self.weight @ self.weight.T

    # FACT and its forms
    @cached_property
    def fact(self) -> torch.Tensor:
        """FACT = -(1/(n lambda)) sum_i grad_{h_i} loss_i h_i^T (d_in x d_in, not symmetric in general)."""
        G = self._need(self.loss_grad_input, "FACT", "pass targets and a loss")
        return self._fact_scale() * (self.weight.T @ G)

    @property
    def fact_t(self) -> torch.Tensor:
        """FACT^T."""
        return self.fact.T

    @cached_property
    def fact_sym(self) -> torch.Tensor:
        """(FACT + FACT^T) / 2."""
        return (self.fact + self.fact.T) / 2

    @cached_property
    def fact_sqrt(self) -> torch.Tensor:
        """(FACT FACT^T)^{1/2}, symmetric PSD."""
        return psd_sqrt_of_gram(self.fact)

    @cached_property
    def bfact(self) -> torch.Tensor:
        """bFACT = -(1/(n lambda)) sum_i grad_{z_i} loss_i z_i^T (d_out x d_out)."""
        G = self._need(self.loss_grad_input, "bFACT", "pass targets and a loss")
        return self._fact_scale() * (G @ self.weight.T)

    @property
    def bfact_t(self) -> torch.Tensor:
        """bFACT^T = -(1/(n lambda)) sum_i z_i grad_{z_i} loss_i^T."""
        return self.bfact.T

    @cached_property
    def bfact_sqrt(self) -> torch.Tensor:
        """(bFACT bFACT^T)^{1/2}, symmetric PSD."""
        return psd_sqrt_of_gram(self.bfact)

    # NFA: average gradient outer products of the model outputs
    @cached_property
    def backward_agop(self) -> torch.Tensor:
        """(1/n) sum_i J_i J_i^T with J_i = d f(x_i)/d z_i (d_out x d_out)."""
        B = self._need(self.jacobian_gram, "the AGOP", "call with jacobian=True")
        return B / self.n

    @cached_property
    def agop(self) -> torch.Tensor:
        """AGOP = (1/n) sum_i grad_{h_i} f grad_{h_i} f^T, summed over outputs (d_in x d_in)."""
        return self.weight.T @ self.backward_agop @ self.weight

    def agop_power(self, power: float) -> torch.Tensor:
        """AGOP^s, the NFA's prediction of W^T W up to scale."""
        return sym_power(self.agop, power)

    def backward_agop_power(self, power: float) -> torch.Tensor:
        """(backward AGOP)^s, compared with W W^T."""
        return sym_power(self.backward_agop, power)

    # eNFA: average outer products of the loss gradients
    @cached_property
    def backward_enfa(self) -> torch.Tensor:
        """(1/n) sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T (d_out x d_out)."""
        E = self._need(self.loss_grad_gram, "the eNFA", "pass targets and a loss")
        return E / self.n

    @cached_property
    def enfa(self) -> torch.Tensor:
        """eNFA = (1/n) sum_i grad_{h_i} loss_i grad_{h_i} loss_i^T (d_in x d_in)."""
        return self.weight.T @ self.backward_enfa @ self.weight

    # Agreement with W^T W and W W^T
    def comparisons(self, powers: Sequence[float] = (0.5, 1.0)) -> list[tuple[str, str, float, torch.Tensor]]:
        """(side, relation, power, predicted matrix) for every relation this object can form.

        side is ``"forward"`` (compared with W^T W) or ``"backward"`` (with W W^T);
        power is NaN for relations without one.
        """
        nan = float("nan")
        rows: list[tuple[str, str, float, torch.Tensor]] = []
        if self.loss_grad_input is not None and self.weight_decay is not None:
            rows += [("forward", "fact", nan, self.fact), ("forward", "fact_sym", nan, self.fact_sym),
                     ("forward", "fact_sqrt", nan, self.fact_sqrt), ("backward", "bfact", nan, self.bfact),
                     ("backward", "bfact_sqrt", nan, self.bfact_sqrt)]
        if self.jacobian_gram is not None:
            rows += [("forward", "nfa", float(s), self.agop_power(s)) for s in powers]
            rows += [("backward", "bnfa", float(s), self.backward_agop_power(s)) for s in powers]
        if self.loss_grad_gram is not None:
            rows += [("forward", "enfa", nan, self.enfa), ("backward", "benfa", nan, self.backward_enfa)]
        return rows

    def agreement(self, powers: Sequence[float] = (0.5, 1.0)) -> list[dict]:
        """One record per relation: layer, side, relation, power, pearson, spearman, cosine, relative_error,
        and the layer's stationarity_error (NaN without targets or lambda), which says whether FACT applies."""
        known = self.loss_grad_input is not None and self.weight_decay is not None
        stationarity = self.stationarity_error if known else float("nan")
        records = []
        for side, relation, power, predicted in self.comparisons(powers):
            target = self.wtw if side == "forward" else self.wwt
            records.append({
                "layer": self.name, "side": side, "relation": relation, "power": power,
                "pearson": pearson(target, predicted), "spearman": spearman(target, predicted),
                "cosine": cosine(target, predicted),
                "relative_error": relative_error(predicted, target), "stationarity_error": stationarity,
            })
        return records


# --------------------------------------------------------------------------- input handling

def _weight_layers(model: nn.Module) -> dict[str, tuple[nn.Module, LayerKind]]:
    """{name: (module, kind)} of every layer with a known input, attention's four matrices included."""
    layers: dict[str, tuple[nn.Module, LayerKind]] = {}
    inside_attention = set()  # an attention's out_proj is one of its blocks, never called as a module
    for name, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention):
            inside_attention.add(id(module.out_proj))
            layers.update({layer: (module, attention.block_kind(block))
                           for layer, block in attention.block_names(name).items()})
    for name, module in model.named_modules():
        kind = kind_of(module)
        if kind is not None and id(module) not in inside_attention:
            layers[name] = (module, kind)
    return layers


def resolve_layers(model: nn.Module, layers: LayerRef | Sequence[LayerRef] | None) -> dict[str, tuple[nn.Module, LayerKind]]:
    """Map the requested layers (names or modules; None for all) to ``{name: (module, kind)}``.

    A ``nn.MultiheadAttention`` given as a module stands for its four matrices."""
    available = _weight_layers(model)
    if not available:
        raise ValueError("the model has no layer whose input is known here (nn.Linear, nn.Conv1d/2d, nn.Embedding, "
                         "nn.MultiheadAttention); register yours in fact.layer_inputs.KINDS, or use fact.weights for "
                         "FACT of any weight")
    if layers is None:
        return available
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    resolved: dict[str, tuple[nn.Module, LayerKind]] = {}
    for layer in layers:
        if isinstance(layer, str):
            if layer not in available:
                raise ValueError(f"unknown layer {layer!r}: the model's layers with a known input are {sorted(available)}")
            resolved[layer] = available[layer]
        elif isinstance(layer, nn.Module):
            names = [name for name, (module, _) in available.items() if module is layer]
            if not names:
                kind = type(layer).__name__
                raise ValueError(f"the given {kind} is not a layer of this model with a known input; those are "
                                 f"{sorted(available)}")
            resolved.update({name: available[name] for name in names})
        else:
            raise TypeError(f"a layer is given by its name or its module, not {type(layer).__name__}")
    return resolved


# --------------------------------------------------------------------------- the pass over the data

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
    layers : names or modules of the layers; None for every layer with a known input
        (``fact.layer_inputs``: Linear, Conv1d/2d, Embedding, or registered). A layer whose
        output has no sample dimension (its first dimension is not the batch's, as a position
        embedding added to every sample) has no per-sample relations: it is left out, or, if
        named here, refused.
    batch_size : samples per forward pass for tensor inputs (None: all at once). Peak
        extra memory per layer is about batch_size x n_outputs x d_out numbers.
    jacobian : also accumulate the model Jacobians (AGOP, backward AGOP). Costs a
        backward pass vectorised over the model's outputs instead of a single one.
    agop_probes : estimate the Jacobian sums from this many random output directions
        instead of every output: with ``g ~ N(0, I)`` drawn per sample and probe,
        ``E[J^T g g^T J] = J^T J``, so the estimate is unbiased and its relative error
        shrinks as ``1 / sqrt(agop_probes)``. A model with hundreds of outputs then costs
        ``agop_probes`` backward passes instead of hundreds. ``generator`` seeds the draws.

    Returns
    -------
    ``{layer name: LayerMatrices}``; every matrix is float64 on the model's device.
    """
    selected = resolve_layers(model, layers)
    with_loss = targets is not None or loss is not None
    if with_loss and loss is None:
        raise ValueError("targets were given without a loss: pass loss='mse', 'ce' or a callable")
    loss_fn = resolve_loss(loss) if loss is not None else None
    if weight_decay is not None:
        weight_decay = weight_decay_value(weight_decay)
    if not with_loss and not jacobian:
        raise ValueError("nothing to compute: pass targets and a loss (FACT, eNFA) or jacobian=True (AGOP)")
    if agop_probes is not None and not (isinstance(agop_probes, int) and agop_probes >= 1):
        raise ValueError(f"agop_probes must be a positive integer (or None for the exact AGOP), got {agop_probes}")

    parameter = next(model.parameters())
    device, dtype = parameter.device, parameter.dtype
    acc = torch.float64
    sums = {name: {"G": None, "E": None, "B": None} for name in selected}
    records: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {name: [] for name in selected}

    kinds = {name: kind for name, (_, kind) in selected.items()}
    batch = {"size": 0}
    shared = set()  # layers whose output has no sample dimension (a position embedding broadcast over samples)

    def keep(name: str, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if not z.requires_grad:
            # Nothing upstream needs gradients (frozen weights, first layer): make the
            # output a leaf we can differentiate with respect to.
            z = z.detach().requires_grad_()
        records[name].append((h.detach(), z))
        return z

    def recorder(name: str):
        def hook(module, args, output):
            if output.shape[0] != batch["size"]:
                shared.add(name)
                return output
            # the rows h that W multiplies: the input itself, a conv's patches, one-hot tokens
            return keep(name, kinds[name].inputs(module, args[0].detach()), output)
        return hook

    def attention_recorder(names: dict[str, str]):
        """The module's output recomputed one product at a time, keeping the chosen blocks' h and z."""
        chosen = {block: name for name, block in names.items() if name in selected}

        def hook(module, args, kwargs, output):
            return attention.recompute(module, args, kwargs, lambda block, h, z: keep(chosen[block], h, z)
                                       if block in chosen else z)
        return hook

    n = 0
    with contextlib.ExitStack() as cleanup:  # hooks removed, records dropped and modes restored, even on error
        cleanup.enter_context(evaluating(model))
        hooked = set()
        for name, (module, _) in selected.items():
            if isinstance(module, nn.MultiheadAttention):
                if id(module) not in hooked:
                    prefix = next(key for key, value in model.named_modules() if value is module)
                    hook = attention_recorder(attention.block_names(prefix))
                    cleanup.callback(module.register_forward_hook(hook, with_kwargs=True).remove)
            else:
                cleanup.callback(module.register_forward_hook(recorder(name)).remove)
            hooked.add(id(module))
        cleanup.callback(lambda: [calls.clear() for calls in records.values()])
        for x, y in batches(inputs, targets, batch_size):
            batch["size"] = len(x)
            if with_loss and y is None:
                raise ValueError("a loss was given but the batches carry no targets")
            x = x.to(device=device, dtype=dtype if x.is_floating_point() else x.dtype)
            check_data(x, "inputs", n)
            if y is not None and with_loss:
                y = y.to(device=device, dtype=dtype if y.is_floating_point() else y.dtype)
                check_data(y, "targets", n)
            for name in records:
                records[name].clear()
            with torch.enable_grad():
                outputs = model(x)
                if len(outputs) != len(x):
                    raise ValueError(f"the model returned {len(outputs)} outputs for a batch of {len(x)} inputs; "
                                     "the first dimension must be the sample")
                check_computed(outputs, "model outputs", n)
                flat_outputs = outputs.reshape(len(x), -1)
                n_out = flat_outputs.shape[1]
                outs = [(name, h, z) for name, calls in records.items() for h, z in calls]
                if not outs:
                    raise ValueError(f"none of the layers {sorted(selected)} was used in the forward pass")

                loss_grad = None
                if with_loss:
                    # d loss_i / d f(x_i): the loss only, no pass through the network.
                    f = outputs.detach().requires_grad_()
                    per_sample = loss_fn(f, y)
                    if per_sample.shape != (len(x),):
                        raise ValueError(f"the loss must return one value per sample, shape ({len(x)},), "
                                         f"got {tuple(per_sample.shape)}")
                    check_computed(per_sample, "losses", n)
                    loss_grad = torch.autograd.grad(per_sample.sum(), f)[0].reshape(len(x), n_out)

                zs = [z for _, _, z in outs]
                jacobians = grads = None
                if jacobian:
                    if agop_probes is None:
                        # direction k selects output k for every sample: the exact Jacobian
                        directions = torch.eye(n_out, device=device, dtype=flat_outputs.dtype)
                        directions = directions[:, None, :].expand(n_out, len(x), n_out)
                    else:
                        # random directions g ~ N(0, I) scaled by 1/sqrt(probes): the sum of the
                        # probed J^T g g^T J is an unbiased estimate of the sum over every output
                        directions = torch.randn(agop_probes, len(x), n_out, generator=generator,
                                                 dtype=flat_outputs.dtype).to(device) / agop_probes ** 0.5
                        if loss_grad is not None:  # the loss gradient rides along as one more direction
                            directions = torch.cat([directions, loss_grad[None]])
                    # one backward pass vectorised over the directions
                    jacobians = torch.autograd.grad(flat_outputs, zs, grad_outputs=directions,
                                                    is_grads_batched=True, allow_unused=True)
                    jacobians = [torch.zeros((len(directions), *z.shape), device=device, dtype=z.dtype) if J is None
                                 else J for J, z in zip(jacobians, zs)]
                    if loss_grad is not None and agop_probes is None:
                        # the chain rule on the exact Jacobians: no extra backward direction
                        grads = [_combine_directions(J, loss_grad) for J in jacobians]
                    elif loss_grad is not None:
                        grads, jacobians = [J[-1] for J in jacobians], [J[:-1] for J in jacobians]
                elif loss_grad is not None:
                    grads = torch.autograd.grad(flat_outputs, zs, grad_outputs=loss_grad, allow_unused=True)
                    grads = [torch.zeros_like(z) if g is None else g for g, z in zip(grads, zs)]

            for index, (name, h, z) in enumerate(outs):
                (module, kind) = selected[name]
                # A batch's products in the model's precision (float64 products would double the
                # cost of the largest ones, the Jacobian Gram), summed over batches in float64.
                h2 = h.reshape(-1, h.shape[-1]).to(z.dtype)
                # output-shaped tensors as rows (sample, position) x d_out, matching the rows of h
                if grads is not None:
                    g = kind.outputs(module, grads[index])
                    g2 = g.reshape(-1, g.shape[-1])
                    _add(sums[name], "G", g2.T @ h2)
                    _add(sums[name], "E", gram(g2))
                if jacobians is not None:
                    J = kind.outputs(module, jacobians[index].reshape(-1, *z.shape[1:]))
                    J2 = J.reshape(-1, J.shape[-1])
                    _add(sums[name], "B", gram(J2))
            n += len(x)

    if shared:
        if layers is not None:
            raise ValueError(f"the output of {sorted(shared)} has no sample dimension (e.g. a position embedding added "
                             "to every sample): per-sample relations are not defined for it; leave it out of layers=, "
                             "or use fact.weights for its FACT")
        log.info("left out %s: its output has no sample dimension (e.g. a position embedding shared by every sample)",
                 sorted(shared))
    return {
        name: LayerMatrices(
            name=name, weight=kinds[name].matrix(module).detach().to(acc).clone(), n=n,
            weight_decay=None if weight_decay is None else float(weight_decay),
            loss_grad_input=sums[name]["G"], loss_grad_gram=sums[name]["E"], jacobian_gram=sums[name]["B"],
        )
        for name, (module, _) in selected.items() if name not in shared
    }


def _combine_directions(jacobians: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_k weights[i, k] jacobians[k, i, ...]: the gradient along per-sample output weights.

    One multiply-add per direction over the whole batch: a batched (1 x k) @ (k x d) product per
    sample, as einsum makes of it, reads the Jacobians several times more slowly.
    """
    shape = (len(weights),) + (1,) * (jacobians.dim() - 2)
    combined = jacobians[0] * weights[:, 0].reshape(shape)
    for direction in range(1, len(jacobians)):
        combined.addcmul_(jacobians[direction], weights[:, direction].reshape(shape))
    return combined


def _add(store: dict, key: str, value: torch.Tensor) -> None:
    """Add a batch's product to its float64 sum (in place: no float64 copy of the product)."""
    if store[key] is None:
        store[key] = value.to(torch.float64)
    else:
        store[key].add_(value)


# --------------------------------------------------------------------------- one-matrix shortcuts

def _single(model, layer, inputs, targets, loss, weight_decay, jacobian, batch_size) -> LayerMatrices:
    if isinstance(layer, Sequence) and not isinstance(layer, str):
        raise TypeError("pass one layer (a name or a module); use feature_matrices for several")
    result = feature_matrices(model, inputs, targets, loss, weight_decay, layers=[layer],
                              batch_size=batch_size, jacobian=jacobian)
    return next(iter(result.values()))


def fact(model: nn.Module, layer: LayerRef, inputs, targets, loss: Loss, weight_decay: float,
         batch_size: int | None = 1024) -> torch.Tensor:
    """FACT = -(1/(n lambda)) sum_i grad_{h_i} loss_i h_i^T of one layer (d_in x d_in).

    Equals W^T W at a critical point of (1/n) sum_i loss_i + (lambda/2) ||theta||^2.
    """
    return _single(model, layer, inputs, targets, loss, weight_decay_value(weight_decay), False, batch_size).fact


def bfact(model: nn.Module, layer: LayerRef, inputs, targets, loss: Loss, weight_decay: float,
          batch_size: int | None = 1024) -> torch.Tensor:
    """bFACT = -(1/(n lambda)) sum_i grad_{z_i} loss_i z_i^T of one layer (d_out x d_out).

    Equals W W^T at a critical point.
    """
    return _single(model, layer, inputs, targets, loss, weight_decay_value(weight_decay), False, batch_size).bfact


def agop(model: nn.Module, layer: LayerRef, inputs, power: float = 1.0,
         batch_size: int | None = 1024) -> torch.Tensor:
    """AGOP^power with AGOP = (1/n) sum_i grad_{h_i} f (grad_{h_i} f)^T, summed over outputs (d_in x d_in)."""
    return _single(model, layer, inputs, None, None, None, True, batch_size).agop_power(power)


def enfa(model: nn.Module, layer: LayerRef, inputs, targets, loss: Loss,
         batch_size: int | None = 1024) -> torch.Tensor:
    """eNFA = (1/n) sum_i grad_{h_i} loss_i grad_{h_i} loss_i^T (d_in x d_in)."""
    return _single(model, layer, inputs, targets, loss, None, False, batch_size).enfa


def backward_agop(model: nn.Module, layer: LayerRef, inputs, power: float = 1.0,
                  batch_size: int | None = 1024) -> torch.Tensor:
    """(backward AGOP)^power with backward AGOP = (1/n) sum_i grad_{z_i} f (grad_{z_i} f)^T (d_out x d_out)."""
    return _single(model, layer, inputs, None, None, None, True, batch_size).backward_agop_power(power)


def backward_enfa(model: nn.Module, layer: LayerRef, inputs, targets, loss: Loss,
                  batch_size: int | None = 1024) -> torch.Tensor:
    """Backward eNFA = (1/n) sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T (d_out x d_out)."""
    return _single(model, layer, inputs, targets, loss, None, False, batch_size).backward_enfa
