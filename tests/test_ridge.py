"""fact.kernel_machines.ridge: the ridge solve, its fallbacks, and its memory: no hidden n x n copies, free
memory read right."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from fact.features.free_memory import free_memory
from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.ridge import solve_ridge
from tests.support.kernels import random_problem


def test_ridge_solve_falls_back_when_not_positive_definite():
    X = torch.randn(6, 3, dtype=torch.float64)
    X = torch.cat([X, X[:2]])  # duplicated points: a singular kernel matrix
    K = Kernel("laplace", 1.0).matrix(X, X, torch.eye(3, dtype=torch.float64))
    Y = torch.randn(8, 2, dtype=torch.float64)
    alpha, solver = solve_ridge(K, Y, 0.0)
    assert solver == "pseudo-inverse"
    assert torch.isfinite(alpha).all()
    assert torch.allclose(K @ alpha, K @ torch.linalg.pinv(K) @ Y, atol=1e-8)
    _, solver = solve_ridge(K, Y, 1e-3)
    assert solver == "cholesky"


def test_ridge_solve_retries_in_float64_before_giving_up_on_cholesky(fresh_seed):
    # a float32 matrix that is positive definite (smallest eigenvalue 1e-8 exactly as stored)
    # but beyond what a float32 factorisation resolves
    generator = torch.Generator().manual_seed(fresh_seed)
    Q, _ = torch.linalg.qr(torch.randn(300, 300, dtype=torch.float64, generator=generator))
    A = (Q @ torch.diag(torch.logspace(0, -12, 300, dtype=torch.float64)) @ Q.T).float()
    A.diagonal().add_(1e-8 - float(torch.linalg.eigvalsh(A.double())[0]))
    assert torch.linalg.eigvalsh(A.double())[0] > 5e-9
    Y = torch.randn(300, 2, dtype=torch.float64, generator=generator).float()
    alpha, solver = solve_ridge(A, Y, 0.0)
    assert solver == "cholesky (float64)", f"seed={fresh_seed}"
    assert alpha.dtype == torch.float32
    expected = torch.linalg.solve(A.double(), Y.double())
    assert torch.allclose(alpha.double(), expected, rtol=1e-4, atol=1e-4 * expected.abs().max())


def test_in_place_solve_names_the_fix_when_it_fails():
    X = torch.ones(4, 2, dtype=torch.float64)  # identical points: a rank-one kernel matrix
    K = Kernel("laplace", 1.0).matrix(X, X, torch.eye(2, dtype=torch.float64))
    with pytest.raises(FloatingPointError, match="raise reg or use dtype float64"):
        solve_ridge(K, torch.ones(4, 1, dtype=torch.float64), 0.0, overwrite=True)


@pytest.mark.parametrize("overwrite", [False, True])
def test_solve_ridge_solves_the_ridge_system(fresh_seed, overwrite):
    X, _, _, M = random_problem(fresh_seed, n=40)
    K = Kernel("laplace", 2.0).matrix(X, X, M)
    Y = torch.randn(40, 3, generator=torch.Generator().manual_seed(fresh_seed), dtype=torch.float64)
    expected = torch.linalg.solve(K + 0.05 * torch.eye(40, dtype=torch.float64), Y)
    alpha, solver = solve_ridge(K.clone(), Y, 0.05, overwrite=overwrite)
    assert solver == ("cholesky (in place)" if overwrite else "cholesky")
    assert torch.allclose(alpha, expected, rtol=1e-9, atol=1e-12), f"seed={fresh_seed}"


SOLVE_MEMORY = """
import resource, sys, torch
from fact.kernel_machines.ridge import solve_ridge
n = 3000
X = torch.randn(n, 20, dtype=torch.float64)
K = torch.cdist(X, X).neg_().exp_()  # a Laplace kernel matrix: positive definite
Y = torch.randn(n, 5, dtype=torch.float64)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the high-water mark so far: K and cdist's work
solve_ridge(K, Y, 0.1, overwrite=sys.argv[1] == "in-place")
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / (n * n * 8))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in KiB on Linux only")
@pytest.mark.parametrize("path, extra_matrices", [("in-place", 0), ("normal", 1)])
def test_solve_ridge_makes_no_hidden_copy_of_the_kernel_matrix(path, extra_matrices):
    """The in-place solve must need no n x n array beyond K (what lets miniboone's fold fits fit
    on one GPU), the normal one only the factor: torch's row-major out= and cholesky_solve both
    make hidden n x n copies, which this peak-memory measurement sees."""
    result = subprocess.run([sys.executable, "-c", SOLVE_MEMORY, path], capture_output=True, text=True, check=True)
    assert float(result.stdout) < extra_matrices + 0.3, result.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_in_place_solve_on_cuda_needs_no_second_kernel_matrix():
    """cuSOLVER, like LAPACK, factorises column-major arrays: the in-place path must not let torch
    make a column-major copy (what would put miniboone's fold fits, 38 GB each, over an H100)."""
    n = 8192
    X = torch.randn(n, 20, device="cuda")
    K = torch.cdist(X, X).neg_().exp_()
    Y = torch.randn(n, 3, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    alpha, solver = solve_ridge(K, Y, 0.1, overwrite=True)
    torch.cuda.synchronize()
    extra = (torch.cuda.max_memory_allocated() - before) / (n * n * 4)
    assert solver == "cholesky (in place)" and extra < 0.3, extra
    expected = torch.linalg.solve(
        torch.cdist(X, X).neg_().exp_().double() + 0.1 * torch.eye(n, device="cuda", dtype=torch.float64), Y.double()
    )
    assert torch.allclose(alpha.double(), expected, rtol=1e-2, atol=1e-3)


def test_free_memory_reads_the_kernel_count_then_falls_back(monkeypatch):
    meminfo = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n"
    monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO(meminfo))
    assert free_memory(torch.device("cpu")) == 250 * 1024
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(OSError("no /proc")))
    monkeypatch.setattr("os.sysconf", lambda name: {"SC_AVPHYS_PAGES": 3, "SC_PAGE_SIZE": 4096}[name])
    assert free_memory(torch.device("cpu")) == 3 * 4096
    monkeypatch.setattr("os.sysconf", lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert free_memory(torch.device("cpu")) == 1 << 62  # the platform cannot tell: assumed ample


def test_features_whose_feature_matrices_cannot_fit_are_refused_naming_m_and_what_to_lower():
    from fact.kernel_machines.ridge import require_feature_matrix_memory
    from fact.kernel_machines.sklearn_estimators import RFMClassifier

    X, y = np.random.default_rng(0).normal(size=(50, 200_000)), np.arange(50) % 2
    with pytest.raises(MemoryError, match=r"M is 200,000 x 200,000 for 200,000 features.*reduce the features"):
        RFMClassifier(iters=1).fit(X, y)
    with pytest.warns(RuntimeWarning, match=r"M is 12,000 x 12,000 for 20,000 points: each iteration .* on cpu"):
        require_feature_matrix_memory(12_000, 20_000, torch.float32, torch.device("cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fewer points than features: the updates work at rank n
        require_feature_matrix_memory(12_000, 50, torch.float32, torch.device("cpu"))
