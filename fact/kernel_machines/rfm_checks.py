"""What an RFM's parameters may be, checked before any work; each refusal names the parameter and
says what to give instead. Also the seed of its random draws, from scikit-learn's ``random_state``."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from fact.kernel_machines.kernel_matrices import fact_constant
from fact.kernel_machines.kernels import GAUSSIAN_CONVENTIONS, INNER_PRODUCT, KERNELS, Kernel
from fact.kernel_machines.updates import NORMALISATIONS, UPDATES

# What each parameter may be, in scikit-learn's declarative form: ``fit`` checks them all before any work
# (``BaseEstimator._validate_params``), and a refusal names the parameter and what it may be.
PARAMETER_CONSTRAINTS: dict[str, list] = {
    "kernel": [StrOptions(set(KERNELS)), Kernel],
    "bandwidth": [Interval(Real, 0, None, closed="neither"), None],
    "reg": [Interval(Real, 0, None, closed="left")],
    "update": [StrOptions(set(UPDATES))],
    "iters": [Interval(Integral, 0, None, closed="left")],
    "power": [Interval(Real, 0, None, closed="neither")],
    "centre": ["boolean"],
    "normalisation": [StrOptions({name for name in NORMALISATIONS if name}), None],
    "fact_scale": [StrOptions({"1/n", "1"}), Interval(Real, 0, None, closed="neither")],
    "gaussian_convention": [StrOptions(set(GAUSSIAN_CONVENTIONS)), None],
    "agop_max_samples": [Interval(Integral, 1, None, closed="left"), None],
    "task": [str],  # the estimator's own tasks: check_params
    "dtype": [StrOptions({"float64", "float32"})],
    "device": [str, torch.device],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
    "keep_matrices": ["boolean"],
    "classes": ["array-like", None],
    "M_init": ["array-like", None],
    "low_memory": ["boolean", StrOptions({"auto"})],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
}
DEFAULT_BANDWIDTH = 10.0  # of a radial kernel given by name without one


def check_params(rfm, tasks: tuple[str, ...]) -> None:
    """Every parameter of ``rfm`` that fit reads, refused before any work when it cannot be used: the declared
    constraints, then what they cannot say (a task of another estimator, a kernel's options that would be
    ignored)."""
    rfm._validate_params()
    for name in ("iters", "agop_max_samples", "batch_size"):  # scikit-learn counts True as the integer 1
        if isinstance(getattr(rfm, name), bool):
            raise ValueError(f"The {name!r} parameter of {type(rfm).__name__} must be an int, not {getattr(rfm, name)}")
    if rfm.task not in tasks:
        raise ValueError(f"task {rfm.task!r} is not one of {type(rfm).__name__}'s: use one of {list(tasks)}")
    given = [name for name in ("bandwidth", "gaussian_convention") if getattr(rfm, name) is not None]
    if isinstance(rfm.kernel, Kernel) and given:
        named = " and ".join(given)
        raise ValueError(
            f"kernel is a Kernel object, which brings its own bandwidth and gaussian_convention, so {named} would "
            f"be ignored: leave {named} unset, or give the kernel by name"
        )
    if rfm.kernel in INNER_PRODUCT and rfm.bandwidth is not None:
        raise ValueError(f"the {rfm.kernel} kernel has no bandwidth: leave bandwidth unset, or use a radial kernel")
    if rfm.gaussian_convention is not None and rfm.kernel != "gaussian":
        raise ValueError(f"gaussian_convention applies to the gaussian kernel only, not {rfm.kernel!r}: leave it unset")
    fact_constant(rfm.fact_scale, 1)  # a bad value is refused now, not after the first fit


def kernel_of(rfm) -> Kernel:
    """The kernel ``rfm``'s parameters describe: its Kernel object, or the named one with its options."""
    if isinstance(rfm.kernel, Kernel):
        return rfm.kernel
    bandwidth = DEFAULT_BANDWIDTH if rfm.bandwidth is None else rfm.bandwidth
    return Kernel(rfm.kernel, bandwidth, rfm.gaussian_convention or "2L^2")


def torch_seed(random_state) -> int:
    """The seed of the RFM's torch draws: an integer as it is (so a seed gives the draws it always
    gave), else one drawn from scikit-learn's ``check_random_state`` (None: NumPy's global state)."""
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
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
