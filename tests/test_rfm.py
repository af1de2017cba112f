"""fact.kernel_machines.rfm: the estimator, its tasks, paths and checks."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_score, train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.rfm import RFM
from fact.kernel_machines.sklearn_estimators import RFMClassifier, RFMRegressor
from tests.support.kernels import ridge_fit

# ---------------------------------------------------------------- the estimator


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    X = data.data / 16.0
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, val, test = order[:900], order[900:1200], order[1200:]
    return (X[train], data.target[train]), (X[val], data.target[val]), (X[test], data.target[test])


@pytest.mark.parametrize("update", ["nfa", "fact", "fact_geom"])
def test_rfm_classifies_digits_far_above_chance(digits, update):
    (X, y), (X_val, y_val), (X_test, y_test) = digits
    model = RFM(kernel="laplace", bandwidth=10.0, reg=1e-3, update=update, iters=2).fit(X, y, X_val, y_val)
    assert model.score(X_test, y_test) > 0.9  # chance is 0.1
    assert set(model.history_.columns) == {"iteration", "split", "metric", "value"}
    assert sorted(model.history_.iteration.unique()) == [0, 1, 2]
    val_accuracy = model.history_.query("split == 'val' and metric == 'accuracy'").set_index("iteration").value
    assert model.best_iteration_ == val_accuracy.idxmax()


def test_rfm_follows_scikit_learn_conventions(digits):
    (X, y), _, _ = digits
    model = RFM(kernel="gaussian", bandwidth=3.0, update="fact_geom", iters=1, dtype="float32")
    assert model.fit(X[:200], y[:200]) is model
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "M_")
    twin.set_params(iters=0)
    twin.fit(X[:200], y[:200])
    assert torch.equal(twin.M_, torch.eye(64, dtype=torch.float32))
    assert model.M_.dtype == torch.float32
    assert model.predict(X[:5]).dtype == y.dtype


def test_rfm_regression_and_ridgeless(fresh_seed):
    g = np.random.default_rng(fresh_seed)
    X = g.normal(size=(120, 6))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    model = RFM(kernel="laplace", bandwidth=3.0, reg=0.0, update="nfa", iters=2).fit(X[:100], y[:100])
    assert model.score(X[:100], y[:100]) > 0.999  # ridgeless interpolates
    assert model.predict(X[100:]).shape == (20,)
    assert "accuracy" not in set(model.history_.metric)


@pytest.mark.parametrize(
    "update, options", [("nfa", {"power": 1.0, "agop_max_samples": 50}), ("fact", {}), ("fact_geom", {})]
)
def test_low_memory_path_gives_the_same_fit(update, options, fresh_seed, monkeypatch):
    g = np.random.default_rng(fresh_seed)
    X, y = g.normal(size=(90, 5)), g.integers(0, 3, size=90)
    monkeypatch.setattr(RFM, "BLOCK_ELEMENTS", 7 * 60)  # row blocks of 7 against 60 centres: several blocks
    fits = [
        RFM(
            kernel="laplace",
            bandwidth=4.0,
            reg=1e-3,
            update=update,
            iters=2,
            keep_matrices=True,
            low_memory=low,
            **options,
        ).fit(X[:60], y[:60], X[60:], y[60:])
        for low in (False, True)
    ]
    normal, low = fits
    assert low.low_memory_ and not normal.low_memory_
    assert low.solvers_ == ["cholesky (in place)"] * 3 and normal.solvers_ == ["cholesky"] * 3
    for a, b in zip(normal.M_history_, low.M_history_):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12), f"seed={fresh_seed}"
    assert np.allclose(normal.history_.value, low.history_.value, rtol=1e-9, atol=1e-12)
    assert np.allclose(normal.decision_function(X[60:]), low.decision_function(X[60:]), rtol=1e-9, atol=1e-12)


def test_the_low_memory_path_is_chosen_when_four_kernel_matrices_would_not_fit(monkeypatch):
    X, y = np.random.default_rng(0).normal(size=(100, 3)), np.arange(100) % 2
    monkeypatch.setattr(
        "fact.kernel_machines.ridge.free_memory", lambda device: 4 * 100 * 100 * 8
    )  # exactly four float64 copies
    assert RFM(iters=0, dtype="float64").fit(X, y).low_memory_  # beyond 80% of free memory
    assert not RFM(iters=0, dtype="float32").fit(X, y).low_memory_
    assert not RFM(iters=0, dtype="float64", low_memory=False).fit(X, y).low_memory_


FIT_MEMORY = """
import resource, numpy as np
from fact.kernel_machines.rfm import RFM
g = np.random.default_rng(0)
RFM.BLOCK_ELEMENTS = 2**16  # row blocks far smaller than n x n, as for a large dataset
RFM(update="fact", iters=1, low_memory=True).fit(g.normal(size=(300, 20)), g.normal(size=300))  # warm-up
n = 4000
X, y = g.normal(size=(n, 20)), g.normal(size=n)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
RFM(update="fact", iters=2, low_memory=True).fit(X, y)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / (n * n * 8))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in KiB on Linux only")
def test_a_low_memory_fit_holds_one_kernel_matrix_at_a_time():
    """The whole low-memory fit (kernel, in-place solve, blockwise outputs and FACT gradients)
    peaks near one n x n array; a normal fit holds about three. A few tens of MB of allocator
    and BLAS buffers come on top, hence the margin."""
    result = subprocess.run([sys.executable, "-c", FIT_MEMORY], capture_output=True, text=True, check=True)
    assert float(result.stdout) < 1.6, result.stdout


