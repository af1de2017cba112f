"""Where an RFM computes: the device its ``device`` parameter names, and its fitted tensors moved
between devices (to the CPU when pickled, back to the GPU when one is there on loading)."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """The device named: "auto" takes a CUDA GPU when there is one; "cuda" where there is none is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for, but no CUDA GPU is visible; "
            "use device='cpu', or 'auto' to take a GPU when there is one"
        )
    return torch.device(device)


def on_device(value, device: torch.device):
    """``value`` with every tensor in it (in dicts, lists, tuples) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: on_device(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_device(item, device) for item in value)
    return value
