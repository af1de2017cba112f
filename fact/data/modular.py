"""Modular arithmetic tasks for grokking (Figures 5 and 6)."""

from __future__ import annotations

import torch


def modular_addition(p: int, train_fraction: float, seed: int, dtype=torch.float64):
    """All pairs (a, b) in Z_p^2 as x = e_a ⊕ e_b in R^{2p}, label (a + b) mod p, randomly split.

    Returns (X_train, y_train, X_test, y_test) with integer labels in 0..p-1; the split puts
    round(train_fraction * p^2) pairs, drawn with ``seed``, in the training set.
    """
    if p < 2:
        raise ValueError(f"the modulus p must be at least 2, got {p}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    X = torch.cat([torch.nn.functional.one_hot(a, p), torch.nn.functional.one_hot(b, p)], dim=1).to(dtype)
    y = (a + b) % p
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = round(train_fraction * p * p)
    train, test = order[:n_train], order[n_train:]
    return X[train], y[train], X[test], y[test]