def test_a_given_initial_matrix_makes_iteration_zero_kernel_regression_with_it(fresh_seed):
    g = np.random.default_rng(fresh_seed)
    X, y = g.normal(size=(50, 4)), g.normal(size=50)
    M = torch.as_tensor(np.diag([3.0, 0.5, 0.0, 1.0]))
    model = RFM(kernel="gaussian", bandwidth=2.0, reg=0.1, iters=0, M_init=M).fit(X, y)
    kernel = Kernel("gaussian", 2.0)
    X_t = torch.as_tensor(X)
    alpha = ridge_fit(kernel, X_t, torch.as_tensor(y)[:, None], M, 0.1)
    assert torch.allclose(model.alpha_, alpha, rtol=1e-9, atol=1e-12), f"seed={fresh_seed}"
    assert torch.equal(model.M_, M)
    with pytest.raises(ValueError, match="M_init must be 4 x 4"):
        RFM(M_init=torch.eye(3)).fit(X, y)


def test_rfm_binary_task_uses_one_scalar_target():
    g = np.random.default_rng(1)
    X = g.choice([-1.0, 1.0], size=(300, 8))
    y = np.where(X[:, 0] * X[:, 1] > 0, "even", "odd")
    model = RFM(kernel="gaussian", bandwidth=3.0, task="binary", update="fact_geom", iters=3).fit(X[:200], y[:200])
    assert model.alpha_.shape == (200, 1)
    assert set(model.predict(X[200:])) <= {"even", "odd"}
    assert model.score(X[200:], y[200:]) > 0.9
    with pytest.raises(ValueError, match="exactly two labels"):
        RFM(task="binary").fit(X[:10], np.arange(10))


