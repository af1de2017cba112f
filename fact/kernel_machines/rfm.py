"""Recursive Feature Machines with NFA and FACT updates: the estimator.

An RFM alternates a kernel ridge regression with the Mahalanobis kernel K_M and an update
of the feature matrix M (Algorithm 1):

    M_0 = I;  for t = 0..T-1:  alpha_t = (K_{M_t}(X, X) + reg I)^{-1} Y;  M_{t+1} = UPDATE(f_t, M_t)

Iteration 0 is plain kernel ridge regression (M = I). Beside this module: the updates
(``updates``, looked up by name), the matrices they are built from (``kernel_matrices``), the
ridge solve and its memory policy (``ridge``), the checks of the parameters (``rfm_checks``) and of
the data (``rfm_inputs``), the task (``rfm_tasks``: class labels, two labels, or real values), the
advice on a failed fit (``rfm_advice``) and the device (``devices``).
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.metaestimators import available_if

from fact.kernel_machines.devices import on_device, resolve_device
from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.rfm_advice import failed_update_advice, warn_if_constant
from fact.kernel_machines.rfm_checks import (
    PARAMETER_CONSTRAINTS,
    check_params,
    kernel_of,
    torch_seed,
)
from fact.kernel_machines.rfm_inputs import (
    as_numpy,
    features,
    hold_out,
    initial_matrix,
    read_labels,
    scored_pair,
    targets,
)
from fact.kernel_machines.rfm_tasks import TASKS, guessed_task
from fact.kernel_machines.ridge import (
    needs_low_memory,
    require_feature_matrix_memory,
    require_kernel_memory,
    solve_ridge,
)
from fact.kernel_machines.updates import UPDATE_STEPS, normalise

log = logging.getLogger(__name__)


class RFM(BaseEstimator):
    """Recursive Feature Machine with an NFA or FACT update, following scikit-learn's conventions.

    Parameters
    ----------
    kernel : "laplace", "gaussian", "quadratic" or "exp_inner" (see fact.kernel_machines.kernels), or a ``Kernel``
        (which brings its own bandwidth and convention: giving either beside it is refused).
    bandwidth : L of a radial kernel given by name (None: 10); an inner-product kernel has none.
    reg : ridge added to the kernel matrix; 0 for ridgeless.
    update : "nfa", "fact" or "fact_geom".
    iters : number of feature updates T; iterations 0..T are fitted and scored.
    power : NFA power s (M = AGOP^s).
    centre : centre the gradients across samples before the AGOP (NFA).
    normalisation : None, "max" or "trace": rescaling of M after each update.
    fact_scale : c_n of the kernel FACT matrix ("1/n", "1" or a number).
    gaussian_convention : "2L^2" or "L" for the gaussian kernel given by name (None: "2L^2"; see
        fact.kernel_machines.kernels).
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

    _parameter_constraints = PARAMETER_CONSTRAINTS
    _TASKS = ("auto", *TASKS)
    _AUTO_TASK: str | None = None  # what task="auto" means; None: guessed from the labels (rfm_tasks.guessed_task)

    def __init__(
        self,
        *,
        kernel: str | Kernel = "laplace",
        bandwidth: float | None = None,
        reg: float = 1e-3,
        update: str = "nfa",
        iters: int = 5,
        power: float = 0.5,
        centre: bool = False,
        normalisation: str | None = None,
        fact_scale: str | float = "1/n",
        gaussian_convention: str | None = None,
        agop_max_samples: int | None = None,
        task: str = "auto",
        dtype: str = "float64",
        device: str = "cpu",
        batch_size: int | None = None,
        random_state: int = 0,
        keep_matrices: bool = False,
        classes=None,
        M_init=None,
        low_memory: bool | str = "auto",
        validation_fraction: float | None = None,
    ):
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

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X, y, X_val=None, y_val=None, *, X_test=None, y_test=None) -> "RFM":
        """Fit iterations 0..iters and keep the best one (on validation data when given, else the last).

        Test data, when given, is scored at every iteration (split "test" of ``history_``) and chooses
        nothing. A fit that fails (bad input, a failed solve) leaves the estimator as it was before.
        """
        before = dict(self.__dict__)
        try:
            return self._fit(X, y, X_val, y_val, X_test, y_test)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X, y, X_val, y_val, X_test, y_test) -> "RFM":
        X, Y, validation = self._prepare(X, y, X_val, y_val)
        scored = {"val": validation, "test": scored_pair(self, X_test, y_test, "test")}
        generator = torch.Generator().manual_seed(torch_seed(self.random_state))
        require_feature_matrix_memory(X.shape[1], len(X), self._dtype_, self._device_)
        M = initial_matrix(self, X.shape[1])
        warn_if_constant(self._kernel_, X, M)
        require_kernel_memory(len(X), self._dtype_, self._device_)
        self.low_memory_ = needs_low_memory(self.low_memory, len(X), self._dtype_, self._device_)
        records, iterates, self.solvers_ = [], [], []
        for iteration in range(int(self.iters) + 1):
            start = time.perf_counter()
            alpha, solver, train_outputs, weights = self._solve(X, Y, M, iteration)
            scores = {"train": self._task_.metrics(train_outputs, Y)}
            for split, pair in scored.items():
                if pair is not None:
                    scores[split] = self._task_.metrics(self._outputs(pair[0], X, M, alpha), pair[1])
            records += [
                {"iteration": iteration, "split": split, "metric": name, "value": value}
                for split, metrics in scores.items()
                for name, value in metrics.items()
            ]
            iterates.append((M, alpha))
            self.solvers_.append(solver)
            if iteration < self.iters:
                M = self._updated(X, alpha, M, generator, weights)
            del weights
            log.info(
                "iteration %d (%s, %.2fs): %s",
                iteration,
                solver,
                time.perf_counter() - start,
                ", ".join(f"{s} {m}={v:.4g}" for s, ms in scores.items() for m, v in ms.items()),
            )
        self.history_ = pd.DataFrame.from_records(records, columns=["iteration", "split", "metric", "value"])
        self.best_iteration_ = self._select(validation is not None)
        self.M_, self.alpha_ = iterates[self.best_iteration_]
        self.M_history_ = [m for m, _ in iterates] if self.keep_matrices else []
        self.X_fit_ = X
        return self

    def _prepare(self, X, y, X_val, y_val):
        """Checked parameters and data: the training features and targets, and the validation pair
        (given, held out of the training data, or None)."""
        check_params(self, self._TASKS)
        self._device_ = resolve_device(self.device)
        self._dtype_ = torch.float64 if self.dtype == "float64" else torch.float32
        self._kernel_ = kernel_of(self)
        X = features(self, X, fitting=True)
        labels = self._read_labels(y)
        Y = targets(self, labels, len(X))
        self.n_features_in_ = X.shape[1]
        if X_val is not None or y_val is not None:
            return X, Y, scored_pair(self, X_val, y_val, "val")
        if self.validation_fraction is None:
            return X, Y, None
        kept, held_out = hold_out(labels, self._task_, self.validation_fraction, self.random_state)
        return X[kept], Y[kept], (X[held_out], Y[held_out])

    def _read_labels(self, y) -> np.ndarray:
        """The training labels or values; sets the task and, for class labels, the classes."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y = as_numpy(y)  # once: a tensor on a GPU is copied to the host here only
        name = self.task if self.task != "auto" else self._AUTO_TASK or guessed_task(y)
        self._task_ = TASKS[name]
        labels, classes = read_labels(y, self._task_, self.classes)
        if classes is not None:
            self.classes_ = classes
        return labels

    def _solve(self, X, Y, M, iteration: int):
        """One kernel ridge regression with K_M: alpha, the solver used, the training outputs, and the
        gradient weights for the update (None on the low-memory path, which recomputes them)."""
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
            raise FloatingPointError(
                f"iteration {iteration}: the ridge solve gave non-finite coefficients; "
                "raise reg, lower the bandwidth's influence, or use dtype='float64'"
            )
        return alpha, solver, train_outputs, weights

    def _updated(self, X, alpha, M, generator, weights) -> torch.Tensor:
        batch_size = self._block_rows(len(X)) if self.low_memory_ else self.batch_size
        new = UPDATE_STEPS[self.update](X, alpha, M, self._kernel_, self, generator, weights, batch_size)
        if not torch.isfinite(new).all() or not new.abs().max() > 0:
            what = "zero" if torch.isfinite(new).all() else "non-finite"
            advice = failed_update_advice(self._kernel_, X, M, self.reg, self.update, what)
            raise FloatingPointError(f"the {self.update} update produced a {what} feature matrix: {advice}")
        return normalise(new, self.normalisation)

    def _select(self, with_validation: bool) -> int:
        """The iteration kept: the best on the validation data, else the last."""
        if not with_validation:
            return self.iters
        scores = self.history_[(self.history_.split == "val") & (self.history_.metric == self._task_.selection)]
        return self._task_.best(scores.set_index("iteration").value)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict:
        """Tensors are pickled on the CPU, so that a model fitted on a GPU loads where there is none."""
        return on_device(super().__getstate__(), torch.device("cpu"))

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        device = self.__dict__.get("_device_")
        if device is not None and device.type == "cuda":
            if not torch.cuda.is_available():
                warnings.warn(
                    f"this RFM was fitted on {device}, and no CUDA GPU is visible: it predicts on the CPU",
                    RuntimeWarning,
                    stacklevel=2,
                )
                device = torch.device("cpu")
            self.__dict__.update(on_device(self.__dict__, device))
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
        return self._outputs(features(self, X), self.X_fit_, self.M_, self.alpha_)

    # ------------------------------------------------------------------ memory
    BLOCK_ELEMENTS = 2**26  # kernel entries per row block: 256 MiB in float32

    def _block_rows(self, n_centres: int) -> int:
        return max(1, self.BLOCK_ELEMENTS // max(n_centres, 1))

    def _outputs(self, queries: torch.Tensor, centres: torch.Tensor, M: torch.Tensor, alpha: torch.Tensor):
        """f(queries) = K_M(queries, centres) alpha, computed in row blocks of bounded memory."""
        step = self._block_rows(len(centres))
        return torch.cat(
            [
                self._kernel_.values(self._kernel_.pair_statistic(queries[i : i + step], centres, M), in_place=True)
                @ alpha
                for i in range(0, len(queries), step)
            ]
        )

    def predict(self, X):
        """Class labels (classification) or predicted values (regression), as a NumPy array."""
        outputs = self._decision(X)
        if self._task_.categorical:
            return self.classes_[self._task_.label_index(outputs).cpu().numpy()]
        values = outputs.cpu().numpy()
        return values[:, 0] if values.shape[1] == 1 else values

    def score(self, X, y) -> float:
        """Accuracy (classification) or R^2 (regression), as scikit-learn's estimators do."""
        predictions = self.predict(X)
        y = as_numpy(y)
        if self._task_.categorical:
            return float((predictions == y).mean())
        y = y.reshape(predictions.shape)
        return float(1 - ((y - predictions) ** 2).sum() / ((y - y.mean(axis=0)) ** 2).sum())
