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
    points = X
    if max_samples is not None and len(X) > max_samples:
        chosen = torch.randperm(len(X), generator=generator)[:max_samples].to(X.device)
        points = X[chosen]
        weights = None if weights is None else weights[chosen]
    alpha = alpha.reshape(len(X), -1)
    if len(X) < X.shape[1] * alpha.shape[1]:
        # m n^2 operations instead of the m n d c of the gradients below: the modular tasks' case
        return _agop_from_gram(k, points, X, alpha, M, centre, batch_size, weights)
    G = k.predictor_gradients(points, X, alpha, M, batch_size, weights)  # (m, d, c)
    if centre:
        G = G - G.mean(dim=0, keepdim=True)
    G = G.permute(0, 2, 1).reshape(-1, G.shape[1])  # rows: one per (sample, output)
    return G.T @ G / len(points)


def _agop_from_gram(k: Kernel, queries, X, alpha, M, centre, batch_size, weights) -> torch.Tensor:
    """The AGOP without the gradients: grad f(q_i) = M D_i, D_i = sum_j w_ij (q_i - x_j) alpha_j^T
    (radial; x_j alpha_j^T for inner products), and sum_i D_i D_i^T expands into n x n products,
    X^T ((W^T W) o (alpha alpha^T)) X the largest (Proposition 5.1's form for inner products).

    A radial kernel does not see a common shift of all points, so the data are centred first:
    the expansion's terms then stay of the size of the gradients they sum to.
    """
    shift = X.mean(dim=0) if k.radial else torch.zeros_like(X[0])
    Q_all, Xs = queries - shift, X - shift
    n, d = X.shape
    gram = X.new_zeros(n, n)
    sums = X.new_zeros(d, d)  # sum_i (|s_i|^2 q_i q_i^T - q_i (P X)_i^T - its transpose)
    column_sums = X.new_zeros(n)  # sum_i w_ij
    mean = X.new_zeros(d, alpha.shape[1])  # sum_i D_i, for centring
    for start, w in k.weight_blocks(queries, X, M, batch_size, weights):
        gram += w.T @ w
        column_sums += w.sum(dim=0)
        if k.radial:
            Q = Q_all[start : start + len(w)]
            S = w @ alpha  # s_i = sum_j w_ij alpha_j
            cross = Q.T @ (w * (S @ alpha.T)) @ Xs
            sums += (Q * (S * S).sum(dim=1, keepdim=True)).T @ Q - cross - cross.T
            mean += Q.T @ S
    sums += Xs.T @ (gram * (alpha @ alpha.T)) @ Xs
    weighted_centres = Xs.T @ (column_sums[:, None] * alpha)
    mean = (mean - weighted_centres if k.radial else weighted_centres) / len(queries)
    inner = sums / len(queries) - (mean @ mean.T if centre else 0)
    return M @ inner @ M.T


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
    needs no ridge and also holds ridgeless. ``scale`` is c_n (spec ambiguity A1): ``"1/n"``
    (default: the literal 1/(n lambda) of the theorem), ``"1"`` (the consistent objective
    sum loss + (lambda/2)(||beta||^2 + ||W||^2)), or a number.
    """
    k = _kernel(kernel, bandwidth, gaussian_convention)
    c_n = fact_constant(scale, len(X))
    alpha = alpha.reshape(len(X), -1)
    return c_n * _gradients_times_alpha(k, X, alpha, M, batch_size, weights).T @ X


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
