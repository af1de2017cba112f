"""An RFM's data checked on the way in: features, labels and targets as tensors, with errors that say
what to change, and the held-out part that chooses the iteration when no validation data is given.

Array-likes go through scikit-learn's own checks (2-D, real, dense, numeric, finite, non-empty; the
number of features against fit's), with its messages; tensors (which may live on a GPU) through the
same checks written for them.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d, validate_data

from fact.kernel_machines.rfm_checks import check_feature_matrix
from fact.kernel_machines.rfm_tasks import Task


def dense_tensor(values, what: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``values`` as a dense, real, finite tensor, or an error naming ``what`` and what to do."""
    if getattr(values, "is_sparse", False) or hasattr(values, "toarray"):  # torch or scipy sparse
        raise TypeError(
            f"{what} is a sparse matrix; the RFM needs a dense array (its kernel matrix is dense "
            f"anyway): pass {what}.toarray()"
        )
    if not isinstance(values, torch.Tensor):
        array = np.asarray(values)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ValueError(
                f"{what} has dtype {array.dtype}; the RFM needs numbers: encode categorical columns "
                "and convert with .astype(float)"
            )
        values = array
    if values.dtype.is_complex if isinstance(values, torch.Tensor) else np.iscomplexobj(values):
        raise ValueError(
            f"{what} is complex; the RFM needs real numbers (split real and imaginary parts into features of their own)"
        )
    if isinstance(values, np.ndarray) and not values.flags.writeable:  # a read-only memmap, say: torch
        values = values.copy()  # wants arrays it may write to
    tensor = torch.as_tensor(values).to(device=device, dtype=dtype)
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{what} contain NaN or infinite values; clean or impute them first")
    return tensor


def features(rfm, X, what: str = "X", fitting: bool = False) -> torch.Tensor:
    """Validated features of ``rfm`` (fit's, or checked against fit's number of features) as a tensor."""
    if not isinstance(X, torch.Tensor):
        X = _sklearn_checked(rfm, X, what, fitting)
    X = dense_tensor(X, what, rfm._device_, rfm._dtype_)
    if X.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (samples x features), got shape {tuple(X.shape)}")
    if X.shape[1] == 0 or len(X) == 0:
        raise ValueError(f"{what} is empty (shape {tuple(X.shape)}); give at least one sample and one feature")
    if fitting and len(X) < 2:
        raise ValueError(f"{what} has 1 sample; a kernel machine needs at least 2 to fit")
    if not fitting and X.shape[1] != rfm.n_features_in_:
        raise ValueError(
            f"{what} has {X.shape[1]} features, but {type(rfm).__name__} is expecting "
            f"{rfm.n_features_in_} features as input"
        )
    return X


def _sklearn_checked(rfm, X, what: str, fitting: bool) -> np.ndarray:
    """scikit-learn's checks of an array-like; validation data is checked as predict checks X, its
    columns' names and order included, and its errors name it."""
    try:
        return validate_data(
            rfm, X, reset=fitting, dtype=[np.float64, np.float32], ensure_min_samples=2 if fitting else 1
        )
    except ValueError as error:
        if "could not convert" in str(error):
            raise ValueError(
                f"{what} holds values that are not numbers ({error}); encode categorical columns as numbers first"
            ) from error
        if what == "X":
            raise
        message = str(error)
        raise ValueError(what + message[1:] if message.startswith("X ") else f"{what}: {message}") from None


def as_numpy(y) -> np.ndarray:
    """Targets as a NumPy array (a tensor from any device)."""
    return np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)


def read_labels(y, task: Task, classes=None) -> tuple[np.ndarray, np.ndarray | None]:
    """The training targets as a NumPy array, checked as scikit-learn checks them (torch's as NumPy's),
    and, for class labels, every class (``classes``, or those in y)."""
    labels = as_numpy(y)
    if not task.categorical:
        type_of_target(labels, input_name="y", raise_unknown=True)  # strings: "Unknown label type"
        return labels, None
    labels = column_or_1d(labels, warn=True)  # a column vector of labels: warns, then flattens
    check_classification_targets(labels)  # continuous or infinite labels are refused
    every_class = np.unique(labels if classes is None else np.asarray(classes))
    unknown = np.setdiff1d(np.unique(labels), every_class)
    if len(unknown):
        raise ValueError(f"y contains labels {unknown[:5].tolist()} that are not in classes")
    if task.name == "binary" and len(every_class) != 2:
        raise ValueError(f"task='binary' needs exactly two labels, got {len(every_class)}")
    return labels, every_class


def targets(rfm, y, n: int, what: str = "y") -> torch.Tensor:
    """The regression targets of labels or values ``y`` for ``n`` points, on the RFM's device."""
    y = as_numpy(y)
    if len(y) != n:
        raise ValueError(f"{what} has {len(y)} rows but the inputs have {n}")
    if not rfm._task_.categorical:
        return dense_tensor(y.reshape(n, -1), what, rfm._device_, rfm._dtype_)
    y = column_or_1d(y, warn=True)  # labels as a column, NumPy's or torch's: warns, then flattens
    unknown = np.setdiff1d(np.unique(y), rfm.classes_)
    if len(unknown):
        raise ValueError(f"{what} contains labels {unknown[:5].tolist()} not seen in training")
    index = torch.as_tensor(np.searchsorted(rfm.classes_, y))
    return rfm._task_.targets(index, len(rfm.classes_)).to(rfm._device_, rfm._dtype_)


def hold_out(labels: np.ndarray, task: Task, fraction: float, random_state) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows kept for fitting and rows held out to choose the iteration (``validation_fraction``),
    stratified by class where every class has two points or more."""
    rows = np.arange(len(labels))
    stratify = None
    if task.categorical:
        _, counts = np.unique(labels, return_counts=True)
        stratify = labels if counts.min() >= 2 else None
    kept, held_out = train_test_split(rows, test_size=fraction, stratify=stratify, random_state=random_state)
    if len(kept) < 2:
        raise ValueError(
            f"validation_fraction={fraction} leaves {len(kept)} point(s) to fit on; lower it or pass X_val and y_val"
        )
    return torch.as_tensor(np.sort(kept)), torch.as_tensor(np.sort(held_out))


def scored_pair(rfm, X, y, split: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The features and targets of data given to ``fit`` to be scored (``split`` "val" or "test"), or None;
    both or neither of X_<split> and y_<split> must be given."""
    if (X is None) != (y is None):
        raise ValueError(f"give both X_{split} and y_{split}, or neither")
    if X is None:
        return None
    X = features(rfm, X, f"X_{split}")
    return X, targets(rfm, y, len(X), f"y_{split}")


def initial_matrix(rfm, d: int) -> torch.Tensor:
    """The feature matrix of iteration 0: ``rfm.M_init`` checked, or the identity."""
    if rfm.M_init is None:
        return torch.eye(d, dtype=rfm._dtype_, device=rfm._device_)
    M = dense_tensor(rfm.M_init, "M_init", rfm._device_, rfm._dtype_)
    if M.shape != (d, d):
        raise ValueError(f"M_init must be {d} x {d} for {d} features, got {tuple(M.shape)}")
    return check_feature_matrix(M)