def test_rfm_bad_input_is_named():
    X = np.random.default_rng(0).normal(size=(10, 3))
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="y has 9 rows but the inputs have 10"):
        RFM().fit(X, y[:9])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        RFM().fit(bad, y)
    model = RFM(iters=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but RFM is expecting 3 features as input"):
        model.predict(np.zeros((2, 4)))
    with pytest.raises(NotFittedError, match="not fitted"):
        RFM().predict(X)


@pytest.mark.parametrize(
    "inputs, error, message",
    [
        (np.zeros((0, 3)), ValueError, r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\)"),
        (np.zeros((5, 0)), ValueError, r"Found array with 0 feature\(s\)"),
        (np.zeros((1, 3)), ValueError, r"1 sample\(s\) \(shape=\(1, 3\)\) while a minimum of 2 is required"),
        (
            np.array([["a", 1.0, 2.0]] * 4, dtype=object),
            ValueError,
            "X holds values that are not numbers.*encode categorical",
        ),
        (np.ones((4, 3)) * (1 + 1j), ValueError, "Complex data not supported"),
        (scipy.sparse.csr_matrix(np.eye(4, 3)), TypeError, r"dense data is required. Use '\.toarray\(\)'"),
        (torch.eye(4, 3).to_sparse(), TypeError, "X is a sparse matrix"),
        (torch.zeros(1, 3), ValueError, "X has 1 sample; a kernel machine needs at least 2"),
        (torch.zeros(4, 3, dtype=torch.complex64), ValueError, "X is complex"),
    ],
)
def test_inputs_it_cannot_use_are_refused_with_what_to_do(inputs, error, message):
    y = np.arange(inputs.shape[0]) % 2
    with pytest.raises(error, match=message):
        RFM(iters=1).fit(inputs, y)


def test_numpy_integers_are_integers():
    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    model = RFM(iters=np.int64(2)).fit(X, y)
    assert model.history_.iteration.max() == 2 and clone(model).iters == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message shown where there is no GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="no CUDA GPU is visible; use device='cpu'"):
        RFM(device="cuda").fit(np.eye(4, 3), np.arange(4) % 2)


def test_a_failed_refit_leaves_the_fitted_model_as_it_was():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 3
    model = RFM(iters=1).fit(X, y)
    before = dict(vars(model))
    predictions = model.predict(X)
    # other labels and a validation set of the wrong width: fails after the labels were read
    with pytest.raises(ValueError, match="X_val has 4 features"):
        model.fit(X, np.arange(30) % 2 + 5, np.zeros((3, 4)), np.array([5, 6, 5]))
    assert list(model.classes_) == [0, 1, 2] and vars(model).keys() == before.keys()
    assert all(vars(model)[key] is value for key, value in before.items())
    assert (model.predict(X) == predictions).all()


