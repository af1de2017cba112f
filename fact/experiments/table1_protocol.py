"""The Table 1 protocol: choose hyperparameters on a validation split, report 4-fold test accuracy.

For one dataset and one method (after the RFM reference benchmark; docs/paper-settings.md):

1. On the dataset's train/validation split, fit the method for every ridge in ``regs`` and
   every row normalisation in ``normalise``, for RFM iterations 0..iters; keep the
   (ridge, normalisation, iteration) with the best validation accuracy. Ties go to the
   earliest in that order, as in the reference loop. Iteration 0 is plain kernel
   regression, so the method ``update: none`` (Laplace kernel regression) only has it.
2. On each of the four folds, fit kernel regression on the fold's training rows and score
   its test rows. The feature matrix M is either the one selected in step 1, learned on
   the validation split's training rows (``fold_features: validation``, what the reference
   code does; those rows may include a fold's test rows), or relearned on the fold's
   training rows with the selected iterations (``fold_features: refit``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from fact.experiments.data.protocol_splits import TabularDataset
from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.rfm import RFM
from fact.kernel_machines.ridge import NotPositiveDefiniteError, require_kernel_memory

log = logging.getLogger(__name__)

FOLD_FEATURES = ("validation", "refit")


@dataclass
class Selection:
    """The hyperparameters chosen on the validation split, and the feature matrix they gave."""

    reg: float
    normalise: bool
    iteration: int
    val_accuracy: float
    M: torch.Tensor


@dataclass(frozen=True)
class Protocol:
    """Settings shared by every method (see config.yaml, tabular)."""

    kernel: Kernel
    regs: tuple[float, ...]
    normalise: tuple[bool, ...]
    iters: int
    fold_features: str = "validation"
    dtype: str = "float32"
    device: str = "cpu"
    agop_max_samples: int | None = 20000
    low_memory: bool | str = "auto"  # RFM's choice: True forces the one-array path (see fact.kernel_machines.rfm.RFM)

    def __post_init__(self):
        if self.fold_features not in FOLD_FEATURES:
            raise ValueError(f"fold_features must be one of {list(FOLD_FEATURES)}, got {self.fold_features!r}")


def row_normalised(X: np.ndarray) -> np.ndarray:
    """Each row scaled to unit Euclidean norm; all-zero rows are left as they are."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def _model(protocol: Protocol, method: dict, reg: float, iters: int, seed: int, n_classes: int) -> RFM:
    options = {key: value for key, value in method.items() if key != "update"}
    update = method["update"]
    return RFM(
        kernel=protocol.kernel,
        reg=reg,
        update="nfa" if update == "none" else update,
        iters=0 if update == "none" else iters,
        task="classification",
        dtype=protocol.dtype,
        device=protocol.device,
        keep_matrices=True,
        agop_max_samples=protocol.agop_max_samples,
        random_state=seed,
        classes=np.arange(n_classes),
        low_memory=protocol.low_memory,
        **options,
    )


def select(dataset: TabularDataset, method: dict, protocol: Protocol, seed: int = 0) -> Selection:
    """Step 1: the best (ridge, normalisation, iteration) on the validation split."""
    train, validation = dataset.validation
    inputs = {normalise: row_normalised(dataset.X) if normalise else dataset.X for normalise in protocol.normalise}
    best = None
    for reg in protocol.regs:
        for normalise, X in inputs.items():
            try:
                model = _model(protocol, method, reg, protocol.iters, seed, dataset.n_classes).fit(
                    X[train], dataset.y[train], X[validation], dataset.y[validation]
                )
            except NotPositiveDefiniteError as error:  # only the in-place (large-n) solve raises it
                log.warning(
                    "%s: reg %g, normalise %s left out of the selection: %s", dataset.name, reg, normalise, error
                )
                continue
            scores = model.history_.query("split == 'val' and metric == 'accuracy'").set_index("iteration").value
            iteration = int(scores.idxmax())  # the first of equal maxima
            if best is None or scores[iteration] > best.val_accuracy:
                best = Selection(reg, normalise, iteration, float(scores[iteration]), model.M_history_[iteration])
    if best is None:
        raise NotPositiveDefiniteError(
            f"{dataset.name}: no ridge in {protocol.regs} gave a factorisable kernel "
            "matrix; add larger ridges or use dtype float64"
        )
    return best


def fold_accuracy(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    M: torch.Tensor,
    reg: float,
    protocol: Protocol,
    n_classes: int,
) -> tuple[float, str]:
    """Kernel regression with a fixed feature matrix M: test accuracy and the solver used."""
    model = RFM(
        kernel=protocol.kernel,
        reg=reg,
        iters=0,
        M_init=M,
        task="classification",
        classes=np.arange(n_classes),
        dtype=protocol.dtype,
        device=protocol.device,
        low_memory=protocol.low_memory,
    )
    model.fit(X_train, y_train)
    return model.score(X_test, y_test), model.solvers_[0]


def evaluate(
    dataset: TabularDataset, name: str, method: dict, protocol: Protocol, seed: int = 0, fold_cache: dict | None = None
) -> pd.DataFrame:
    """Steps 1 and 2 for one method: one row per fold.

    ``fold_cache`` (a dict shared across the methods of one dataset) reuses a fold's result
    when another method chose the same ridge, normalisation and feature matrix, as happens
    whenever two methods select iteration 0.
    """
    fold_cache = {} if fold_cache is None else fold_cache
    # the largest fit is a fold's (3/4 of the data): refuse now what would fail after the selection
    largest = max(len(train) for train, _ in [dataset.validation, *dataset.folds])
    require_kernel_memory(
        largest, getattr(torch, protocol.dtype), torch.device(protocol.device), f"{dataset.name}'s largest fit"
    )
    start = time.perf_counter()
    chosen = select(dataset, method, protocol, seed)
    log.info(
        "%s %s: reg %g, normalise %s, iteration %d, validation accuracy %.4f",
        dataset.name,
        name,
        chosen.reg,
        chosen.normalise,
        chosen.iteration,
        chosen.val_accuracy,
    )
    X = row_normalised(dataset.X) if chosen.normalise else dataset.X
    rows = []
    for fold, (train, test) in enumerate(dataset.folds):
        fold_start = time.perf_counter()
        M = chosen.M
        if protocol.fold_features == "refit" and chosen.iteration > 0:
            model = _model(protocol, method, chosen.reg, chosen.iteration, seed, dataset.n_classes)
            model.fit(X[train], dataset.y[train])
            M = model.M_history_[chosen.iteration]
        key = (chosen.reg, chosen.normalise, fold, hashlib.sha1(M.cpu().numpy().tobytes()).hexdigest())
        if key not in fold_cache:
            fold_cache[key] = fold_accuracy(
                X[train], dataset.y[train], X[test], dataset.y[test], M, chosen.reg, protocol, dataset.n_classes
            )
        accuracy, solver = fold_cache[key]
        rows.append(
            {
                "dataset": dataset.name,
                "method": name,
                "fold": fold,
                "reg": chosen.reg,
                "normalise": chosen.normalise,
                "iteration": chosen.iteration,
                "val_accuracy": chosen.val_accuracy,
                "accuracy": accuracy,
                "solver": f"{solver} ({protocol.device})",
                "fold_seconds": time.perf_counter() - fold_start,
            }
        )
    table = pd.DataFrame(rows)
    table["fit_seconds"] = time.perf_counter() - start
    log.info(
        "%s %s: 4-fold accuracy %.4f (%.1fs)", dataset.name, name, table.accuracy.mean(), table.fit_seconds.iloc[0]
    )
    return table
