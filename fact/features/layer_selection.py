"""Which weight matrices a pass computes: the layers asked for (names, modules, or all), as the registry of
views shows them (``fact.features.layer_views``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from fact.features.layer_views import ModelMatrix, model_matrices

LayerRef = str | nn.Module


def resolve_layers(model: nn.Module, layers: LayerRef | Sequence[LayerRef] | None) -> dict[str, ModelMatrix]:
    """Map the requested layers (names or modules; None for all) to ``{name: matrix}``.

    A ``nn.MultiheadAttention`` given as a module stands for its four matrices."""
    return resolve(model_matrices(model), layers)


def resolve(available: dict[str, ModelMatrix], layers) -> dict[str, ModelMatrix]:
    """``resolve_layers`` among the matrices ``available`` (``model_matrices`` of the model)."""
    if not available:
        raise ValueError(
            "the model has no layer whose input is known here (nn.Linear, nn.Conv1d/2d, nn.Embedding, "
            "nn.MultiheadAttention); register yours with fact.features.layer_views.register_view, or use "
            "fact.features.weights for FACT of any weight"
        )
    if layers is None:
        return available
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    resolved: dict[str, ModelMatrix] = {}
    for layer in layers:
        resolved.update(_resolve_one(available, layer))
    return resolved


def _resolve_one(available: dict[str, ModelMatrix], layer: LayerRef) -> dict[str, ModelMatrix]:
    if isinstance(layer, str):
        if layer not in available:
            raise ValueError(f"unknown layer {layer!r}: the model's layers with a known input are {sorted(available)}")
        return {layer: available[layer]}
    if isinstance(layer, nn.Module):
        found = {name: matrix for name, matrix in available.items() if matrix.module is layer}
        if not found:
            raise ValueError(
                f"the given {type(layer).__name__} is not a layer of this model with a known input; "
                f"those are {sorted(available)}"
            )
        return found
    raise TypeError(f"a layer is given by its name or its module, not {type(layer).__name__}")
