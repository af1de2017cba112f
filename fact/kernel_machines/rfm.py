"""Recursive Feature Machines with NFA and FACT updates (spec section 3): the estimator.

An RFM alternates a kernel ridge regression with the Mahalanobis kernel K_M and an update
of the feature matrix M (Algorithm 1):

    M_0 = I;  for t = 0..T-1:  alpha_t = (K_{M_t}(X, X) + reg I)^{-1} Y;  M_{t+1} = UPDATE(f_t, M_t)

The updates are in ``fact.kernel_machines.updates``, the matrices they are built from in
``fact.kernel_machines.kernel_matrices``, the ridge solve and its memory policy in ``fact.kernel_machines.ridge``.
Iteration 0 is plain kernel ridge regression (M = I).
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d, validate_data

from fact.kernel_machines.kernel_matrices import kernel_agop, kernel_fact
from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.ridge import free_memory, require_kernel_memory, solve_ridge
from fact.kernel_machines.rfm_checks import check_feature_matrix, check_params, torch_seed
from fact.kernel_machines.updates import fact_geom_update, fact_update, nfa_update, normalise

log = logging.getLogger(__name__)

TASKS = ("auto", "classification", "binary", "regression")


class RFM(BaseEstimator):
    """Recursive Feature Machine with an NFA or FACT update, following scikit-learn's conventions.

    Parameters
    ----------
    kernel : "laplace", "gaussian", "quadratic" or "exp_inner" (see fact.kernel_machines.kernels), or a ``Kernel``
        (which then brings its own bandwidth and convention).
    bandwidth : L of the radial kernels.
    reg : ridge added to the kernel matrix; 0 for ridgeless.
    update : "nfa", "fact" or "fact_geom".
    iters : number of feature updates T; iterations 0..T are fitted and scored.
    power : NFA power s (M = AGOP^s).
    centre : centre the gradients across samples before the AGOP (NFA).
    normalisation : None, "max" or "trace": rescaling of M after each update.
    fact_scale : c_n of the kernel FACT matrix ("1/n", "1" or a number).
    gaussian_convention : "2L^2" or "L" (see fact.kernel_machines.kernels).
    agop_max_samples : estimate the AGOP on at most this many points (None: all).
    task : "auto", "classification" (one-hot targets, argmax), "binary" (two labels as one
        scalar 0/1 target, threshold 0.5) or "regression". "auto" picks classification for
        1-D integer or string labels, else regression.
    dtype : "float64" or "float32". device : "cpu", "cuda" or "auto".
    batch_size : points per batch in gradient computations (None: all at once).
    random_state : seed of the AGOP subsample.
    keep_matrices : keep every iterate's M in ``M_history_``.
    classes : every label of the task (default: those in y). Give it when a training split
        may miss a rare class that validation data or later predictions contain.
    M_init : the feature matrix of iteration 0 (default: the identity). With ``iters=0`` the
        model is kernel regression with this fixed M.
    validation_fraction : when ``fit`` gets no validation data, hold out this fraction of the
        training points (stratified by class where every class has two points or more, drawn
        with ``random_state``) to choose the iteration, and fit on the rest. None (default):
        without validation data the last iteration is kept.
    low_memory : True keeps one n x n array per iteration (the kernel matrix, factorised in
        place; outputs and gradients recomputed in row blocks), for n too large for the
        normal path's four; "auto" (default) chooses it when those four would not fit in
        80% of the device's free memory.

    Attributes
    ----------
    M_ : the feature matrix of the selected iteration; ``alpha_`` its dual coefficients.
    history_ : DataFrame with columns iteration, split, metric, value.
    best_iteration_ : the iteration used for prediction: the best validation accuracy
        (classification, binary) or MSE (regression) with validation data, else the last.
    M_history_ : list of the M of every iteration (with keep_matrices).

    Memory: normally four n x n arrays (pairwise statistic, kernel matrix, its Cholesky factor,
    gradient weights) plus the n x d x c products x_j alpha_j^T; with ``low_memory`` one n x n
    array plus row blocks of 2^26 kernel entries. Predictions take row blocks of that size.
    """

    _TASKS = TASKS

    @staticmethod
    def _auto_task(labels: np.ndarray) -> str:
        """task="auto": classification for 1-D integer or string labels, else regression."""
        categorical = labels.ndim == 1 and not np.issubdtype(labels.dtype, np.floating)
        return "classification" if categorical else "regression"

    def __init__(self, *, kernel: str | Kernel = "laplace", bandwidth: float = 10.0, reg: float = 1e-3, update: str = "nfa",
                 iters: int = 5, power: float = 0.5, centre: bool = False, normalisation: str | None = None,
                 fact_scale: str | float = "1/n", gaussian_convention: str = "2L^2",
                 agop_max_samples: int | None = None, task: str = "auto", dtype: str = "float64",
                 device: str = "cpu", batch_size: int | None = None, random_state: int = 0,
                 keep_matrices: bool = False, classes=None, M_init=None, low_memory: bool | str = "auto",
                 validation_fraction: float | None = None):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.reg = reg
        self.update = update
        self.iters = iters
        self.power = power
        self.centre = centre
        self.normalisation = normalisation
        self.fact_scale = fact_scale
        self.gaussian_convention = gaussian_convention
        self.agop_max_samples = agop_max_samples
        self.task = task
        self.dtype = dtype
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state
        self.keep_matrices = keep_matrices
        self.classes = classes
        self.M_init = M_init
        self.low_memory = low_memory
        self.validation_fraction = validation_fraction

    # ------------------------------------------------------------------ helpers
    def _torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} was asked for, but no CUDA GPU is visible; "
                             "use device='cpu', or 'auto' to take a GPU when there is one")
        return torch.device(self.device)

    def _tensor(self, values, what: str) -> torch.Tensor:
        if getattr(values, "is_sparse", False) or hasattr(values, "toarray"):  # torch or scipy sparse
            raise TypeError(f"{what} is a sparse matrix; the RFM needs a dense array (its kernel matrix is dense "
                            f"anyway): pass {what}.toarray()")
        if not isinstance(values, torch.Tensor):
            array = np.asarray(values)
            if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
                raise ValueError(f"{what} has dtype {array.dtype}; the RFM needs numbers: encode categorical columns "
                                 "and convert with .astype(float)")
            values = array
        if values.dtype.is_complex if isinstance(values, torch.Tensor) else np.iscomplexobj(values):
            raise ValueError(f"{what} is complex; the RFM needs real numbers (split real and imaginary parts into "
                             "features of their own)")
        if isinstance(values, np.ndarray) and not values.flags.writeable:  # a read-only memmap, say: torch
            values = values.copy()                                          # wants arrays it may write to
        tensor = torch.as_tensor(values).to(device=self._device_, dtype=self._dtype_)
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{what} contain NaN or infinite values; clean or impute them first")
        return tensor

    def _features(self, X, what: str = "X", fitting: bool = False) -> torch.Tensor:
        """Validated features as a tensor. Array-likes go through scikit-learn's own checks (2-D, real,
        dense, numeric, finite, non-empty; the number of features against fit's), with its messages;
        tensors (which may live on a GPU) through the same checks written for them."""
        if not isinstance(X, torch.Tensor):
            # validation data is checked as predict checks X: its columns' names and order included
            try:
                X = validate_data(self, X, reset=fitting, dtype=[np.float64, np.float32],
                                  ensure_min_samples=2 if fitting else 1)
            except ValueError as error:
                if "could not convert" in str(error):
                    raise ValueError(f"{what} holds values that are not numbers ({error}); encode categorical "
                                     "columns as numbers first") from error
                if what == "X":
                    raise
                message = str(error)
                raise ValueError(what + message[1:] if message.startswith("X ") else f"{what}: {message}") from None
        X = self._tensor(X, what)
        if X.ndim != 2:
            raise ValueError(f"{what} must be a 2-D array (samples x features), got shape {tuple(X.shape)}")
        if X.shape[1] == 0 or len(X) == 0:
            raise ValueError(f"{what} is empty (shape {tuple(X.shape)}); give at least one sample and one feature")
        if fitting and len(X) < 2:
            raise ValueError(f"{what} has 1 sample; a kernel machine needs at least 2 to fit")
        if not fitting and X.shape[1] != self.n_features_in_:
            raise ValueError(f"{what} has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return X

    def _targets(self, y, n: int, what: str = "y") -> torch.Tensor:
        y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
        if len(y) != n:
            raise ValueError(f"{what} has {len(y)} rows but the inputs have {n}")
        if self._task_ == "regression":
            return self._tensor(y.reshape(n, -1), what)
        y = column_or_1d(y, warn=True)  # labels as a column, NumPy's or torch's: warns, then flattens
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if len(unknown):
            raise ValueError(f"{what} contains labels {unknown[:5].tolist()} not seen in training")
        index = torch.as_tensor(np.searchsorted(self.classes_, y))
        if self._task_ == "binary":
            return index.reshape(n, 1).to(self._device_, self._dtype_)
        return torch.nn.functional.one_hot(index, len(self.classes_)).to(self._device_, self._dtype_)

    def _metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        metrics = {"mse": float(((outputs - targets) ** 2).sum(dim=1).mean())}
        if self._task_ != "regression":
            metrics["accuracy"] = float((self._label_index(outputs) == self._label_index(targets)).double().mean())
        return metrics

    def _label_index(self, outputs: torch.Tensor) -> torch.Tensor:
        if self._task_ == "binary":
            return (outputs[:, 0] > 0.5).long()
        return outputs.argmax(1)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X, y, X_val=None, y_val=None) -> "RFM":
        """Fit iterations 0..iters and keep the best one (on validation data when given).

        A fit that fails (bad input, a failed solve) leaves the estimator as it was before.
        """
        before = dict(self.__dict__)
        try:
            return self._fit(X, y, X_val, y_val)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X, y, X_val, y_val) -> "RFM":
        check_params(self, self._TASKS)
        self._device_ = self._torch_device()
        self._dtype_ = torch.float64 if self.dtype == "float64" else torch.float32
        self._kernel_ = (self.kernel if isinstance(self.kernel, Kernel) else
                         Kernel(self.kernel, self.bandwidth, self.gaussian_convention))
        X = self._features(X, fitting=True)
        labels = self._read_labels(y)
        Y = self._targets(labels, len(X))
        self.n_features_in_ = X.shape[1]
        validation = None
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        if X_val is not None:
            X_val = self._features(X_val, "X_val")
            validation = (X_val, self._targets(y_val, len(X_val), "y_val"))
        elif self.validation_fraction is not None:
            kept, held_out = self._hold_out(labels)
            validation = (X[held_out], Y[held_out])
            X, Y = X[kept], Y[kept]

        generator = torch.Generator().manual_seed(torch_seed(self.random_state))
        M = self._initial_matrix(X.shape[1])
        self._warn_if_constant(X, M)
        require_kernel_memory(len(X), self._dtype_, self._device_)
        self.low_memory_ = self._needs_low_memory(len(X))
        records, iterates, self.solvers_ = [], [], []
        for iteration in range(int(self.iters) + 1):
            start = time.perf_counter()
            if self.low_memory_:
                # one n x n array at a time: the kernel matrix becomes its own Cholesky factor,
                # and outputs and gradients are recomputed in row blocks
                K = self._kernel_.values(self._kernel_.pair_statistic(X, X, M), in_place=True)
                alpha, solver = solve_ridge(K, Y, self.reg, overwrite=True)
                del K
                train_outputs, weights = self._outputs(X, X, M, alpha), None
            else:
                statistic = self._kernel_.pair_statistic(X, X, M)
                K = self._kernel_.values(statistic)
                alpha, solver = solve_ridge(K, Y, self.reg)
                # the gradient weights reuse this iteration's pairwise statistic and kernel values
                train_outputs, weights = K @ alpha, self._kernel_.weights(statistic, K)
                del statistic, K
            if not torch.isfinite(alpha).all():
                raise FloatingPointError(f"iteration {iteration}: the ridge solve gave non-finite coefficients; "
                                         "raise reg, lower the bandwidth's influence, or use dtype='float64'")
            scores = {"train": self._metrics(train_outputs, Y)}
            if validation is not None:
                scores["val"] = self._metrics(self._outputs(validation[0], X, M, alpha), validation[1])
            for split, metrics in scores.items():
                records += [{"iteration": iteration, "split": split, "metric": name, "value": value}
                            for name, value in metrics.items()]
            iterates.append((M, alpha))
            self.solvers_.append(solver)
            if iteration < self.iters:
                M = self._updated(X, alpha, M, generator, weights)
            del weights
            log.info("iteration %d (%s, %.2fs): %s", iteration, solver, time.perf_counter() - start,
                     ", ".join(f"{s} {m}={v:.4g}" for s, ms in scores.items() for m, v in ms.items()))

        self.history_ = pd.DataFrame.from_records(records, columns=["iteration", "split", "metric", "value"])
        self.best_iteration_ = self._select(validation is not None)
        self.M_, self.alpha_ = iterates[self.best_iteration_]
        self.M_history_ = [m for m, _ in iterates] if self.keep_matrices else []
        self.X_fit_ = X
        return self

    def _read_labels(self, y) -> np.ndarray:
        """The training targets as a NumPy array, checked as scikit-learn checks them (torch's as NumPy's);
        sets the task and, for classification, the classes."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        labels = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
        self._task_ = self.task if self.task != "auto" else self._auto_task(labels)
        if self._task_ == "regression":
            type_of_target(labels, input_name="y", raise_unknown=True)  # strings: "Unknown label type"
            return labels
        labels = column_or_1d(labels, warn=True)  # a column vector of labels: warns, then flattens
        check_classification_targets(labels)  # continuous or infinite labels are refused
        self.classes_ = np.unique(labels if self.classes is None else np.asarray(self.classes))
        unknown = np.setdiff1d(np.unique(labels), self.classes_)
        if len(unknown):
            raise ValueError(f"y contains labels {unknown[:5].tolist()} that are not in classes")
        if self._task_ == "binary" and len(self.classes_) != 2:
            raise ValueError(f"task='binary' needs exactly two labels, got {len(self.classes_)}")
        return labels

    def _hold_out(self, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows kept for fitting and rows held out to choose the iteration (``validation_fraction``)."""
        rows = np.arange(len(labels))
        stratify = None
        if self._task_ != "regression":
            _, counts = np.unique(labels, return_counts=True)
            stratify = labels if counts.min() >= 2 else None
        kept, held_out = train_test_split(rows, test_size=self.validation_fraction, stratify=stratify,
                                          random_state=self.random_state)
        if len(kept) < 2:
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves {len(kept)} point(s) to fit on; "
                             "lower it or pass X_val and y_val")
        return torch.as_tensor(np.sort(kept)), torch.as_tensor(np.sort(held_out))

    def _updated(self, X, alpha, M, generator, weights) -> torch.Tensor:
        batch_size = self._block_rows(len(X)) if self.low_memory_ else self.batch_size
        if self.update == "nfa":
            agop = kernel_agop(X, alpha, M, self._kernel_, centre=self.centre, max_samples=self.agop_max_samples,
                               generator=generator, batch_size=batch_size, weights=weights)
            new = nfa_update(agop, self.power)
        else:
            F = kernel_fact(X, alpha, M, self._kernel_, scale=self.fact_scale, batch_size=batch_size,
                            weights=weights)
            new = fact_update(F) if self.update == "fact" else fact_geom_update(F, M)
        if not torch.isfinite(new).all() or not new.abs().max() > 0:
            what = "zero" if torch.isfinite(new).all() else "non-finite"
            raise FloatingPointError(f"the {self.update} update produced a {what} feature matrix: "
                                     f"{self._failed_update_advice(X, M, what)}")
        return normalise(new, self.normalisation)

    def _failed_update_advice(self, X: torch.Tensor, M: torch.Tensor, what: str) -> str:
        """What to change when an update gives no usable M: the bandwidth when the kernel vanishes between
        the points (no gradient reaches any other point), reg when it swamps the kernel matrix (the
        coefficients vanish), else the update's own scale."""
        K = self._sample_kernel(X, M)
        off_diagonal = K.masked_fill(torch.eye(len(K), dtype=torch.bool, device=K.device), 0).abs().max()
        scale = float(K.abs().max())
        if self._kernel_.radial and len(K) > 1 and float(off_diagonal) <= 1e-12 * scale:
            return (f"the {self._kernel_.name} kernel is 0 between every two training points, so bandwidth "
                    f"{self._kernel_.bandwidth:g} is far below their distances: raise the bandwidth, or standardise "
                    "the features")
        if self.reg > 1e3 * scale:
            return (f"reg = {self.reg:g} swamps the kernel matrix (entries at most {scale:.3g}), so the coefficients "
                    "and the gradients vanish: lower reg")
        if what == "non-finite":
            return "raise reg, use dtype='float64', or try normalisation='trace'"
        if self.update == "nfa":
            return "try normalisation='max' or 'trace', or a smaller iters"
        return "try normalisation='trace', a smaller iters, or another fact_scale"

    def _select(self, with_validation: bool) -> int:
        if not with_validation:
            return self.iters
        metric, better = ("mse", "min") if self._task_ == "regression" else ("accuracy", "max")
        scores = self.history_[(self.history_.split == "val") & (self.history_.metric == metric)]
        scores = scores.set_index("iteration").value
        # ties go to the earliest iteration: the least feature learning that does as well
        return int(scores.idxmax() if better == "max" else scores.idxmin())

    def _sample_kernel(self, X: torch.Tensor, M: torch.Tensor, sample: int = 256) -> torch.Tensor:
        """The kernel matrix of the first ``sample`` training points: enough to see its scale and spread."""
        return self._kernel_.values(self._kernel_.pair_statistic(X[:sample], X[:sample], M))

    def _warn_if_constant(self, X: torch.Tensor, M: torch.Tensor) -> None:
        """Warn when the kernel barely varies between the training points (a far too wide bandwidth):
        the machine then cannot tell points apart, fits at chance, and its gradients, so M, vanish."""
        if not self._kernel_.radial:
            return
        K = self._sample_kernel(X, M)
        spread, size = float(K.max() - K.min()), float(K.abs().max())
        if spread <= 1e-4 * size:
            message = (f"the {self._kernel_.name} kernel is nearly constant on the training points (values within "
                       f"{spread:.2g} of each other): bandwidth {self._kernel_.bandwidth:g} is too large for their distances; "
                       "lower it, or standardise the features")
            log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=4)  # at the caller of fit

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict:
        """Tensors are pickled on the CPU, so that a model fitted on a GPU loads where there is none."""
        return _on_device(super().__getstate__(), torch.device("cpu"))

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        device = self.__dict__.get("_device_")
        if device is not None and device.type == "cuda":
            if not torch.cuda.is_available():
                warnings.warn(f"this RFM was fitted on {device}, and no CUDA GPU is visible: it predicts on the CPU",
                              RuntimeWarning, stacklevel=2)
                device = torch.device("cpu")
            self.__dict__.update(_on_device(self.__dict__, device))
            self._device_ = device

    def _check_fitted(self) -> None:
        if not hasattr(self, "alpha_"):
            raise NotFittedError("this RFM is not fitted yet: call fit(X, y) first")

    @available_if(lambda self: not is_regressor(self))  # scikit-learn's regressors have none
    def decision_function(self, X) -> np.ndarray:
        """The kernel machine's outputs f(x) (n x c) with the selected M and alpha, as a NumPy array."""
        return self._decision(X).cpu().numpy()

    def _decision(self, X) -> torch.Tensor:
        self._check_fitted()
        return self._outputs(self._features(X), self.X_fit_, self.M_, self.alpha_)

    # ------------------------------------------------------------------ memory
    BLOCK_ELEMENTS = 2**26  # kernel entries per row block: 256 MiB in float32

    def _block_rows(self, n_centres: int) -> int:
        return max(1, self.BLOCK_ELEMENTS // max(n_centres, 1))

    def _outputs(self, queries: torch.Tensor, centres: torch.Tensor, M: torch.Tensor, alpha: torch.Tensor):
        """f(queries) = K_M(queries, centres) alpha, computed in row blocks of bounded memory."""
        step = self._block_rows(len(centres))
        return torch.cat([self._kernel_.values(self._kernel_.pair_statistic(queries[i:i + step], centres, M),
                                               in_place=True) @ alpha
                          for i in range(0, len(queries), step)])

    def _needs_low_memory(self, n: int) -> bool:
        """Whether the n x n arrays of a normal iteration (about four) would not fit in free memory."""
        if self.low_memory != "auto":
            return bool(self.low_memory)
        return 4 * n * n * torch.finfo(self._dtype_).bits // 8 > 0.8 * free_memory(self._device_)

    def _initial_matrix(self, d: int) -> torch.Tensor:
        if self.M_init is None:
            return torch.eye(d, dtype=self._dtype_, device=self._device_)
        M = self._tensor(self.M_init, "M_init")
        if M.shape != (d, d):
            raise ValueError(f"M_init must be {d} x {d} for {d} features, got {tuple(M.shape)}")
        return check_feature_matrix(M)

    def predict(self, X):
        """Class labels (classification) or predicted values (regression), as a NumPy array."""
        outputs = self._decision(X)
        if self._task_ != "regression":
            return self.classes_[self._label_index(outputs).cpu().numpy()]
        values = outputs.cpu().numpy()
        return values[:, 0] if values.shape[1] == 1 else values

    def score(self, X, y) -> float:
        """Accuracy (classification) or R^2 (regression), as scikit-learn's estimators do."""
        predictions = self.predict(X)
        y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
        if self._task_ != "regression":
            return float((predictions == y).mean())
        y = y.reshape(predictions.shape)
        return float(1 - ((y - predictions) ** 2).sum() / ((y - y.mean(axis=0)) ** 2).sum())



class RFMClassifier(ClassifierMixin, RFM):
    """An RFM for class labels, recognised as a classifier by scikit-learn (stratified CV, accuracy score).

    Targets are one-hot and predictions the argmax; ``task="binary"`` fits two classes with one
    0/1 output instead. Parameters as ``RFM``; ``task`` is "auto" (= "classification") or "binary".
    """

    _TASKS = ("auto", "classification", "binary")

    @staticmethod
    def _auto_task(labels: np.ndarray) -> str:
        return "classification"

    def decision_function(self, X) -> np.ndarray:
        """Scores per class (n x classes); with two classes, as scikit-learn's classifiers do, one
        score per point (n,), positive for ``classes_[1]``."""
        scores = super().decision_function(X)
        if len(self.classes_) != 2:
            return scores
        return scores[:, 0] - 0.5 if self._task_ == "binary" else scores[:, 1] - scores[:, 0]


class RFMRegressor(RegressorMixin, RFM):
    """An RFM for real-valued targets (one or several outputs), recognised as a regressor by scikit-learn
    (R^2 score). Parameters as ``RFM``; ``task`` is "auto" (= "regression")."""

    _TASKS = ("auto", "regression")

    @staticmethod
    def _auto_task(labels: np.ndarray) -> str:
        return "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may have several columns: one output each
        return tags


def _on_device(value, device: torch.device):
    """``value`` with every tensor in it (in dicts, lists, tuples) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: _on_device(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_device(item, device) for item in value)
    return value
