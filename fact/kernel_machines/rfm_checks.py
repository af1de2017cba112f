"""What an RFM's parameters may be, checked before any work; each refusal names the parameter and
says what to give instead. Also the seed of its random draws, from scikit-learn's ``random_state``."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state

from fact.features.real_number import real_number
from fact.kernel_machines.kernel_matrices import fact_constant
from fact.kernel_machines.updates import NORMALISATIONS, UPDATES


def is_integer(value) -> bool:
    """Whether ``value`` is an integer (a bool is not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_params(rfm, tasks: tuple[str, ...]) -> None:
    """Every parameter of ``rfm`` that fit reads, refused before any work when it cannot be used."""
    if rfm.update not in UPDATES:
        raise ValueError(f"unknown update {rfm.update!r}: use one of {list(UPDATES)}")
    if rfm.normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {rfm.normalisation!r}: use one of {list(NORMALISATIONS)}")
    if rfm.task not in tasks:
        raise ValueError(f"task {rfm.task!r} is not one of {type(rfm).__name__}'s: use one of {list(tasks)}")
    if rfm.dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {rfm.dtype!r}")
    if not (is_integer(rfm.iters) and rfm.iters >= 0):
        raise ValueError(f"iters must be an integer >= 0, got {rfm.iters!r}")
    real_number(rfm.reg, "reg")
    if isinstance(rfm.kernel, str):  # a Kernel object brings its own bandwidth, checked where it was made
        real_number(rfm.bandwidth, "bandwidth", positive=True)
    if rfm.agop_max_samples is not None and not (is_integer(rfm.agop_max_samples) and rfm.agop_max_samples >= 1):
        raise ValueError(
            f"agop_max_samples must be a positive integer (the points the AGOP is estimated on), or "
            f"None for all of them; got {rfm.agop_max_samples!r}"
        )
    if rfm.validation_fraction is not None and not 0 < rfm.validation_fraction < 1:
        raise ValueError(
            f"validation_fraction must be None or strictly between 0 and 1, got {rfm.validation_fraction!r}"
        )
    if rfm.low_memory not in (True, False, "auto"):
        raise ValueError(f"low_memory must be True, False or 'auto', got {rfm.low_memory!r}")
    fact_constant(rfm.fact_scale, 1)  # a bad value is refused now, not after the first fit
    torch_seed(rfm.random_state)


def torch_seed(random_state) -> int:
    """The seed of the RFM's torch draws: an integer as it is (so a seed gives the draws it always
    gave), else one drawn from scikit-learn's ``check_random_state`` (None: NumPy's global state)."""
    if is_integer(random_state):
        return int(random_state)
    try:
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    except ValueError:
        raise ValueError(
            f"random_state must be None, an integer or a numpy.random.RandomState, got {random_state!r}"
        ) from None


def check_feature_matrix(M: torch.Tensor, name: str = "M_init") -> torch.Tensor:
    """``M`` if it is a symmetric positive semi-definite matrix (up to rounding), else a ValueError:
    the Mahalanobis distance ||x - z||_M needs one."""
    # rounding of a matrix computed in M's precision (an eigendecomposition's, say) is let through
    tolerance = 100 * len(M) * torch.finfo(M.dtype).eps * float(M.abs().max())
    if not torch.allclose(M, M.T, rtol=0, atol=tolerance):
        raise ValueError(f"{name} must be symmetric (a feature matrix M = W^T W); give (M + M.T) / 2 if that is meant")
    smallest = float(torch.linalg.eigvalsh(M)[0])
    if smallest < -tolerance:
        raise ValueError(
            f"{name} must be positive semi-definite (a feature matrix M = W^T W), but its smallest "
            f"eigenvalue is {smallest:.3g}; give W.T @ W for some W, or the identity"
        )
    return M
