"""The AGOP and the FACT matrix of a kernel machine f(x) = sum_j alpha_j K_M(x, x_j) (Lemma F.1).

These are what the RFM updates are made of (``fact.kernel_machines.updates``): the NFA update is a power of
the AGOP, the FACT updates are built from the kernel FACT matrix.
"""

from __future__ import annotations

import torch

from fact.kernel_machines.kernels import Kernel


def _kernel(kernel: str | Kernel, bandwidth: float | None, gaussian_convention: str = "2L^2") -> Kernel:
    if isinstance(kernel, Kernel):
        return kernel
    return Kernel(kernel, 1.0 if bandwidth is None else bandwidth, gaussian_convention)


def kernel_agop(
    X: torch.Tensor,
    alpha: torch.Tensor,
    M: torch.Tensor,
    kernel: str | Kernel = "laplace",
    bandwidth: float | None = None,
    *,
    centre: bool = False,
    max_samples: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
    gaussian_convention: str = "2L^2",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """AGOP = (1/n) sum_i grad f(x_i) grad f(x_i)^T of f(x) = sum_j alpha_j K_M(x, x_j) (d x d).

    ``X`` are the training points, which are also the centres; ``alpha`` the n x c dual
    coefficients. Gradients are taken in the first kernel argument and summed over the c
    outputs. ``centre`` subtracts the mean gradient over samples first (Mallinar et al.);
    ``max_samples`` estimates the AGOP on a random subset of the points (the reference
    tabular code uses 20,000), drawn with ``generator``. ``weights`` are the kernel's
    gradient weights between X and itself when already computed (``Kernel.weights``).
    """
    k = _kernel(kernel, bandwidth, gaussian_convention)
    agop = kernel_agop_parts(X, alpha, M, k, centre, max_samples, generator, batch_size, weights)
    if isinstance(agop, tuple):
        A, C = agop
        return A @ C @ A.T
    return agop


def kernel_agop_parts(
    X, alpha, M, kernel: Kernel, centre, max_samples, generator, batch_size, weights
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``kernel_agop``'s AGOP, or, where it has fewer points than the features times the outputs, its
    factors (A, C) with AGOP = A C A^T, A = M (X - shift)^T (d x n) and C (n x n): where n < d the NFA
    update then takes its power at rank n (``fact.features.linalg.factored_sym_power``)."""
    chosen = torch.arange(len(X), device=X.device)
    if max_samples is not None and len(X) > max_samples:
        chosen = torch.randperm(len(X), generator=generator)[:max_samples].to(X.device)
        weights = None if weights is None else weights[chosen]
    alpha = alpha.reshape(len(X), -1)
    if len(X) < X.shape[1] * alpha.shape[1]:
        # m n^2 operations instead of the m n d c of the gradients below: the modular tasks' case
        return _agop_factors(kernel, chosen, X, alpha, M, centre, batch_size, weights)
    G = kernel.predictor_gradients(X[chosen], X, alpha, M, batch_size, weights)  # (m, d, c)
    if centre:
        G = G - G.mean(dim=0, keepdim=True)
    G = G.permute(0, 2, 1).reshape(-1, G.shape[1])  # rows: one per (sample, output)
    return G.T @ G / len(chosen)


def _agop_factors(k: Kernel, chosen, X, alpha, M, centre, batch_size, weights) -> tuple[torch.Tensor, torch.Tensor]:
    """The AGOP as A C A^T without the gradients: grad f(q_i) = M D_i with D_i = Xs^T E_i, Xs the centred
    points and E_i (n x c) = e_{q_i} s_i^T - diag(w_i) alpha for a radial kernel (s_i = sum_j w_ij alpha_j,
    q_i the query's own row), diag(w_i) alpha for an inner product (Proposition 5.1's form); so
    AGOP = M Xs^T C Xs M^T with C = (1/m) sum_i E_i E_i^T, an n x n matrix whose largest part is
    (W^T W) o (alpha alpha^T).

    A radial kernel does not see a common shift of all points, so the data are centred first:
    the expansion's terms then stay of the size of the gradients they sum to.
    """
    Xs = X - X.mean(dim=0) if k.radial else X
    n = len(X)
    gram = X.new_zeros(n, n)
    C = X.new_zeros(n, n)  # the queries' own rows: sum_i |s_i|^2 e e^T - e (w_i o alpha s_i)^T - its transpose
    column_sums = X.new_zeros(n)  # sum_i w_ij
    own = X.new_zeros(n, alpha.shape[1])  # sum_i e_{q_i} s_i^T, for centring
    for start, w in k.weight_blocks(X[chosen], X, M, batch_size, weights):
        gram += w.T @ w
        column_sums += w.sum(dim=0)
        if k.radial:
            rows = chosen[start : start + len(w)]
            S = w @ alpha
            cross = w * (S @ alpha.T)
            C.index_add_(0, rows, -cross)
            C.index_add_(1, rows, -cross.T)
            C.index_put_((rows, rows), (S * S).sum(dim=1), accumulate=True)
            own.index_add_(0, rows, S)
    C = (C + gram * (alpha @ alpha.T)) / len(chosen)
    if centre:
        weighted = column_sums[:, None] * alpha
        mean = ((own - weighted) if k.radial else weighted) / len(chosen)  # sum_i E_i / m: mean gradient M Xs^T mean
        C = C - mean @ mean.T
    return M @ Xs.T, C


def kernel_fact(
    X: torch.Tensor,
    alpha: torch.Tensor,
    M: torch.Tensor,
    kernel: str | Kernel = "laplace",
    bandwidth: float | None = None,
    *,
    scale: str | float = "1/n",
    batch_size: int | None = None,
    gaussian_convention: str = "2L^2",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The kernel FACT matrix of Lemma F.1, c_n sum_i grad f(x_i) alpha_i x_i^T (d x d, not symmetric).

    It is the FACT matrix -(1/(n lambda)) sum_i grad_{x_i} loss_i x_i^T of the ridge objective
    with squared loss, rewritten with alpha_i = -(f(x_i) - y_i) / lambda (Lemma F.2), so it
    needs no ridge and also holds ridgeless. ``scale`` is c_n (its choice: docs/paper-settings.md): ``"1/n"``
    (default: the literal 1/(n lambda) of the theorem), ``"1"`` (the consistent objective
    sum loss + (lambda/2)(||beta||^2 + ||W||^2)), or a number.
    """
    U, V = kernel_fact_factors(X, alpha, M, _kernel(kernel, bandwidth, gaussian_convention), scale, batch_size, weights)
    return U @ V.T


def kernel_fact_factors(X, alpha, M, kernel: Kernel, scale, batch_size, weights) -> tuple[torch.Tensor, torch.Tensor]:
    """``kernel_fact``'s F as U V^T (U, V: d x n), F = c_n (rows grad f(x_i) alpha_i)^T X: of rank n at most,
    which the FACT updates use where n < d (``fact.features.linalg.product_gram_power``)."""
    c_n = fact_constant(scale, len(X))
    alpha = alpha.reshape(len(X), -1)
    return c_n * _gradients_times_alpha(kernel, X, alpha, M, batch_size, weights).T, X.T


def _gradients_times_alpha(k: Kernel, X, alpha, M, batch_size, weights) -> torch.Tensor:
    """Rows grad f(x_i) alpha_i (n x d) without the n x d x c gradients: for a radial kernel
    grad f(x_i) alpha_i = M sum_j w_ij (alpha_i . alpha_j) (x_i - x_j), for an inner-product one
    M sum_j w_ij (alpha_i . alpha_j) x_j, so one n x n matrix B = W o (alpha alpha^T) times X."""
    rows = []
    for start, w in k.weight_blocks(X, X, M, batch_size, weights):
        B = w * (alpha[start : start + len(w)] @ alpha.T)
        R = B @ X
        if k.radial:
            R = X[start : start + len(w)] * B.sum(dim=1, keepdim=True) - R
        rows.append(R @ M.T)
    return torch.cat(rows)


def fact_constant(scale: str | float, n: int) -> float:
    """The constant c_n of the kernel FACT matrix for n points; a bad ``scale`` names the choices."""
    if scale == "1/n":
        return 1.0 / n
    if scale == "1":
        return 1.0
    if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0:
        return float(scale)
    raise ValueError(f"fact_scale must be '1/n', '1' or a positive number, got {scale!r}")
