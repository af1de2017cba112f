r"""Train the one-block transformer on modular addition, with decay in the objective or decoupled (Figure 12).

    python -m fact.experiments.stages.train_transformer --settings '{...}' \
        --out results/<scale>/nets/transformer/adam_l2_seed0.pt

The checkpoint keeps the model at the steps of ``kept_steps`` and the accuracy history.
"""

from __future__ import annotations

from dataclasses import dataclass

from fact.experiments.data.modular import modular_addition_tokens
from fact.experiments.decay_run_training import train_and_save
from fact.experiments.decay_runs import DecaySchedule
from fact.experiments.jobs import start_stage
from fact.experiments.models import TinyTransformer


@dataclass(frozen=True)
class ModularTask:
    """The modular-addition task: the modulus p, the training fraction and the split's seed."""

    p: int
    train_fraction: float
    split_seed: int


@dataclass(frozen=True)
class TransformerShape:
    """The transformer's width, heads, MLP width, and whether it is tied or layer-normed."""

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
    """The transformer the settings describe, on pairs of tokens mod p (PyTorch's initialisation)."""
    shape = settings.model
    return TinyTransformer(
        settings.data.p, 2, shape.width, shape.heads, shape.mlp_width, tied=shape.tied, layer_norm=shape.layer_norm
    )


def task_data(settings: TrainTransformerSettings):
    """(X_train, y_train, X_test, y_test): token pairs [a, b] and (a + b) mod p."""
    task = settings.data
    return modular_addition_tokens(task.p, task.train_fraction, task.split_seed)


def main(argv: list[str] | None = None) -> None:
    """Train one transformer decay run (see the module docstring)."""
    args, log = start_stage("train_transformer", __doc__, TrainTransformerSettings, argv, files=("out",))
    settings: TrainTransformerSettings = args.settings
    train_and_save(settings, build_model, task_data, "fig12", "transformer", args.out, log)


if __name__ == "__main__":
    main()
