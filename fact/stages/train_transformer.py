"""Train the one-block transformer on modular addition, with decay in the objective or decoupled (Figure 12).

    python -m fact.stages.train_transformer --settings '{...}' --out results/<scale>/nets/transformer/adam_l2_seed0.pt

The checkpoint keeps the model at the steps of ``kept_steps`` and the accuracy history.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fact.architectures import TinyTransformer
from fact.data.modular import modular_addition_tokens
from fact.decay_training import DecaySchedule, kept_steps, train_with_decay
from fact.io import save_torch
from fact.losses import NonFiniteLossError
from fact.provenance import git_sha
from fact.stages.common import fail, resolve_device, start_stage
from fact.stages.settings import to_json


@dataclass(frozen=True)
class ModularTask:
    p: int
    train_fraction: float
    split_seed: int


@dataclass(frozen=True)
class TransformerShape:
    width: int
    heads: int
    mlp_width: int
    tied: bool
    layer_norm: bool


@dataclass(frozen=True)
class TrainTransformerSettings:
    """One training job (config.yaml: transformer): one optimiser, one initialisation seed."""

    data: ModularTask
    model: TransformerShape
    train: DecaySchedule
    checkpoints: int  # models kept, log-spaced over the steps
    device: str
    seed: int
    scale: str


def build_model(settings: TrainTransformerSettings) -> TinyTransformer:
    shape = settings.model
    return TinyTransformer(settings.data.p, 2, shape.width, shape.heads, shape.mlp_width, tied=shape.tied,
                           layer_norm=shape.layer_norm)


def task_data(settings: TrainTransformerSettings):
    """(X_train, y_train, X_test, y_test): token pairs [a, b] and (a + b) mod p."""
    task = settings.data
    return modular_addition_tokens(task.p, task.train_fraction, task.split_seed)


def main(argv: list[str] | None = None) -> None:
    args, log = start_stage("train_transformer", __doc__, TrainTransformerSettings, argv, files=("out",))
    settings: TrainTransformerSettings = args.settings
    device = resolve_device(settings.device)
    X, y, X_test, y_test = (tensor.to(device) for tensor in task_data(settings))
    torch.manual_seed(settings.seed)
    model = build_model(settings).to(device)
    keep = kept_steps(settings.train.steps, settings.checkpoints)
    log.info("%s on %d of the %d pairs mod %d, %d steps, keeping %s", settings.train.optimiser, len(X),
             len(X) + len(X_test), settings.data.p, settings.train.steps, keep)
    try:
        history, states = train_with_decay(model, X, y, X_test, y_test, settings.train, keep)
    except NonFiniteLossError as error:
        fail(log, f"{error} (transformer.runs in config.yaml); no checkpoint was written")
    final = history[-1]
    log.info("final: train accuracy %.3f, test accuracy %.3f, gradient norm of the L2 objective %.2e",
             final["train_accuracy"], final["test_accuracy"], final["gradient_norm"])
    save_torch({"format": 1, "experiment": "fig12", "states": states, "history": history,
                "settings": to_json(settings), "git_sha": git_sha()}, args.out)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
