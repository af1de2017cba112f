"""Modular arithmetic tasks for grokking (Figures 5 and 6, and the transformer of Figure 12)."""

from __future__ import annotations

import torch


def modular_addition(p: int, train_fraction: float, seed: int, dtype=torch.float64):
    """All pairs (a, b) in Z_p^2 as x = e_a ⊕ e_b in R^{2p}, label (a + b) mod p, randomly split.

    Returns (X_train, y_train, X_test, y_test) with integer labels in 0..p-1; the split puts
    round(train_fraction * p^2) pairs, drawn with ``seed``, in the training set.
    """
    tokens, y_train, test_tokens, y_test = modular_addition_tokens(p, train_fraction, seed)

    def one_hot(pairs: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(pairs, p).reshape(len(pairs), 2 * p).to(dtype)

    return one_hot(tokens), y_train, one_hot(test_tokens), y_test


def modular_addition_tokens(p: int, train_fraction: float, seed: int):
    """All pairs (a, b) in Z_p^2 as token sequences [a, b], label (a + b) mod p, randomly split.

    The same split as ``modular_addition`` for the same seed: (X_train, y_train, X_test, y_test)
    with X of shape (pairs, 2), integer tokens and labels in 0..p-1.
    """
    if p < 2:
        raise ValueError(f"the modulus p must be at least 2, got {p}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    pairs = torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)
    y = pairs.sum(1) % p
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = round(train_fraction * p * p)
    train, test = order[:n_train], order[n_train:]
    return pairs[train], y[train], pairs[test], y[test]
