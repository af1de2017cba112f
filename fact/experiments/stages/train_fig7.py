"""Train the width-m two-layer quadratic network on the adversarial population (Figure 7).

python -m fact.experiments.stages.train_fig7 --settings '{...}' --out results/.../seed0.pt
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fact.experiments.checkpoints import objective_record
from fact.experiments.data.synthetic import AdversarialQuadratic
from fact.experiments.full_batch import FullBatchSchedule, train_full_batch
from fact.experiments.io import save_torch
from fact.experiments.job_settings import to_json
from fact.experiments.jobs import fail, resolve_device, start_stage
from fact.experiments.models import QuadraticNet
from fact.experiments.provenance import git_sha
from fact.features.errors import NonFiniteLossError
from fact.features.losses import LOSSES

LOSS = "mse"  # the regression on the population is fitted with the mean squared error


@dataclass(frozen=True)
class Fig7Shape:
    """The quadratic network's hidden width."""

    width: int


@dataclass(frozen=True)
class TrainFig7Settings:
    """One training job (config.yaml: fig7); seed is the initialisation's."""

    data: AdversarialQuadratic
    model: Fig7Shape
    train: FullBatchSchedule
    device: str
    seed: int
    scale: str


def main(argv: list[str] | None = None) -> None:
    """Train one Figure 7 network (see the module docstring)."""
    args, log = start_stage("train_fig7", __doc__, TrainFig7Settings, argv, files=("out",))

    settings: TrainFig7Settings = args.settings
    device = resolve_device(settings.device)
    torch.manual_seed(settings.seed)
    task = settings.data
    X, y = task.population()
    X, y = X.to(device), y.to(device)
    model = QuadraticNet(task.d, settings.model.width).double().to(device)
    schedule = settings.train
    log.info(
        "population of %d atoms (%d copies per hypercube point, %d per spike point) on %s",
        len(X),
        *task.multiplicities(),
        device,
    )
    try:
        history = train_full_batch(model, X, y, LOSSES[LOSS], schedule)
    except NonFiniteLossError as error:
        fail(log, f"{error}; no checkpoint was written (fig7.train in config.yaml)")
    final = history[-1]
    converged = final["grad_norm"] < schedule.grad_tol
    log.info(
        "final objective %.12g, gradient norm %.3e (%s the tolerance %.1e)",
        final["objective"],
        final["grad_norm"],
        "below" if converged else "ABOVE",
        schedule.grad_tol,
    )
    save_torch(
        {
            "format": 1,
            "experiment": "fig7",
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "settings": to_json(settings),
            "objective": objective_record(LOSS, schedule.weight_decay),
            "history": history,
            "converged": converged,
            "git_sha": git_sha(),
        },
        args.out,
    )
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
