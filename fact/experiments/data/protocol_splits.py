"""Tabular classification datasets with their protocol splits (Table 1).

A dataset carries one train/validation split for choosing hyperparameters and four
train/test folds for the reported accuracy, as the UCI-121 collection ships them
(``conxuntos.dat`` and ``conxuntos_kfold.dat``). :func:`load_sklearn` gives scikit-learn's
bundled sets the same shape, with seeded splits, so the protocol runs offline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "digits")


@dataclass
class TabularDataset:
    """Features X (n x d), integer labels y in 0..n_classes-1, and index arrays for the splits."""

    name: str
    X: np.ndarray
    y: np.ndarray
    n_classes: int
    validation: tuple[np.ndarray, np.ndarray]  # (train, validation) rows for hyperparameter selection
    folds: list[tuple[np.ndarray, np.ndarray]]  # four (train, test) pairs for the reported accuracy
    source: str

    def __post_init__(self):
        n = len(self.X)
        if self.X.ndim != 2 or len(self.y) != n:
            raise ValueError(f"{self.name}: X must be n x d and y have n labels, got {self.X.shape} and {self.y.shape}")
        if n and (self.y.min() < 0 or self.y.max() >= self.n_classes):
            raise ValueError(
                f"{self.name}: labels must lie in 0..{self.n_classes - 1}, got {self.y.min()}..{self.y.max()}"
            )
        for what, (train, other) in [("validation split", self.validation)] + [
            (f"fold {i}", f) for i, f in enumerate(self.folds)
        ]:
            for part in (train, other):
                if len(part) and (part.min() < 0 or part.max() >= n):
                    raise ValueError(f"{self.name}: the {what} indexes rows outside 0..{n - 1}")


def load_sklearn(name: str, seed: int = 0) -> TabularDataset:
    """A scikit-learn bundled dataset, standardised like the UCI-121 files, with seeded splits:
    a random half/half train/validation split and four random folds (each row tested once)."""
    from sklearn import datasets

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
    }
    if name not in loaders:
        raise ValueError(f"unknown scikit-learn dataset {name!r}: use one of {list(SKLEARN_DATASETS)}")
    bundle = loaders[name]()
    X = bundle.data.astype(np.float64)
    spread = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(spread > 0, spread, 1.0)  # constant pixels stay 0
    _, y = np.unique(bundle.target, return_inverse=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    half = len(X) // 2
    validation = (np.sort(order[:half]), np.sort(order[half:]))
    parts = np.array_split(rng.permutation(len(X)), 4)
    folds = [(np.sort(np.concatenate([p for j, p in enumerate(parts) if j != i])), np.sort(parts[i])) for i in range(4)]
    return TabularDataset(
        name,
        X,
        y.astype(np.int64),
        int(y.max()) + 1,
        validation,
        folds,
        source=f"scikit-learn load_{name}, split seed {seed}",
    )
