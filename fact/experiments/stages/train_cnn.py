"""Train the small CNN on an image dataset, with decay in the objective or decoupled (Figure 13).

    python -m fact.experiments.stages.train_cnn --settings '{...}' --out results/<scale>/nets/cnn/adam_l2_seed0.pt

Full-batch cross-entropy, as Figure 12's transformer; the checkpoint keeps the model at the steps of
``kept_steps`` and the accuracy history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fact.experiments.data.images import FETCHED, load
from fact.experiments.data.manifest import dataset_status
from fact.experiments.data.shapes import IMAGE_CLASSES, IMAGE_SHAPES
from fact.experiments.decay_run_training import train_and_save
from fact.experiments.decay_runs import DecaySchedule
from fact.experiments.jobs import fail, start_stage
from fact.experiments.models import SmallCNN


@dataclass(frozen=True)
class CNNShape:
    """The CNN's channels, of conv1 and conv2."""

    channels: tuple[int, int]  # of conv1 and conv2


@dataclass(frozen=True)
class TrainCNNSettings:
    """One training job (config.yaml: cnn): one optimiser, one initialisation seed."""

    dataset: str
    split_seed: int
    model: CNNShape
    train: DecaySchedule
    checkpoints: int  # models kept for the matrices, log-spaced over the steps
    device: str
    seed: int
    data_root: str
    scale: str


def build_model(settings: TrainCNNSettings) -> SmallCNN:
    """The CNN the settings describe, for their dataset's image shape (PyTorch's initialisation)."""
    in_channels, side = IMAGE_SHAPES[settings.dataset]
    return SmallCNN(side, IMAGE_CLASSES, tuple(settings.model.channels), in_channels=in_channels)


def task_data(settings: TrainCNNSettings):
    """(X_train, y_train, X_test, y_test): flattened images and class labels."""
    data = load(settings.dataset, settings.split_seed, settings.data_root)
    channels, side = IMAGE_SHAPES[settings.dataset]
    if data.d != channels * side * side:
        raise ValueError(
            f"{settings.dataset} images have {data.d} values, not the {channels} x {side} x {side} of "
            "fact.experiments.data.shapes.IMAGE_SHAPES"
        )
    return data.X_train, data.y_train, data.X_test, data.y_test


def main(argv: list[str] | None = None) -> None:
    """Train one CNN decay run (see the module docstring)."""
    args, log = start_stage("train_cnn", __doc__, TrainCNNSettings, argv, files=("out",))
    settings: TrainCNNSettings = args.settings
    if settings.dataset not in IMAGE_SHAPES:
        fail(
            log, f"unknown dataset {settings.dataset!r} (cnn.dataset in config.yaml): use one of {sorted(IMAGE_SHAPES)}"
        )
    if settings.dataset in FETCHED:
        status = dataset_status(Path(settings.data_root), "images", settings.dataset)
        if not status["available"]:
            fail(log, f"{settings.dataset} is unavailable: {status['reason']}")
    train_and_save(settings, build_model, task_data, "fig13", "cnn", args.out, log)


if __name__ == "__main__":
    main()
