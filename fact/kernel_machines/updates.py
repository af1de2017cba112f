"""The updates of an RFM's feature matrix M.

* ``nfa``:       M = AGOP^s                        (Neural Feature Ansatz; s, centring, normalisation options)
* ``fact``:      M = (F F^T)^{1/2}                 (FACT-RFM, no geometric averaging)
* ``fact_geom``: M = (F M^2 F^T)^{1/4}             (FACT-RFM', geometric averaging with the current M)

F is the kernel FACT matrix of the current predictor (``fact.kernel_machines.kernel_matrices.kernel_fact``).
With fewer training points n than features d, the AGOP and F have rank at most n: the updates then take
their powers from n-column factors (d n^2 work and one d x d product) instead of a d^3 eigendecomposition.
``UPDATE_STEPS`` gives each by name as the estimator takes it.
"""

from __future__ import annotations

import torch

from fact.features.linalg import congruence_power, gram_power, product_gram_power, psd_sqrt_of_gram, sym_power
from fact.kernel_machines.kernel_matrices import kernel_agop_parts, kernel_fact_factors

NORMALISATIONS = (None, "max", "trace")


def normalise(M: torch.Tensor, how: str | None) -> torch.Tensor:
    """None: as is; "max": divide by the largest entry (pip RFM); "trace": rescale to trace d."""
    if how is None:
        return M
    if how == "max":
        return M / M.abs().max()
    if how == "trace":
        return M * (len(M) / torch.trace(M))
    raise ValueError(f"unknown normalisation {how!r}: use one of {list(NORMALISATIONS)}")


def nfa_update(agop: torch.Tensor | tuple[torch.Tensor, torch.Tensor], power: float = 0.5) -> torch.Tensor:
    """M = AGOP^s; from factors (A, C), AGOP = A C A^T, at their rank where it is below d."""
    if isinstance(agop, tuple):
        return congruence_power(*agop, power)
    return sym_power(agop, power)


def fact_update(F: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """M = (F F^T)^{1/2}; its fixed points satisfy M = (FACT FACT^T)^{1/2} (Appendix E). F may be given
    as factors (U, V), F = U V^T, and is then never formed where their rank is below d."""
    if isinstance(F, tuple):
        U, V = F
        return product_gram_power(U, V, 0.5) if U.shape[1] < U.shape[0] else psd_sqrt_of_gram(U @ V.T)
    return psd_sqrt_of_gram(F)


def fact_geom_update(F: torch.Tensor | tuple[torch.Tensor, torch.Tensor], M: torch.Tensor) -> torch.Tensor:
    """M = (F M^2 F^T)^{1/4}, the geometric average of the FACT update with the current M (symmetric), so
    F M = U (M V)^T for F = U V^T given as factors."""
    if isinstance(F, tuple):
        U, V = F
        return product_gram_power(U, M @ V, 0.25) if U.shape[1] < U.shape[0] else gram_power(U @ V.T @ M, 0.25)
    return gram_power(F @ M, 0.25)


def _nfa_step(X, alpha, M, kernel, options, generator, weights, batch_size) -> torch.Tensor:
    agop = kernel_agop_parts(
        X, alpha, M, kernel, options.centre, options.agop_max_samples, generator, batch_size, weights
    )
    return nfa_update(agop, options.power)


def _fact_factors(X, alpha, M, kernel, options, weights, batch_size) -> tuple[torch.Tensor, torch.Tensor]:
    return kernel_fact_factors(X, alpha, M, kernel, options.fact_scale, batch_size, weights)


def _fact_step(X, alpha, M, kernel, options, generator, weights, batch_size) -> torch.Tensor:
    return fact_update(_fact_factors(X, alpha, M, kernel, options, weights, batch_size))


def _fact_geom_step(X, alpha, M, kernel, options, generator, weights, batch_size) -> torch.Tensor:
    return fact_geom_update(_fact_factors(X, alpha, M, kernel, options, weights, batch_size), M)


# Each update as the RFM takes it (Algorithm 1's UPDATE, before normalisation), from the fitted predictor
# (X, alpha, M), its kernel, and the options it reads (power, centre, agop_max_samples, fact_scale; the
# estimator's parameters): a new update is one function and its entry here.
UPDATE_STEPS = {"nfa": _nfa_step, "fact": _fact_step, "fact_geom": _fact_geom_step}
UPDATES = tuple(UPDATE_STEPS)
