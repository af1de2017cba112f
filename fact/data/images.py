"""Image classification data for the MLP experiments (Figures 2 and 8-10), as flat tensors.

Each loader returns an :class:`ImageData` with pixels scaled to [0, 1], flattened, and
integer labels. ``digits`` is scikit-learn's bundled 8 x 8 set (offline, the quick scale's
stand-in for MNIST; every caption says so), split at random with a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageData:
    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    note: str  # what the data is, for captions (e.g. a stand-in or an approximate copy)

    @property
    def d(self) -> int:
        return self.X_train.shape[1]


def digits(seed: int = 0, test_fraction: float = 0.2) -> ImageData:
    """scikit-learn's 1,797 8 x 8 digits, pixels / 16, a seeded random train/test split."""
    from sklearn.datasets import load_digits

    bundle = load_digits()
    X = torch.tensor(bundle.data / 16.0, dtype=torch.float32)
    y = torch.tensor(bundle.target, dtype=torch.int64)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * len(X))
    test, train = order[:n_test], order[n_test:]
    return ImageData("digits", X[train], y[train], X[test], y[test], 10,
                     note="scikit-learn digits (8x8), a stand-in for MNIST at quick scale")


LOADERS = {"digits": digits}


def load(name: str, seed: int = 0) -> ImageData:
    if name not in LOADERS:
        raise ValueError(f"unknown image dataset {name!r}: available here are {sorted(LOADERS)}")
    return LOADERS[name](seed)
