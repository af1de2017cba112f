"""The rows of one monitor record: how well each followed weight's W^T W and W W^T match FACT and bFACT (from
the gradient of the mean loss) and, asked, the NFA and eNFA (from the hooked pass), with its stationarity.

FACT's measures come from ``fact.features.fact_agreement`` (in the model's own precision) and the NFA's from
``fact.features.ansatz_agreement``, neither forming the larger side's matrices. Spearman's correlation ranks
every entry, so where it is asked for the matrices are formed in float64 and each side's target is ranked
once for FACT and the NFA alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from fact.features.ansatz_agreement import ansatz_records
from fact.features.fact_agreement import fact_agreements
from fact.features.layer_matrices import LayerMatrices, agreement_records
from fact.features.layer_views import model_matrices
from fact.features.losses import Loss
from fact.features.matrices import feature_matrices
from fact.features.names import Relation
from fact.features.weights import WeightMatrix

FACT_RELATIONS = (("forward", Relation.FACT), ("backward", Relation.BFACT))


def nfa_results(
    model: nn.Module, weights: dict[str, WeightMatrix], inputs, targets, loss: Loss, weight_decay: float, *,
    batch_size: int | None, agop_probes: int | None, generator: torch.Generator, per_head: bool,
) -> dict[str, LayerMatrices]:  # fmt: skip
    """The hooked pass's results of the followed ``weights`` whose inputs a registered view knows, and of every
    other use of a followed weight (a head tied to a followed embedding: its NFA and eNFA are its own)."""
    if not set(weights) & set(model_matrices(model)):
        return {}
    # every layer, so that one without a sample dimension (a position embedding) is left out, not refused
    results = feature_matrices(
        model, inputs, targets, loss, weight_decay,
        batch_size=batch_size, agop_probes=agop_probes, generator=generator, per_head=per_head,
    )  # fmt: skip
    return {
        name: result
        for name, result in results.items()
        if name in weights or any(use in weights for use in result.shared_with)
    }


def record_rows(
    weights: dict[str, WeightMatrix],
    nfa_results: dict[str, LayerMatrices],
    powers: Sequence[float],
    measures: Sequence[str],
    precisions: dict[str, torch.dtype],
) -> dict[str, list[dict]]:
    """{followed weight: its rows}: FACT and bFACT, then the NFA and eNFA of its hooked pass where
    ``nfa_results`` has them, then those of its other uses (a head tied to a followed embedding: each use's
    NFA under the use's own name, with the weight's stationarity). ``precisions`` gives each weight's
    FACT products their dtype."""
    rows = {
        name: weight_rows(weight, nfa_results.get(name), powers, measures, precisions[name])
        for name, weight in weights.items()
    }
    for name, result in nfa_results.items():
        if name not in weights:
            owner = next(use for use in result.shared_with if use in weights)
            stationarity = weights[owner].stationarity_error
            rows[owner] += ansatz_records(result, powers, measures, stationarity)
    return rows


def weight_rows(
    weight: WeightMatrix,
    nfa: LayerMatrices | None,
    powers: Sequence[float],
    measures: Sequence[str],
    precision: torch.dtype,
) -> list[dict]:
    """One weight's rows: FACT and bFACT against W^T W and W W^T, then its NFA and eNFA (given ``nfa``)."""
    stationarity = weight.stationarity_error
    if "spearman" in measures:
        fact = [(side, relation, math.nan, getattr(weight, relation)) for side, relation in FACT_RELATIONS]
        nfa_comparisons = [] if nfa is None else nfa.ansatz_comparisons(powers)
        return agreement_records(weight, fact + nfa_comparisons, stationarity, measures)
    measured = fact_agreements(weight.weight, weight.gradient, weight.weight_decay, measures, precision)
    rows = [
        {
            "layer": weight.name,
            "side": side,
            "relation": str(relation),
            "power": math.nan,
            **measured[relation],
            "stationarity_error": stationarity,
        }
        for side, relation in FACT_RELATIONS
    ]
    return rows if nfa is None else rows + ansatz_records(nfa, powers, measures, stationarity)


def product_precision(parameter: torch.Tensor) -> torch.dtype:
    """The dtype of a record's products for a weight held as ``parameter``: float64 for a float64 model, float32
    otherwise (a float32 model's gradient is no more precise; half precision would lose the measures)."""
    return torch.float64 if parameter.dtype == torch.float64 else torch.float32
