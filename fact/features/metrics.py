"""Agreement between two matrices: Pearson and Spearman correlation, cosine similarity, relative error.

The Pearson correlation is the one of the Belkin-group papers (docs/paper-settings.md): both
matrices are centred by the mean over *all* entries, then compared by cosine similarity,
i.e. ``np.corrcoef(A.ravel(), B.ravel())[0, 1]``. Spearman's is Pearson's of the entries'
ranks (ties share their mean rank), as ``scipy.stats.spearmanr(A.ravel(), B.ravel())``.

One rule for every measure: a matrix with a NaN or infinite entry gives NaN (nothing can be said
of it), never a number computed from the other entries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fact.features.names import MEASURES


def _flat_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.as_tensor(a).detach()
    b = torch.as_tensor(b).detach()
    if a.shape != b.shape:
        raise ValueError(f"matrices must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float64)
    return a.reshape(-1).to(dtype), b.reshape(-1).to(a.device, dtype)


def _undefined(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether either matrix has a NaN or infinite entry (then every measure is NaN)."""
    return not (all_finite(a) and all_finite(b))


def all_finite(a: torch.Tensor) -> bool:
    """Whether every entry is finite: a NaN or infinite entry makes the sum NaN or infinite, so a finite sum
    says so in one reduction; an infinite sum of finite entries (an overflow) is told apart entry by entry."""
    return bool(torch.isfinite(a.sum())) or bool(torch.isfinite(a).all())


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity <A, B>_F / (||A||_F ||B||_F), uncentred (Figure 7's measure).

    Returns NaN when either matrix is zero or has a non-finite entry.
    """
    a, b = _flat_pair(a, b)
    return float("nan") if _undefined(a, b) else _cosine(a, b)


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of the entries: cosine similarity after centring each matrix by its mean entry.

    Returns NaN when either matrix is constant or has a non-finite entry.
    """
    a, b = _flat_pair(a, b)
    return float("nan") if _undefined(a, b) else _pearson(a, b)


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of the entries: Pearson's of their ranks, ties given their mean rank.

    Insensitive to any increasing transformation of either matrix (a power of a PSD matrix's
    entries is not one, but a monotone rescaling is). Returns NaN when either matrix is constant or
    has a non-finite entry (ranks would place NaN above every number).
    """
    a, b = _flat_pair(a, b)
    return float("nan") if _undefined(a, b) else _spearman(a, b)


def relative_error(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """||estimate - reference||_F / ||reference||_F; NaN when either has a non-finite entry."""
    estimate, reference = _flat_pair(estimate, reference)
    return float("nan") if _undefined(estimate, reference) else _relative_error(estimate, reference)


def agreement(target: torch.Tensor, predicted: torch.Tensor) -> dict[str, float]:
    """Pearson, Spearman, cosine and the relative error of ``predicted`` to ``target``, as the four
    functions above give them, with both matrices flattened and checked once (a monitor's record
    computes this for every weight matrix and relation)."""
    return agreements(target, [predicted])[0]


def agreements(
    target: torch.Tensor, predictions: Sequence[torch.Tensor], measures: Sequence[str] = MEASURES
) -> list[dict[str, float]]:
    """``agreement(target, predicted)`` for each of ``predictions``, by the named ``measures`` alone (all four by
    default), the target's ranks computed once: a layer's W^T W is compared with FACT, NFA and eNFA alike, and
    ranking, Spearman's, is the measures' largest cost."""
    check_known(measures)
    records = []
    target_ranks = None
    for predicted in predictions:
        flat_target, predicted = _flat_pair(target, predicted)
        if _undefined(flat_target, predicted):
            records.append(dict.fromkeys(measures, float("nan")))
            continue
        if "spearman" in measures and target_ranks is None:
            target_ranks = _ranks(flat_target)
        records.append({measure: _measure(measure, flat_target, target_ranks, predicted) for measure in measures})
    return records


def check_known(measures: Sequence[str]) -> None:
    """Refuse a measure name that is none of fact.features.names.MEASURES, listing them."""
    unknown = sorted(set(measures) - set(MEASURES))
    if unknown:
        raise ValueError(f"unknown measures {unknown}; the measures are {list(MEASURES)}")


def _measure(measure: str, target: torch.Tensor, target_ranks: torch.Tensor | None, predicted: torch.Tensor) -> float:
    """One measure of ``predicted`` against ``target`` (flat, finite); ``target_ranks`` for Spearman's."""
    if measure == "pearson":
        return _pearson(target, predicted)
    if measure == "spearman":
        return _pearson(target_ranks, _ranks(predicted))
    if measure == "cosine":
        return _cosine(target, predicted)
    return _relative_error(predicted, target)


# The measures proper, on flat float64 vectors already checked to be finite.


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    denominator = a.norm() * b.norm()
    return float("nan") if denominator == 0 else float(a @ b / denominator)


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return _cosine(a - a.mean(), b - b.mean())


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    return _pearson(_ranks(a), _ranks(b))


def _relative_error(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    norm = reference.norm()
    if norm == 0:
        raise ValueError("relative_error: the reference matrix is zero")
    return float((estimate - reference).norm() / norm)


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 of the values, each tie given the mean of the ranks it spans.

    One sort and a pass over it (``torch.unique`` with inverse and counts took several times as long,
    the monitor's largest cost on a CPU)."""
    order = _sorting_order(values)
    ordered = values[order]
    starts_group = torch.ones_like(ordered, dtype=torch.bool)
    starts_group[1:] = ordered[1:] != ordered[:-1]
    group = torch.cumsum(starts_group, 0) - 1  # each sorted value's tie group
    first = torch.nonzero(starts_group).squeeze(1)  # rank of each group's first value
    counts = torch.diff(first, append=first.new_tensor([len(values)]))
    ranks = torch.empty_like(values)
    ranks[order] = (first + (counts - 1) / 2).to(values.dtype)[group]
    return ranks


def _sorting_order(values: torch.Tensor) -> torch.Tensor:
    """Indices that sort ``values``: NumPy's vectorised sort on a CPU (five times ``torch.sort``'s speed on
    614,656 entries here), torch's elsewhere. Ties may come in any order: they share their mean rank."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.argsort(values.detach().numpy()))
    return torch.argsort(values)
