"""A pass over a model's data: (x, y) batches from tensors or from a DataLoader, in eval mode, and
the checks every pass makes of what goes in and comes out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn

from fact.features import distributed


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode (dropout off, batch norm on its running statistics, which stay
    unchanged); on exit every submodule gets back its own train/eval mode."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.train(training)


def batches(inputs, targets, batch_size: int | None) -> Iterable[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (x, y) batches from tensors or from an iterable of batches such as a DataLoader.

    A batch of an iterable is ``x``, ``(x, y)`` (or a list) or a dict ``{"x": x, "y": y}``; the first
    dimension of x and y is the sample.
    """
    if isinstance(inputs, torch.Tensor):
        if targets is not None and len(targets) != len(inputs):
            raise ValueError(
                f"inputs and targets differ in length: {len(inputs)} inputs, {len(targets)} targets"
                f"{_batch_dimension_hint(inputs)}"
            )
        if len(inputs) == 0:
            if distributed.active():
                return  # this rank's shard is empty: every rank learns it, before any sum (distributed.check_ranks)
            raise ValueError("inputs are empty: give at least one sample")
        step = batch_size or len(inputs)
        if step < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        for start in range(0, len(inputs), step):
            yield inputs[start : start + step], None if targets is None else targets[start : start + step]
        return
    if targets is not None:
        raise ValueError("with a DataLoader as inputs, give the targets inside its batches (x, y), not as targets=")
    for batch in inputs:
        x, y = _unpack(batch)
        if y is not None and len(y) != len(x):
            raise ValueError(
                f"a batch holds {len(x)} inputs but {len(y)} targets; the first dimension of both "
                f"must be the sample{_batch_dimension_hint(x)}"
            )
        yield x, y


def on_model(model: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` on the model's device, floating data in the model's precision (tokens stay integers)."""
    parameter = next(model.parameters())
    return tensor.to(device=parameter.device, dtype=parameter.dtype if tensor.is_floating_point() else tensor.dtype)


def _unpack(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x, y) of one batch of an iterable: a tuple or list, a dict with keys "x" and "y", or x alone."""
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    if isinstance(batch, Mapping):
        if "x" not in batch:
            raise ValueError(
                f"a batch is a dict with keys {sorted(map(str, batch))}; give the inputs under 'x' and "
                "the targets under 'y' (or yield (x, y) tuples)"
            )
        return batch["x"], batch.get("y")
    return batch, None


def _batch_dimension_hint(x) -> str:
    if isinstance(x, torch.Tensor) and x.dim() == 1 and x.is_floating_point():
        return (
            f"; inputs of shape {tuple(x.shape)} have no batch dimension: the first dimension is the sample, "
            f"so one sample x is x.unsqueeze(0), of shape (1, {len(x)})"
        )
    return ""


def check_data(tensor: torch.Tensor, what: str, start: int) -> None:
    """Refuse inputs or targets with a NaN or infinite entry, naming the batch."""
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise ValueError(
            f"{what} contain non-finite values (NaN or inf) in the batch starting at sample {start}; "
            "clean the data first"
        )


def forward(model: nn.Module, x: torch.Tensor, start: int):
    """The model's outputs on a batch; integer inputs it cannot take are named as the cause, with what to give."""
    try:
        return model(x)
    except RuntimeError as error:
        if x.is_floating_point() or x.is_complex():
            raise
        raise ValueError(
            f"the model failed on the batch starting at sample {start}, whose inputs are integers ({x.dtype}): "
            f"give floating inputs (e.g. X.float() or X.double()) unless they are token indices ({error})"
        ) from error


def check_computed(tensor: torch.Tensor, what: str, start: int) -> None:
    """Refuse model outputs or losses with a NaN or infinite entry (computed from finite data), saying
    what made them: a half-precision overflow, or the model itself. Model outputs that are not a tensor (a
    Hugging Face ``ModelOutput``, a tuple) are refused saying what to pass instead."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(
            f"the {what} are a {type(tensor).__name__}, not a tensor: give a module whose forward returns the "
            "tensor the loss is of, e.g. the logits (a wrapper, or network=lambda model: ... in a monitor's callback)"
        )
    if not tensor.is_floating_point() or torch.isfinite(tensor).all():
        return
    if tensor.dtype in (torch.float16, torch.bfloat16):
        raise ValueError(
            f"the {what} overflowed {tensor.dtype} in the batch starting at sample {start} (the data "
            "are finite): compute in float32, e.g. model.float()"
        )
    raise ValueError(
        f"the {what} are non-finite (NaN or inf) in the batch starting at sample {start}, from finite "
        "data: check the model's weights for NaN or inf (a diverged training)"
    )
