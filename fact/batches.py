"""A pass over a model's data: (x, y) batches from tensors or from a DataLoader, in eval mode."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn


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
    """Yield (x, y) batches from tensors or from an iterable of batches such as a DataLoader."""
    if isinstance(inputs, torch.Tensor):
        if targets is not None and len(targets) != len(inputs):
            raise ValueError(f"inputs and targets differ in length: {len(inputs)} inputs, {len(targets)} targets")
        if len(inputs) == 0:
            raise ValueError("inputs are empty")
        step = batch_size or len(inputs)
        if step < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        for start in range(0, len(inputs), step):
            yield inputs[start:start + step], None if targets is None else targets[start:start + step]
        return
    if targets is not None:
        raise ValueError("with a DataLoader as inputs, give the targets inside its batches (x, y), not as targets=")
    for batch in inputs:
        if isinstance(batch, (tuple, list)):
            x, y = batch[0], (batch[1] if len(batch) > 1 else None)
            if y is not None and len(y) != len(x):
                raise ValueError(f"a batch holds {len(x)} inputs but {len(y)} targets; the first dimension of both "
                                 "must be the sample")
            yield x, y
        else:
            yield batch, None