def test_a_bandwidth_that_makes_the_kernel_constant_warns():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    with pytest.warns(RuntimeWarning, match=r"kernel is nearly constant.*bandwidth 1e\+08 is too large"):
        RFM(bandwidth=1e8, iters=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RFM(bandwidth=10.0, iters=1).fit(X, y)  # an ordinary bandwidth: no warning


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_rfm_on_cuda_matches_cpu(digits):
    (X, y), (X_val, y_val), _ = digits
    on_cpu = RFM(update="fact_geom", iters=2).fit(X[:300], y[:300], X_val, y_val)
    on_gpu = RFM(update="fact_geom", iters=2, device="cuda").fit(X[:300], y[:300], X_val, y_val)
    assert on_gpu.M_.is_cuda
    assert torch.allclose(on_gpu.M_.cpu(), on_cpu.M_, rtol=1e-8, atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_low_memory_path_on_cuda_matches_the_normal_one(digits):
    (X, y), (X_val, y_val), _ = digits
    fits = [
        RFM(update="nfa", iters=2, device="cuda", dtype="float32", low_memory=low).fit(X[:600], y[:600], X_val, y_val)
        for low in (False, True)
    ]
    assert fits[1].solvers_[0] == "cholesky (in place)"
    assert torch.allclose(fits[0].M_, fits[1].M_, rtol=1e-3, atol=1e-5)


def test_a_fit_whose_kernel_matrix_cannot_fit_is_refused_before_any_work(monkeypatch):
    X, y = np.random.default_rng(0).normal(size=(100, 3)), np.arange(100) % 2
    monkeypatch.setattr(
        "fact.kernel_machines.ridge.free_memory", lambda device: 100 * 100 * 8 // 2
    )  # half of one float64 matrix
    monkeypatch.setattr("fact.kernel_machines.rfm.solve_ridge", lambda *a, **k: pytest.fail("the fit started"))
    with pytest.raises(MemoryError, match=r"100 x 100 kernel matrix.*device with more memory.*float32"):
        RFM(iters=1, dtype="float64").fit(X, y)


# ---------------------------------------------------------------- scikit-learn conventions


@parametrize_with_checks([RFM(iters=1), RFMClassifier(iters=1), RFMRegressor(iters=1)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)  # every check passes: none is listed as an expected failure


def test_classifier_and_regressor_are_recognised_and_cross_validated():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    assert is_classifier(RFMClassifier()) and is_regressor(RFMRegressor()) and not is_classifier(RFM())
    folds = check_cv(3, y, classifier=is_classifier(RFMClassifier()))
    assert isinstance(folds, StratifiedKFold)  # what cross_val_score uses for a classifier
    scores = cross_val_score(RFMClassifier(iters=1, update="fact_geom"), X, y, cv=3)
    assert scores.min() > 0.9
    X_r = np.random.default_rng(0).normal(size=(120, 3))
    y_r = np.sin(X_r[:, 0]) + X_r[:, 1] ** 2
    assert cross_val_score(RFMRegressor(iters=1, kernel="gaussian", bandwidth=2.0), X_r, y_r, cv=3).min() > 0.5


def test_two_classes_give_one_decision_score_per_point():
    X, y = np.random.default_rng(4).normal(size=(40, 3)), np.array(["no", "yes"] * 20)
    for task in ("classification", "binary"):
        model = RFMClassifier(task=task, iters=1).fit(X, y)
        scores = model.decision_function(X)
        assert scores.shape == (40,)
        assert np.array_equal(np.where(scores > 0, "yes", "no"), model.predict(X)), task
    with pytest.raises(ValueError, match="task 'regression' is not one of RFMClassifier's"):
        RFMClassifier(task="regression").fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        RFMClassifier().fit(X, np.linspace(0, 1, 40))


def test_parameters_are_keyword_only_and_a_kernel_object_is_accepted():
    with pytest.raises(TypeError):
        RFM("laplace")
    X, y = np.random.default_rng(0).normal(size=(30, 3)), np.arange(30) % 2
    by_name = RFM(kernel="gaussian", bandwidth=2.0, iters=1).fit(X, y)
    by_object = RFM(kernel=Kernel("gaussian", 2.0), iters=1).fit(X, y)
    assert np.array_equal(by_name.decision_function(X), by_object.decision_function(X))
    assert isinstance(by_name.decision_function(X), np.ndarray) and isinstance(by_name.predict(X), np.ndarray)


def test_a_fitted_model_pickles_and_loads_with_joblib(tmp_path):
    X, y = np.random.default_rng(1).normal(size=(40, 3)), np.arange(40) % 3
    model = RFM(iters=2, keep_matrices=True).fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.decision_function(X), model.decision_function(X))
    assert loaded.best_iteration_ == model.best_iteration_ and len(loaded.M_history_) == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests loading where no GPU is visible")
def test_a_model_fitted_on_a_gpu_loads_on_a_machine_without_one():
    X, y = np.random.default_rng(2).normal(size=(40, 3)), np.arange(40) % 2
    model = RFM(iters=1).fit(X, y)
    model._device_ = torch.device("cuda")  # as pickled from a GPU fit: its tensors travel on the CPU anyway
    with pytest.warns(RuntimeWarning, match="fitted on cuda, and no CUDA GPU is visible"):
        loaded = pickle.loads(pickle.dumps(model))
    assert loaded._device_.type == "cpu" and loaded.M_.device.type == "cpu"
    assert np.array_equal(loaded.predict(X), RFM(iters=1).fit(X, y).predict(X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_a_cuda_fit_pickles_to_the_cpu_and_back(tmp_path):
    X, y = np.random.default_rng(3).normal(size=(60, 3)), np.arange(60) % 2
    model = RFM(iters=1, device="cuda").fit(X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    script = (
        "import pickle, sys, numpy as np\nm = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(m.M_.device.type)\nnp.save(sys.argv[2], m.decision_function(np.load(sys.argv[3])))"
    )
    np.save(tmp_path / "X.npy", X)
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script, str(path), str(tmp_path / "out.npy"), str(tmp_path / "X.npy")],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "cpu"
    assert np.allclose(np.load(tmp_path / "out.npy"), model.decision_function(X), atol=1e-10)
    assert pickle.loads(path.read_bytes()).M_.is_cuda  # where a GPU is visible it goes back to it


def test_fit_alone_holds_out_a_validation_fraction_to_choose_the_iteration():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16, y[:400]
    model = RFMClassifier(update="fact_geom", iters=3, validation_fraction=0.25, random_state=5).fit(X, y)
    assert set(model.history_.split) == {"train", "val"} and len(model.X_fit_) == 300
    # the same as giving that split by hand
    kept, held_out = train_test_split(np.arange(400), test_size=0.25, stratify=y, random_state=5)
    kept, held_out = np.sort(kept), np.sort(held_out)
    by_hand = RFMClassifier(update="fact_geom", iters=3).fit(X[kept], y[kept], X[held_out], y[held_out])
    assert model.best_iteration_ == by_hand.best_iteration_
    assert np.allclose(model.decision_function(X), by_hand.decision_function(X))
    assert RFMClassifier(iters=3).fit(X, y).best_iteration_ == 3  # without validation data: the last
    with pytest.raises(
        ValueError,
        match=re.escape("The 'validation_fraction' parameter of RFMClassifier must be a float in the range (0.0, 1.0)"),
    ):
        RFMClassifier(validation_fraction=1.5).fit(X, y)


# ---------------------------------------------------------------- bad parameters and input, named


def _two_classes(n: int = 60, d: int = 4):
    X = np.random.default_rng(0).normal(size=(n, d))
    return X, (X[:, 0] > 0).astype(int)


def test_validation_data_is_checked_as_predict_checks_x():
    import pandas as pd

    X, y = _two_classes()
    frame = pd.DataFrame(X, columns=list("abcd"))
    shuffled = frame[["d", "c", "b", "a"]]
    model = RFM(iters=1).fit(frame[:40], y[:40])
    with pytest.raises(ValueError, match="same order"):
        model.predict(shuffled[40:])
    with pytest.raises(ValueError, match=r"(?s)^X_val: The feature names should match.*same order"):
        RFM(iters=1).fit(frame[:40], y[:40], shuffled[40:], y[40:])
    model = RFM(iters=1).fit(frame[:40], y[:40], frame[40:], y[40:])  # the same columns in the same order
    assert model.history_.query("split == 'val' and metric == 'accuracy'").value.max() > 0.8


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"reg": np.inf}, "The 'reg' parameter of RFM must be a float in the range [0.0, inf). Got inf"),
        ({"reg": "1e-3"}, "The 'reg' parameter of RFM must be a float in the range [0.0, inf). Got '1e-3'"),
        ({"reg": -1.0}, "The 'reg' parameter of RFM must be a float in the range [0.0, inf)"),
        ({"bandwidth": np.nan}, "The 'bandwidth' parameter of RFM must be a float in the range (0.0, inf) or None"),
        ({"bandwidth": 0.0}, "The 'bandwidth' parameter of RFM must be a float in the range (0.0, inf) or None"),
        ({"agop_max_samples": 0}, "The 'agop_max_samples' parameter of RFM must be an int in the range [1, inf)"),
        ({"agop_max_samples": 2.5}, "The 'agop_max_samples' parameter of RFM must be an int in the range [1, inf)"),
        ({"random_state": "seven"}, "The 'random_state' parameter of RFM must be an int in the range [0, 4294967295]"),
        ({"batch_size": True}, "The 'batch_size' parameter of RFM must be an int, not True"),
        ({"update": "agop"}, "The 'update' parameter of RFM must be a str among"),
        ({"kernel": Kernel("gaussian", 2.0), "bandwidth": 3.0}, "kernel is a Kernel object, which brings its own"),
        ({"kernel": Kernel("gaussian", 2.0), "gaussian_convention": "L"}, "so gaussian_convention would be ignored"),
        ({"kernel": "quadratic", "bandwidth": 2.0}, "the quadratic kernel has no bandwidth"),
        ({"kernel": "laplace", "gaussian_convention": "L"}, "gaussian_convention applies to the gaussian kernel only"),
    ],
)
def test_parameters_it_cannot_use_are_refused_naming_them(parameters, message):
    X, y = _two_classes()
    with pytest.raises(ValueError, match=re.escape(message)):
        RFM(iters=1, **parameters).fit(X, y)


