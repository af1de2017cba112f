"""Shared helpers: small float64 networks trained to exact critical points, fresh seeds, and a
copy of the workflow for the pipeline tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from fact.experiments.full_batch import minimise_newton
from fact.features.objective import regularised_objective


def _share_the_cores_among_workers() -> None:
    """Under pytest-xdist, each worker (and the jobs it starts) gets its share of the cores: torch's
    default of one thread per core in every worker oversubscribes them and slows every test."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        share = max(1, (os.cpu_count() or 1) // workers)
        os.environ.setdefault("OMP_NUM_THREADS", str(share))
        torch.set_num_threads(share)


_share_the_cores_among_workers()


def small_mlp(seed: int, biases=(True, False, True), widths=(4, 7, 5, 3)) -> nn.Sequential:
    """A tanh MLP in float64 whose layers mix biased and bias-free matrices."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(d_in, d_out, bias=biases[index]))
        if index < len(widths) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers).double()


def train_to_critical_point(model: nn.Module, inputs, targets, loss_fn, weight_decay: float) -> float:
    """Minimise (1/n) sum loss_i + (lambda/2)||theta||^2 by damped Newton; return the final gradient norm."""
    result = minimise_newton(
        model,
        lambda params: regularised_objective(model, inputs, targets, loss_fn, weight_decay, params),
        grad_tol=1e-11,
        max_iterations=200,
    )
    return result.grad_norm


SEED_VARIABLE = "FACT_TEST_SEED"


@pytest.fixture
def fresh_seed(request) -> int:
    """A new seed every run, so the identities are tested on fresh inputs; FACT_TEST_SEED fixes it.

    A failing test reports its seed with the command that reruns it (pytest_runtest_makereport).
    """
    fixed = os.environ.get(SEED_VARIABLE)
    seed = (
        int(fixed)
        if fixed
        else int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(torch.seed())).item())
    )
    request.node.fresh_seed = seed
    return seed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    seed = getattr(item, "fresh_seed", None)
    if report.failed and seed is not None:
        report.sections.append(
            ("fresh seed", f"seed {seed}; rerun with: {SEED_VARIABLE}={seed} python -m pytest '{item.nodeid}'")
        )


ROOT = Path(__file__).resolve().parents[1]


def copy_workflow(workdir: Path) -> Path:
    """A runnable copy of the pipeline (Snakefile, config, rules, profiles, the fact package) in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml", "environment.yml"):
        shutil.copy(ROOT / name, workdir / name)
    for name in ("workflow", "profiles", "fact"):
        shutil.copytree(ROOT / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
    return workdir
