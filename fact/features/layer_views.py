"""The registry of layer views: which weight matrices a module holds, and what each one multiplies.

Both ways of computing the relations read it: the hooked pass of ``fact.features.matrices`` (which records
each matrix's input rows ``h`` and output ``z = W h``, without the bias, at every position of every
sample) and ``fact.features.weights`` (which views the gradient of the mean loss as each matrix). So each
matrix has one name in both: the module's name, followed by a suffix where a module holds several
(``attention[q]``, ``attention[k]``, ``attention[v]``, ``attention.out_proj``).

Registered here:

* ``nn.Linear``: W = weight; h = the input, one row per leading index (sample, token, ...).
* ``nn.Conv1d`` / ``nn.Conv2d``: W = the kernel as ``out x (in * kernel size)``; h = every patch the
  kernel sees (the input unfolded), one row per sample and output position: the convolutional
  AGOP and FACT of Beaglehole et al. (2023), summed over positions.
* ``nn.Embedding``: W = weight^T (dim x vocabulary); h = the one-hot token, one row per position; a
  lookup of ``padding_idx`` is no product of W (PyTorch never trains that row) and is left out.
* ``nn.MultiheadAttention``: the q, k and v blocks of ``in_proj_weight`` (or ``q_proj_weight`` ...
  when kdim or vdim differ) and ``out_proj.weight``; they multiply inside one fused call, which
  ``fact.features.attention`` recomputes one product at a time.

Another module joins by registering its view, e.g. a module whose ``weight`` acts on its last
dimension like ``nn.Linear``::

    fact.features.layer_views.register_view(MyModule, fact.features.layer_views.LINEAR)

Registering over an existing entry (a built-in one included) is refused unless ``overwrite=True``.
A weight no view covers is still seen by ``fact.features.weights``, as ``parameter.reshape(shape[0], -1)``
under its parameter's name.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from fact.features import attention

Rows = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def _same(module: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _whole(parameter: torch.Tensor) -> torch.Tensor:
    return parameter


def flattened(parameter: torch.Tensor) -> torch.Tensor:
    """A kernel (out, in, *size) as the matrix out x (in * prod(size)) acting on a patch."""
    return parameter.reshape(parameter.shape[0], -1)


@dataclass(frozen=True)
class MatrixView:
    """One weight matrix of a module.

    parameter : the module's attribute that holds it (``weight``, ``in_proj_weight``, ``out_proj.weight``).
    matrix : that parameter, or its gradient, as W of shape (d_out, d_in) (slicing, transposing or
        reshaping: linear, so it views a gradient as it views the weight).
    inputs : the module's input -> the rows h that W multiplies, shape (..., d_in).
    outputs : a gradient with respect to the module's output -> with respect to z, as rows
        (..., d_out) matching the rows of h (the output is z plus a bias: only the layout changes).
    applied : the module's input -> a boolean mask broadcastable to its output, True where the output is
        a product of W, or None where every one is. An embedding's lookups of its ``padding_idx`` are
        not: PyTorch never trains that row, so they are left out of every relation. None: all are.
    """

    parameter: str
    matrix: Callable[[torch.Tensor], torch.Tensor] = _whole
    inputs: Rows = _same
    outputs: Rows = _same
    applied: Callable[[nn.Module, torch.Tensor], torch.Tensor | None] | None = None

    def weight(self, module: nn.Module) -> torch.Tensor:
        """W of ``module``, a view of its parameter."""
        return self.matrix(operator.attrgetter(self.parameter)(module))


# recompute(module, args, kwargs, record) -> the module's output, with record(suffix, h, z) -> z
# shown each product (it may return z replaced by a tensor it can differentiate with respect to)
Recompute = Callable[[nn.Module, tuple, dict, Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor]], object]


@dataclass(frozen=True)
class LayerView:
    """How one kind of module is seen: its matrices by name suffix, and, for a module whose products
    happen inside one fused call, how to recompute it one product at a time (its submodules are then
    part of it). Without ``recompute`` the module has one matrix, its input is that matrix's input
    and its output that matrix's z plus a bias.

    ``children``, for a module that knows better than its submodules' types what they compute
    (GPT-2's attention, whose ``c_attn`` holds q, k and v side by side): ``{submodule name: view}``,
    seen in place of the views of those submodules' types."""

    matrices: Callable[[nn.Module], dict[str, MatrixView]]
    recompute: Recompute | None = None
    children: Callable[[nn.Module], dict[str, LayerView]] | None = None


def _check_convolution(module: nn.Module) -> None:
    if module.groups != 1 or isinstance(module.padding, str) or module.padding_mode != "zeros":
        raise ValueError(
            f"{type(module).__name__} with groups={module.groups}, padding={module.padding!r}, "
            f"padding_mode={module.padding_mode!r}: only groups=1 and numeric zero padding are "
            "supported; register a view of this layer with fact.features.layer_views.register_view"
        )


def _conv2d_patches(module: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    _check_convolution(module)
    batched = x if x.dim() == 4 else x[None]
    patches = nn.functional.unfold(batched, module.kernel_size, module.dilation, module.padding, module.stride)
    return patches.transpose(1, 2)  # (n, positions, in * kh * kw)


def _conv1d_patches(module: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    _check_convolution(module)
    batched = (x if x.dim() == 3 else x[None])[..., None]  # a 1-D convolution is a 2-D one of width 1
    patches = nn.functional.unfold(
        batched, (module.kernel_size[0], 1), (module.dilation[0], 1), (module.padding[0], 0), (module.stride[0], 1)
    )
    return patches.transpose(1, 2)


def _channels_last(module: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    """(n, out, *positions) -> (n, positions, out)."""
    return tensor.flatten(2).transpose(1, 2)


def _one_hot(module: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
    if module.max_norm is not None:
        raise ValueError(
            "nn.Embedding with max_norm renormalises its weight in the forward pass; FACT is "
            "defined here for a fixed matrix"
        )
    return nn.functional.one_hot(tokens, module.num_embeddings).to(module.weight.dtype)


def _not_padding(module: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor | None:
    """True where a token is not the padding index, whose row PyTorch leaves untrained."""
    return None if module.padding_idx is None else (tokens != module.padding_idx)[..., None]


def transposed(parameter: torch.Tensor) -> torch.Tensor:
    """A weight stored as in x out (an embedding's table, transformers' Conv1D) as the matrix out x in."""
    return parameter.T


def single(view: MatrixView) -> LayerView:
    """The view of a module with one matrix, named as the module."""
    return LayerView(matrices=lambda module: {"": view})


LINEAR = single(MatrixView("weight"))
CONV1D = single(MatrixView("weight", flattened, _conv1d_patches, _channels_last))
CONV2D = single(MatrixView("weight", flattened, _conv2d_patches, _channels_last))
EMBEDDING = single(MatrixView("weight", transposed, _one_hot, applied=_not_padding))

ATTENTION_SUFFIXES = {"q": "[q]", "k": "[k]", "v": "[v]", "out": ".out_proj"}


def _attention_matrices(module: nn.MultiheadAttention) -> dict[str, MatrixView]:
    return {
        ATTENTION_SUFFIXES[block]: MatrixView(parameter, matrix)
        for block, (parameter, matrix) in attention.projections(module).items()
    }


def _recompute_attention(module, args, kwargs, record):
    return attention.recompute(module, args, kwargs, lambda block, h, z: record(ATTENTION_SUFFIXES[block], h, z))


ATTENTION = LayerView(matrices=_attention_matrices, recompute=_recompute_attention)

_VIEWS: dict[type, LayerView] = {}


def register_view(module_type: type, view: LayerView, *, overwrite: bool = False) -> None:
    """See every ``module_type`` (and its subclasses) through ``view``. Replacing a registered view
    needs ``overwrite=True``, so that two packages cannot silently fight over one module type."""
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"register a view for an nn.Module subclass, not {module_type!r}")
    if not isinstance(view, LayerView):
        raise TypeError(f"a view is a fact.features.layer_views.LayerView, not {type(view).__name__}")
    if module_type in _VIEWS and not overwrite:
        raise ValueError(f"{module_type.__name__} already has a registered view; pass overwrite=True to replace it")
    _VIEWS[module_type] = view


def registered(module_type: type) -> bool:
    """Whether ``module_type`` itself (not a parent class) has a registered view."""
    return module_type in _VIEWS


def registered_types() -> list[type]:
    """The module types with a registered view (those of packages such as transformers once loaded)."""
    return list(_VIEWS)


def unregister_view(module_type: type) -> LayerView:
    """Remove and return the view registered for ``module_type`` exactly (not a parent class's)."""
    if module_type not in _VIEWS:
        raise KeyError(f"{module_type.__name__} has no registered view")
    return _VIEWS.pop(module_type)


def view_of(module: nn.Module) -> LayerView | None:
    """The view registered for ``module``'s class or its nearest parent class, or None."""
    for cls in type(module).__mro__:
        if cls in _VIEWS:
            return _VIEWS[cls]
    return None


for _type, _view in (
    (nn.Linear, LINEAR),
    (nn.Conv1d, CONV1D),
    (nn.Conv2d, CONV2D),
    (nn.Embedding, EMBEDDING),
    (nn.MultiheadAttention, ATTENTION),
):
    register_view(_type, _view)


@dataclass(frozen=True)
class ModelMatrix:
    """One weight matrix found in a model: its module and how that module holds it."""

    module_name: str
    module: nn.Module
    view: MatrixView
    fused: LayerView | None  # the module's view when it recomputes several products; None for one matrix

    @property
    def parameter(self) -> nn.Parameter:
        """The parameter that holds W."""
        return operator.attrgetter(self.view.parameter)(self.module)

    @property
    def weight(self) -> torch.Tensor:
        """W, a view of the parameter."""
        return self.view.weight(self.module)


def matrix_name(module_name: str, suffix: str) -> str:
    """A matrix's name: its module's, then the suffix (no leading dot for a model that is the module)."""
    return f"{module_name}{suffix}" if module_name else suffix.lstrip(".")


# Packages whose module types have views in fact, loaded (and so registered) only when a model holds one of
# their modules: fact never imports them otherwise.
PACKAGE_VIEWS = {"transformers": "fact.features.huggingface"}


def _load_package_views(model: nn.Module) -> None:
    packages = {type(module).__module__.partition(".")[0] for module in model.modules()}
    for package in packages & PACKAGE_VIEWS.keys():
        importlib.import_module(PACKAGE_VIEWS[package])


def model_matrices(model: nn.Module) -> dict[str, ModelMatrix]:
    """{name: matrix} of every matrix a registered view shows in ``model``; the submodules of a module
    that recomputes its products (attention's out_proj) are seen through that module only, and a
    submodule named by its parent's ``children`` through the view given there."""
    _load_package_views(model)
    found: dict[str, ModelMatrix] = {}
    fused_prefixes: list[str] = []
    given: dict[str, LayerView] = {}  # submodule name -> the view its parent gives it
    for module_name, module in model.named_modules():
        if any(module_name.startswith(prefix) for prefix in fused_prefixes):
            continue
        view = given.get(module_name) or view_of(module)
        if view is None:
            continue
        if view.children is not None:
            given.update({matrix_name(module_name, f".{child}"): seen for child, seen in view.children(module).items()})
        if view.recompute is not None:
            fused_prefixes.append(f"{module_name}." if module_name else "")
        for suffix, matrix in view.matrices(module).items():
            found[matrix_name(module_name, suffix)] = ModelMatrix(
                module_name, module, matrix, view if view.recompute is not None else None
            )
    return found