def test_test_data_is_scored_at_every_iteration_and_chooses_nothing():
    X, y = _two_classes()
    model = RFM(iters=3, update="fact_geom").fit(X[:40], y[:40], X_test=X[40:], y_test=y[40:])
    assert set(model.history_.split) == {"train", "test"} and model.best_iteration_ == 3  # the last, as without it
    test = model.history_.query("split == 'test' and metric == 'accuracy'").value
    assert len(test) == 4 and test.iloc[-1] == pytest.approx(model.score(X[40:], y[40:]))
    with pytest.raises(ValueError, match="give both X_test and y_test, or neither"):
        RFM(iters=1).fit(X, y, X_test=X)


def test_random_state_takes_none_and_a_numpy_random_state_as_scikit_learn_does():
    X, y = _two_classes()
    options = {"iters": 1, "agop_max_samples": 20}  # the AGOP on a random third of the points
    assert RFM(random_state=None, **options).fit(X, y).history_.value.notna().all()
    first, second = (RFM(random_state=np.random.RandomState(3), **options).fit(X, y) for _ in range(2))
    assert torch.equal(first.M_, second.M_)
    # an integer seeds the draws as it always did: the same seed the same M, another seed another
    assert torch.equal(RFM(random_state=3, **options).fit(X, y).M_, RFM(random_state=3, **options).fit(X, y).M_)
    assert not torch.equal(RFM(random_state=3, **options).fit(X, y).M_, RFM(random_state=4, **options).fit(X, y).M_)


