"""Fit NFA-RFM and FACT-RFM on one sparse-parity task (Figures 3 and 4).

    python -m fact.experiments.stages.rfm_parity --settings '{...}' --table out.parquet --matrices out.pt

Per method and iteration: train and test accuracy and MSE, and the share of diag(M) on the
parity's support, in one tidy table; every iterate's M in the .pt file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from fact.experiments.data.parity import sparse_parity
from fact.experiments.io import save_torch, write_parquet
from fact.experiments.job_settings import to_json
from fact.experiments.jobs import start_stage
from fact.experiments.provenance import git_sha
from fact.experiments.rfm_fit import fit_rfm_scoring_test
from fact.kernel_machines.kernels import Kernel


@dataclass(frozen=True)
class ParitySettings:
    """One fit job (config.yaml: parity): the task's k, n and seed and every method's options."""

    experiment: str  # the figure it is drawn in: fig3 or fig4
    d: int
    k: int
    n: int
    n_test: int
    seed: int
    kernel: Kernel
    reg: float
    iters: int
    methods: dict  # method name -> the RFM's update options
    device: str
    dtype: str
    scale: str


def support_share(M: torch.Tensor, support: torch.Tensor) -> float:
    """Fraction of the diagonal of M that lies on the support."""
    diagonal = torch.diagonal(M).abs()
    return float(diagonal[support].sum() / diagonal.sum())


def run(settings: ParitySettings, log) -> tuple[pd.DataFrame, dict]:
    """Every method on one sparse-parity task: the history table and the feature matrices."""
    X, y, X_test, y_test, support = sparse_parity(settings.n, settings.d, settings.k, settings.seed, settings.n_test)
    frames, matrices = [], {"support": support}
    for method, options in settings.methods.items():
        model, history = fit_rfm_scoring_test(settings, options, "binary", X, y, X_test, y_test)
        shares = pd.DataFrame(
            {
                "iteration": range(len(model.M_history_)),
                "split": "features",
                "metric": "support_share",
                "value": [support_share(M.cpu(), support) for M in model.M_history_],
            }
        )
        frame = pd.concat([history, shares], ignore_index=True)
        frame.insert(0, "method", method)
        frames.append(frame)
        matrices[method] = torch.stack([M.cpu() for M in model.M_history_])
        final = history.query("split == 'test' and metric == 'accuracy'").value.tolist()
        log.info(
            "k=%d n=%d seed=%d %s: test accuracy by iteration %s, final support share %.3f",
            settings.k,
            settings.n,
            settings.seed,
            method,
            [round(a, 3) for a in final],
            shares.value.iloc[-1],
        )
    table = pd.concat(frames, ignore_index=True)
    table["task"] = "sparse_parity"
    for key in ("experiment", "k", "n", "d", "seed"):
        table[key] = getattr(settings, key)
    return table, matrices


def main(argv: list[str] | None = None) -> None:
    """Fit every method on one sparse-parity task (see the module docstring)."""
    args, log = start_stage("rfm_parity", __doc__, ParitySettings, argv, files=("table", "matrices"))
    table, matrices = run(args.settings, log)
    table["scale"] = args.settings.scale
    metadata = {"settings": to_json(args.settings), "git_sha": git_sha()}
    write_parquet(table, args.table, metadata)
    save_torch({"matrices": matrices, **metadata}, args.matrices)
    log.info("wrote %s and %s", args.table, args.matrices)


if __name__ == "__main__":
    main()
