"""What an RFM says when its kernel cannot tell the training points apart or an update gives no
usable feature matrix: which of its parameters to change, read from the kernel matrix itself."""

from __future__ import annotations

import logging
import warnings

import torch

from fact.kernel_machines.kernels import Kernel

log = logging.getLogger("fact.kernel_machines.rfm")


def sample_kernel(kernel: Kernel, X: torch.Tensor, M: torch.Tensor, sample: int = 256) -> torch.Tensor:
    """The kernel matrix of the first ``sample`` training points: enough to see its scale and spread."""
    return kernel.values(kernel.pair_statistic(X[:sample], X[:sample], M))


def warn_if_constant(kernel: Kernel, X: torch.Tensor, M: torch.Tensor) -> None:
    """Warn when the kernel barely varies between the training points (a far too wide bandwidth):
    the machine then cannot tell points apart, fits at chance, and its gradients, so M, vanish."""
    if not kernel.radial:
        return
    K = sample_kernel(kernel, X, M)
    spread, size = float(K.max() - K.min()), float(K.abs().max())
    if spread <= 1e-4 * size:
        message = (
            f"the {kernel.name} kernel is nearly constant on the training points (values within "
            f"{spread:.2g} of each other): bandwidth {kernel.bandwidth:g} is too large for their distances; "
            "lower it, or standardise the features"
        )
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)  # at the caller of fit (through _fit and fit)


def failed_update_advice(kernel: Kernel, X: torch.Tensor, M: torch.Tensor, reg: float, update: str, what: str) -> str:
    """What to change when an update gives no usable M: the bandwidth when the kernel vanishes between
    the points (no gradient reaches any other point), reg when it swamps the kernel matrix (the
    coefficients vanish), else the update's own scale."""
    K = sample_kernel(kernel, X, M)
    off_diagonal = K.masked_fill(torch.eye(len(K), dtype=torch.bool, device=K.device), 0).abs().max()
    scale = float(K.abs().max())
    if kernel.radial and len(K) > 1 and float(off_diagonal) <= 1e-12 * scale:
        return (
            f"the {kernel.name} kernel is 0 between every two training points, so bandwidth "
            f"{kernel.bandwidth:g} is far below their distances: raise the bandwidth, or standardise "
            "the features"
        )
    if reg > 1e3 * scale:
        return (
            f"reg = {reg:g} swamps the kernel matrix (entries at most {scale:.3g}), so the coefficients "
            "and the gradients vanish: lower reg"
        )
    if what == "non-finite":
        return "raise reg, use dtype='float64', or try normalisation='trace'"
    if update == "nfa":
        return "try normalisation='max' or 'trace', or a smaller iters"
    return "try normalisation='trace', a smaller iters, or another fact_scale"
