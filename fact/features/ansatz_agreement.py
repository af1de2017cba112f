"""How well the NFA and eNFA match W^T W, measured in the coordinates of W's rows where they are fewer than
its columns, so that no d_in x d_in matrix is formed.

Every forward relation of the NFA family is W^T M W raised to a power, with M a d_out x d_out matrix
(``LayerMatrices.forward_parts``). With the thin QR W^T = Q R (Q: d_in x d_out, orthonormal columns),

    W^T W = Q (R R^T) Q^T,     (W^T M W)^s = Q (R M R^T)^s Q^T,

so each is Q X Q^T for a d_out x d_out core X. Q keeps inner products (<Q X Q^T, Q Y Q^T> = <X, Y>) and a
matrix's sum of entries is q^T X q with q = Q^T 1: the measures (``fact.features.moments``) come from the
cores exactly. The backward relations are d_out x d_out already and are measured as formed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fact.features.layer_matrices import LayerMatrices, agreement_records
from fact.features.linalg import core_power
from fact.features.moments import SideMoments, inner, measures_of


def ansatz_records(
    result: LayerMatrices, powers: Sequence[float], measures: Sequence[str], stationarity: float
) -> list[dict]:
    """``agreement_records(result, result.ansatz_comparisons(powers), stationarity, measures)``, the forward
    records from cores where the weight has fewer rows than columns. Spearman's correlation ranks entries, so
    with it every matrix is formed."""
    d_out, d_in = result.weight.shape
    if "spearman" in measures or d_out >= d_in:
        return agreement_records(result, result.ansatz_comparisons(powers), stationarity, measures)
    keys = result.ansatz_keys(powers)
    backward = [(side, relation, s, result.ansatz(relation, s)) for side, relation, s in keys if side == "backward"]
    backward_records = iter(agreement_records(result, backward, stationarity, measures))
    Q, R = torch.linalg.qr(result.weight.T)
    target, q = R @ R.T, Q.sum(dim=0)  # W^T W's core; Q^T 1
    records = []
    for side, relation, power in keys:
        if side == "backward":
            records.append(next(backward_records))
            continue
        M, s = result.forward_parts(relation, power)
        core = core_power(R @ M @ R.T, s, d_in)
        measured = measures_of(_moments(target, core, q, d_in * d_in), measures)
        records.append({
            "layer": result.name, "side": side, "relation": str(relation), "power": power, **measured,
            "stationarity_error": stationarity,
        })  # fmt: skip
    return records


def _moments(target: torch.Tensor, predicted: torch.Tensor, q: torch.Tensor, entries: int) -> SideMoments:
    """The moments of Q target Q^T and Q predicted Q^T, from the cores and q = Q^T 1."""
    difference = target - predicted
    return SideMoments(
        aa=inner(target, target),
        ab=inner(target, predicted),
        bb=inner(predicted, predicted),
        residual=inner(difference, difference),
        sum_a=float(q @ target @ q),
        sum_b=float(q @ predicted @ q),
        entries=entries,
    )
