"""The updates of an RFM's feature matrix M (spec section 3).

* ``nfa``:       M = AGOP^s                        (Neural Feature Ansatz; s, centring, normalisation options)
* ``fact``:      M = (F F^T)^{1/2}                 (FACT-RFM, no geometric averaging)
* ``fact_geom``: M = (F M^2 F^T)^{1/4}             (FACT-RFM', geometric averaging with the current M)

F is the kernel FACT matrix of the current predictor (``fact.kernel_machines.kernel_matrices.kernel_fact``).
``UPDATE_STEPS`` gives each by name as the estimator takes it.
"""

from __future__ import annotations

import torch

from fact.features.linalg import gram_power, psd_sqrt_of_gram, sym_power
from fact.kernel_machines.kernel_matrices import kernel_agop, kernel_fact

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


def nfa_update(agop: torch.Tensor, power: float = 0.5) -> torch.Tensor:
    """M = AGOP^s."""
    return sym_power(agop, power)


def fact_update(F: torch.Tensor) -> torch.Tensor:
    """M = (F F^T)^{1/2}; its fixed points satisfy M = (FACT FACT^T)^{1/2} (Appendix E)."""
    return psd_sqrt_of_gram(F)


def fact_geom_update(F: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """M = (F M^2 F^T)^{1/4}, the geometric average of the FACT update with the current M."""
    return gram_power(F @ M, 0.25)


def _nfa_step(rfm, X, alpha, M, generator, weights, batch_size) -> torch.Tensor:
    agop = kernel_agop(
        X,
        alpha,
        M,
        rfm._kernel_,
        centre=rfm.centre,
        max_samples=rfm.agop_max_samples,
        generator=generator,
        batch_size=batch_size,
        weights=weights,
    )
    return nfa_update(agop, rfm.power)


def _fact_step(rfm, X, alpha, M, generator, weights, batch_size) -> torch.Tensor:
    return fact_update(
        kernel_fact(X, alpha, M, rfm._kernel_, scale=rfm.fact_scale, batch_size=batch_size, weights=weights)
    )


def _fact_geom_step(rfm, X, alpha, M, generator, weights, batch_size) -> torch.Tensor:
    F = kernel_fact(X, alpha, M, rfm._kernel_, scale=rfm.fact_scale, batch_size=batch_size, weights=weights)
    return fact_geom_update(F, M)


# Each update as the RFM takes it (Algorithm 1's UPDATE, before normalisation), from the fitted
# predictor (X, alpha, M) and the estimator's parameters: a new update is one function and its entry here.
UPDATE_STEPS = {"nfa": _nfa_step, "fact": _fact_step, "fact_geom": _fact_geom_step}
UPDATES = tuple(UPDATE_STEPS)
