"""Sparse parity tasks (Figures 3 and 4)."""

from __future__ import annotations

import torch


def sparse_parity(n: int, d: int, k: int, seed: int, n_test: int = 0, dtype=torch.float64):
    """Sparse parity: x ~ Unif({-1, +1}^d), y = 1 if prod_{j in S} x_j > 0 else 0.

    The support S (k distinct coordinates) and the samples are drawn from ``seed``.
    Returns (X_train, y_train, X_test, y_test, support) with integer labels in {0, 1}.
    """
    if not 1 <= k <= d:
        raise ValueError(f"the parity support size k must lie in 1..d={d}, got {k}")
    generator = torch.Generator().manual_seed(seed)
    support = torch.randperm(d, generator=generator)[:k].sort().values
    X = torch.randint(0, 2, (n + n_test, d), generator=generator).to(dtype) * 2 - 1
    y = (X[:, support].prod(dim=1) > 0).long()
    return X[:n], y[:n], X[n:], y[n:], support
