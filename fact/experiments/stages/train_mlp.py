"""Train one ReLU MLP on an image dataset with minibatch SGD, keeping chosen epochs (Figures 2, 8-10).

    python -m fact.experiments.stages.train_mlp --settings '{...}' --out results/<scale>/nets/mlp/<dataset>_seed0.pt

A killed job leaves ``<out>.state`` behind; the rerun resumes from it and ends with the
same weights as an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fact.experiments.checkpoints import objective_record
from fact.experiments.data.images import FETCHED, load
from fact.experiments.data.manifest import dataset_status
from fact.experiments.io import save_torch
from fact.experiments.job_settings import to_json
from fact.experiments.jobs import fail, resolve_device, start_stage
from fact.experiments.models import mlp
from fact.experiments.provenance import code_hash, git_sha
from fact.experiments.sizes import mlp_size_problem
from fact.experiments.training import LOSS, SGDSettings, UnreadableStateError, discard_state, train_sgd
from fact.features.errors import NonFiniteLossError
from fact.features.free_memory import free_memory


@dataclass(frozen=True)
class MLPShape:
    """The MLP's width, depth and bias."""

    width: int
    depth: int
    bias: bool


@dataclass(frozen=True)
class TrainMLPSettings:
    """One training job (config.yaml: mlp), its dataset and seed included."""

    dataset: str
    split_seed: int
    seed: int
    model: MLPShape
    train: SGDSettings
    keep_epochs: tuple[int, ...]
    device: str
    data_root: str
    scale: str


def main(argv: list[str] | None = None) -> None:
    """Train one MLP, resuming a killed run (see the module docstring)."""
    args, log = start_stage("train_mlp", __doc__, TrainMLPSettings, argv, files=("out",))
    s: TrainMLPSettings = args.settings
    device = resolve_device(s.device)
    if s.dataset in FETCHED:
        status = dataset_status(Path(s.data_root), "images", s.dataset)
        if not status["available"]:
            fail(log, f"{s.dataset} is unavailable: {status['reason']}")
    problem = mlp_size_problem(
        "mlp.model", s.dataset, s.model.width, s.model.depth, free_memory(device), f"free on {device}"
    )
    if problem:  # the training holds less, but the extraction that follows needs this much
        fail(log, problem)
    data = load(s.dataset, s.split_seed, s.data_root)
    X = data.X_train.to(device)
    Y = torch.nn.functional.one_hot(data.y_train, data.n_classes).float().to(device)
    torch.manual_seed(s.seed)
    model = mlp(data.d, s.model.width, data.n_classes, s.model.depth, s.model.bias).to(device)
    log.info("%s: %d training points of dimension %d on %s (%s)", data.name, len(X), data.d, device, data.note)
    try:
        result = train_sgd(
            model,
            X,
            Y,
            s.train,
            s.seed,
            f"{args.out}.state",
            s.keep_epochs,
            identity={"settings": to_json(s), "code": code_hash("fact.experiments.stages.train_mlp")},
        )
    except (NonFiniteLossError, UnreadableStateError) as error:
        fail(log, str(error))
    with torch.no_grad():
        predictions = model(data.X_test.to(device)).argmax(1).cpu()
    test_accuracy = float((predictions == data.y_test).float().mean())
    final_loss = result["history"].train_loss.iloc[-1]
    log.info(
        "final mean batch loss %.3e, test accuracy %.4f; %s (largest stationarity error %.3g, converged_below %g)",
        final_loss,
        test_accuracy,
        "at a critical point" if result["converged"] else "NOT at a critical point",
        max(result["stationarity"].values()),
        s.train.converged_below,
    )
    save_torch(
        {
            "settings": to_json(s),
            "objective": objective_record(LOSS, s.train.weight_decay),
            "checkpoints": result["checkpoints"],
            "history": result["history"].to_dict("records"),
            "stationarity": result["stationarity"],
            "converged": result["converged"],
            "polish": result["polish"],
            "test_accuracy": test_accuracy,
            "note": data.note,
            "git_sha": git_sha(),
        },
        args.out,
    )
    discard_state(f"{args.out}.state")  # only now: a kill before the checkpoint is written loses nothing
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
