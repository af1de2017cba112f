r"""FACT, NFA (AGOP^s) and eNFA of every weight matrix at every kept step of the decay runs of one
architecture: Figure 12's transformer (``fact.experiments.stages.train_transformer``) or Figure 13's
CNN (``fact.experiments.stages.train_cnn``), each trained with Adam-L2 and with AdamW.

    python -m fact.experiments.stages.extract_decay_runs --checkpoints a.pt b.pt --settings '{...}' \
        --table results/.../transformer.parquet --history results/.../transformer_history.parquet

The relations are computed on the training data with the loss and lambda each checkpoint records it was
trained on (Pearson and Spearman correlations do not depend on lambda, only FACT's scale does).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fact.experiments.checkpoints import load_weights, read_checkpoints, recorded_objective, trained_on
from fact.experiments.io import write_parquet
from fact.experiments.job_settings import from_json, to_json
from fact.experiments.jobs import resolve_device, start_stage
from fact.experiments.provenance import distinct, git_sha
from fact.experiments.stages import train_cnn, train_transformer
from fact.features.matrices import feature_matrices
from fact.features.weights import weight_matrices

# the training stage of each experiment: its settings class, model and data
TRAINERS = {
    "fig12": (train_transformer, train_transformer.TrainTransformerSettings),
    "fig13": (train_cnn, train_cnn.TrainCNNSettings),
}


@dataclass(frozen=True)
class ExtractDecayRunsSettings:
    """What one extraction of decay runs is given."""

    powers: tuple[float, ...]  # the NFA powers s compared (AGOP^s)
    batch_size: int  # pairs per pass when computing the matrices
    agop_probes: int | None  # random output directions for the AGOP; null: every output (exact)
    device: str  # where the matrices are computed (auto: CUDA when present)
    scale: str


def settings_class_of(checkpoint: dict) -> type:
    """The settings class of the stage that trained ``checkpoint`` (its experiment names it)."""
    _, settings_class = TRAINERS.get(checkpoint.get("experiment"), TRAINERS["fig12"])  # a stranger fails its check
    return settings_class


def extract(checkpoint: dict, path: str, settings: ExtractDecayRunsSettings, log) -> list[dict]:
    """Agreement records for every layer and kept step of one training run, each with the layer's
    stationarity error ||grad_W Lbar + lambda W|| / ||lambda W|| (0 at a critical point)."""
    stage, settings_class = TRAINERS[checkpoint["experiment"]]
    config = from_json(settings_class, checkpoint["settings"], "the checkpoint's settings")
    device = resolve_device(settings.device)
    X, y, _, _ = (tensor.to(device) for tensor in stage.task_data(config))
    run = {"dataset": config.dataset} if hasattr(config, "dataset") else {}  # an image run's data
    model = stage.build_model(config).to(device)
    loss, weight_decay = recorded_objective(checkpoint, path, log)
    records = []
    for step, state in sorted(checkpoint["states"].items()):
        load_weights(model, state, path, log)
        layers = feature_matrices(
            model,
            X,
            y,
            loss,
            weight_decay,
            batch_size=settings.batch_size,
            agop_probes=settings.agop_probes,
        )
        weights = weight_matrices(model, X, y, loss, weight_decay, batch_size=settings.batch_size)
        # fact.features.weights' stationarity: a tied weight's gradient holds every layer that uses it
        rows = [
            {
                "optimiser": config.train.optimiser,
                "seed": config.seed,
                "step": step,
                **run,
                **record,
                "stationarity_error": weights[name].stationarity_error,
            }
            for name, layer in layers.items()
            for record in layer.agreement(settings.powers)
        ]
        log.info(
            "%s step %d: Pearson(W^T W, FACT) %s",
            config.train.optimiser,
            step,
            {row["layer"]: round(row["pearson"], 3) for row in rows if row["relation"] == "fact"},
        )
        records += rows
    return records


def main(argv: list[str] | None = None) -> None:
    """Extract every kept step of the decay runs given (see the module docstring)."""
    args, log = start_stage(
        "extract_decay_runs", __doc__, ExtractDecayRunsSettings, argv, files=("checkpoints", "table", "history")
    )
    records, histories, configs = [], [], []
    checkpoints = read_checkpoints(args.checkpoints, args.trained_with, settings_class_of, log)
    for path, checkpoint in zip(args.checkpoints, checkpoints):
        records += extract(checkpoint, path, args.settings, log)
        history = pd.DataFrame.from_records(checkpoint["history"])
        history.insert(0, "optimiser", checkpoint["settings"]["train"]["optimiser"])
        history.insert(1, "seed", checkpoint["settings"]["seed"])
        if "dataset" in checkpoint["settings"]:  # the image data of a CNN run
            history.insert(2, "dataset", checkpoint["settings"]["dataset"])
        histories.append(history)
        configs.append(trained_on(checkpoint))
    metadata = {
        "settings": to_json(args.settings),
        "trained_with": distinct(configs),
        "git_sha": git_sha(),
    }
    for frame, path in ((pd.DataFrame.from_records(records), args.table), (pd.concat(histories), args.history)):
        frame["scale"] = args.settings.scale
        write_parquet(frame, path, metadata)
    log.info("wrote %s (%d rows) and %s", args.table, len(records), args.history)


if __name__ == "__main__":
    main()
