"""Fit one named RFM run on modular addition and follow its grokking (Figures 5 and 6).

    python -m fact.experiments.stages.rfm_modular --settings '{...}' --table out.parquet --matrices out.pt

A run is a kernel, a number of iterations and the RFM method (config: modular.runs).

Per iteration: train and test accuracy and MSE, the circulant deviation of M's
off-diagonal block and its alignment with the final M (Mallinar et al.), in one tidy table.
The .pt holds every iterate's M and, for Figure 6, tau(x_i, M, x_j) and k'(x_i^T M x_j)
over sampled pairs of training points at the final M.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from fact.experiments.data.modular import modular_addition
from fact.experiments.io import save_torch, write_parquet
from fact.experiments.job_settings import to_json
from fact.experiments.jobs import start_stage
from fact.experiments.provenance import git_sha
from fact.experiments.rfm_fit import fit_rfm_scoring_test
from fact.features.metrics import cosine
from fact.kernel_machines.kernels import Kernel


@dataclass(frozen=True)
class ModularSettings:
    """One fit job (config.yaml: modular, with one entry of its runs) for one seed."""

    p: int
    train_fraction: float
    seed: int
    run: str  # the run's name in modular.runs
    kernel: Kernel
    iters: int
    method: dict  # the RFM's update options
    reg: float
    pairs: int  # sampled training pairs for tau and k' (Figure 6)
    device: str
    dtype: str
    scale: str


def circulant_deviation(C: torch.Tensor) -> float:
    """D(C) = (1/||C||_F^2) sum_j Var_l(S(C)[l, j]), S shifting row l by l (Mallinar et al.).

    Var is taken as the sum of squared deviations from each column's mean, so D lies in
    [0, 1]: 0 for a circulant, about 1 - 1/p for noise. A circulant C[l, j] = c[j - l] has every
    column of S(C) constant, so D = 0. Addition makes the structure C[l, j] = c[j + l] instead (the
    same up to reflecting l); both shifts are tried and the smaller deviation kept.
    """
    p = C.shape[0]
    rows = torch.arange(p)[:, None]
    columns = torch.arange(p)[None, :]
    deviations = []
    for sign in (1, -1):
        shifted = C[rows, (columns + sign * rows) % p]
        spread = ((shifted - shifted.mean(dim=0, keepdim=True)) ** 2).sum()
        deviations.append(float(spread / (C**2).sum()))
    return min(deviations)


def tau_and_derivative(X: torch.Tensor, M: torch.Tensor, kernel: Kernel, pairs: int, seed: int):
    """tau(x_i, M, x_j) = (1/n) sum_l k'(x_l^T M x_i) k'(x_l^T M x_j) and k'(x_i^T M x_j) on sampled pairs."""
    K_prime = kernel.derivative_matrix(X, X, M)
    generator = torch.Generator().manual_seed(seed)
    i = torch.randint(0, len(X), (pairs,), generator=generator)
    j = torch.randint(0, len(X), (pairs,), generator=generator)
    tau = (K_prime[:, i] * K_prime[:, j]).mean(dim=0)
    return tau, K_prime[i, j]


def main(argv: list[str] | None = None) -> None:
    """Fit one modular-addition run (see the module docstring)."""
    args, log = start_stage("rfm_modular", __doc__, ModularSettings, argv, files=("table", "matrices"))
    s: ModularSettings = args.settings
    p = s.p
    X, y, X_test, y_test = modular_addition(p, s.train_fraction, s.seed)
    model, history = fit_rfm_scoring_test(s, s.method, "classification", X, y, X_test, y_test)
    matrices = [M.cpu() for M in model.M_history_]
    final = matrices[-1]
    features = pd.DataFrame(
        [
            {"iteration": t, "split": "features", "metric": metric, "value": value}
            for t, M in enumerate(matrices)
            for metric, value in (
                ("circulant_deviation", circulant_deviation(M[p:, :p])),
                ("alignment_with_final", cosine(M, final)),
            )
        ]
    )
    table = pd.concat([history, features], ignore_index=True)
    table["task"] = "modular_addition"
    table["method"] = s.method["update"]
    table["kernel"] = s.kernel.name
    for key in ("run", "p", "seed", "scale"):
        table[key] = getattr(s, key)
    accuracy = history.query("split == 'test' and metric == 'accuracy'").value.tolist()
    log.info("%s: test accuracy by iteration %s", s.run, [round(a, 3) for a in accuracy])

    metadata = {"settings": to_json(s), "git_sha": git_sha()}
    saved = {"matrices": torch.stack(matrices), **metadata}
    if s.kernel.name in ("quadratic", "exp_inner"):
        tau, k_prime = tau_and_derivative(X.to(final.dtype), final, s.kernel, s.pairs, s.seed)
        saved["tau"], saved["k_prime"] = tau, k_prime
    write_parquet(table, args.table, metadata)
    save_torch(saved, args.matrices)
    log.info("wrote %s and %s", args.table, args.matrices)


if __name__ == "__main__":
    main()
