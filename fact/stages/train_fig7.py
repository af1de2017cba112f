"""Train the width-m two-layer quadratic network on the adversarial population (Figure 7).

    python -m fact.stages.train_fig7 --settings '{...}' --out results/.../seed0.pt
"""

from __future__ import annotations

import torch

from fact.data.synthetic import AdversarialQuadratic
from fact.io import save_torch
from fact.full_batch import FullBatchSchedule, train_full_batch
from fact.losses import NonFiniteLossError, mse_per_sample
from fact.nets import QuadraticNet
from fact.provenance import git_sha
from fact.stages.common import fail, resolve_device, settings_parser, setup_logging


def main(argv: list[str] | None = None) -> None:
    parser = settings_parser(__doc__, "data, model, train, device, seed (of the initialisation), scale "
                                      "(config.yaml: fig7)")
    parser.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    args = parser.parse_args(argv)
    log = setup_logging("train_fig7")

    settings = args.settings
    device = resolve_device(settings["device"])
    torch.manual_seed(settings["seed"])
    task = AdversarialQuadratic(**settings["data"])
    X, y = task.population()
    X, y = X.to(device), y.to(device)
    model = QuadraticNet(task.d, settings["model"]["width"]).double().to(device)
    schedule = FullBatchSchedule(**settings["train"])
    log.info("population of %d atoms (%d copies per hypercube point, %d per spike point) on %s",
             len(X), *task.multiplicities(), device)
    try:
        history = train_full_batch(model, X, y, mse_per_sample, schedule)
    except NonFiniteLossError as error:
        fail(log, f"{error}; no checkpoint was written (fig7.train in config.yaml)")
    final = history[-1]
    converged = final["grad_norm"] < schedule.grad_tol
    log.info("final objective %.12g, gradient norm %.3e (%s the tolerance %.1e)", final["objective"],
             final["grad_norm"], "below" if converged else "ABOVE", schedule.grad_tol)
    save_torch({
        "format": 1,
        "experiment": "fig7",
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "settings": settings,
        "history": history,
        "converged": converged,
        "git_sha": git_sha(),
    }, args.out)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