@pytest.mark.parametrize(
    "parameters, cause",
    [
        ({"bandwidth": 1e-6}, "raise the bandwidth"),
        ({"reg": 1e200}, "lower reg"),
        ({"reg": 1e200, "update": "fact_geom", "kernel": "gaussian", "bandwidth": 3.0}, "lower reg"),
    ],
)
def test_a_failed_update_names_its_cause(parameters, cause):
    X, y = _two_classes()
    with pytest.raises(FloatingPointError, match="zero feature matrix") as error:
        RFM(iters=1, **parameters).fit(X, y)
    assert cause in str(error.value) and "normalisation" not in str(error.value)


@pytest.mark.parametrize(
    "matrix, message",
    [
        (-np.eye(4), "must be positive semi-definite.*smallest eigenvalue is -1"),
        (np.triu(np.ones((4, 4))), "must be symmetric"),
    ],
)
def test_an_initial_matrix_that_is_no_feature_matrix_is_refused(matrix, message):
    X, y = _two_classes()
    with pytest.raises(ValueError, match=f"M_init {message}"):
        RFM(iters=1, M_init=matrix).fit(X, y)
    RFM(iters=1, M_init=np.diag([1.0, 2.0, 0.0, 0.5])).fit(X, y)  # semi-definite is a feature matrix


def test_a_torch_column_of_labels_is_a_column_of_labels():
    X, y = _two_classes()
    reference = RFMClassifier(iters=1).fit(X, y)
    with pytest.warns(Warning, match="column-vector y"):
        model = RFMClassifier(iters=1).fit(X, torch.as_tensor(y).reshape(-1, 1))
    assert torch.equal(model.M_, reference.M_) and list(model.classes_) == [0, 1]
    with pytest.warns(Warning, match="column-vector y"):
        RFMClassifier(iters=1).fit(X[:40], y[:40], X[40:], torch.as_tensor(y[40:]).reshape(-1, 1))


def test_the_memory_advice_suggests_float32_only_where_it_is_not_in_use(monkeypatch):
    X, y = np.random.default_rng(0).normal(size=(100, 3)), np.arange(100) % 2
    monkeypatch.setattr(
        "fact.kernel_machines.ridge.free_memory", lambda device: 100 * 100 * 4 // 2
    )  # half of one float32 matrix
    with pytest.raises(MemoryError) as error:
        RFM(iters=1, dtype="float32").fit(X, y)
    assert "float32" not in str(error.value) and "fit fewer points" in str(error.value)
