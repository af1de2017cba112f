"""A view checked against its module: does the module's forward multiply by W as the view says?

The hooked pass trusts a view (``fact.features.layer_views``) to say what W is, which rows h it
multiplies and how a gradient at the module's output becomes one at z = W h. A registered view can
fit every shape and still be wrong (W where the module multiplies by W^T, a scale left out of
``outputs``, a subclass of ``nn.Linear`` with a forward of its own), and its relations would then be
silently wrong. The identity every relation rests on can be checked on the module itself: for any
direction g at its output,

    view.matrix(grad_parameter <g, module(x)>) = outputs(g)^T h.

It is checked once per module and view, on the module's first call, by a recomputation of the
module with autograd.
"""

from __future__ import annotations

import math
import weakref

import torch
from torch import nn

from fact.features.layer_views import ModelMatrix

_checked: weakref.WeakKeyDictionary[nn.Module, set] = weakref.WeakKeyDictionary()


def checked(matrix: ModelMatrix) -> bool:
    """Whether this module was already checked with this view."""
    return matrix.view in _checked.get(matrix.module, ())


def check_view(name: str, matrix: ModelMatrix, args: tuple, kwargs: dict, h: torch.Tensor) -> None:
    """Refuse, naming the layer, a view whose products are not the module's: see the module docstring.
    ``args``, ``kwargs``: the module's call; ``h``: the rows the view took from it. The module is called
    again: its forward hooks see that call, and the recording's pass it by."""
    module, view = matrix.module, matrix.view
    weight = matrix.parameter.detach().requires_grad_()
    with torch.enable_grad():
        output = torch.func.functional_call(module, {view.parameter: weight}, args, kwargs)
    direction = torch.randn(
        output.shape, generator=torch.Generator(output.device).manual_seed(0), dtype=output.dtype, device=output.device
    )
    applied = None if view.applied is None else view.applied(module, first_input(args, kwargs))
    if applied is not None:
        direction = direction * applied
    (gradient,) = torch.autograd.grad(output, weight, direction)
    try:
        rows = view.outputs(module, direction)
        predicted = rows.reshape(-1, rows.shape[-1]).T @ h.reshape(-1, h.shape[-1]).to(rows.dtype)
        actual = view.matrix(gradient)
        error = float((actual - predicted).norm()) / max(float(actual.norm()), torch.finfo(actual.dtype).tiny)
    except RuntimeError as error:
        raise ValueError(
            f"layer {name!r} ({type(module).__name__}): its view does not fit the module's input, output and "
            f"weight ({error}); register a view that does (fact.features.layer_views.register_view)"
        ) from None
    if not math.isfinite(error):
        return  # non-finite weights or data: the pass's own checks name them
    if error > (1e-2 if torch.finfo(actual.dtype).bits >= 32 else 5e-2):
        raise ValueError(
            f"layer {name!r} ({type(module).__name__}): the module does not compute W h as its view says (the "
            f"gradient of its weight differs from the view's by {error:.2g} of its size: is W transposed, or a "
            "scale or activation missing from the view's outputs?); register a view that matches its forward "
            "(fact.features.layer_views.register_view(..., overwrite=True))"
        )
    _checked.setdefault(module, set()).add(view)


def view_inputs(name: str, matrix: ModelMatrix, x: torch.Tensor) -> torch.Tensor:
    """The rows h the view takes from the module's input ``x``; a view that cannot read that input (a subclass
    of nn.Embedding whose forward computes its own indices from a mask) is refused naming the layer."""
    try:
        return matrix.view.inputs(matrix.module, x)
    except (RuntimeError, TypeError, IndexError) as error:
        raise ValueError(
            f"layer {name!r} ({type(matrix.module).__name__}): its view cannot read the module's input "
            f"({error}); a module with a forward of its own needs a view of its own "
            "(fact.features.layer_views.register_view), or leave the layer out (layers= or names=)"
        ) from None


def first_input(args: tuple, kwargs: dict) -> torch.Tensor:
    """The tensor a module with one matrix multiplies: its first argument, given by position or by name."""
    if args:
        return args[0]
    if kwargs:
        return next(iter(kwargs.values()))
    raise ValueError("a layer was called with no input")
