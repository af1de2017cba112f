"""FACT, NFA and eNFA agreement for every kept epoch and layer of trained MLPs (Figures 2, 8-10).

    python -m fact.experiments.stages.extract_mlp --checkpoints a.pt b.pt --settings '{...}' --table out.parquet

For each checkpoint: Pearson and cosine of W^T W with FACT, its symmetrisation, (FACT FACT^T)^{1/2},
AGOP^s and eNFA, and of W W^T with bFACT, the backward AGOP^s and eNFA, on the training set.

Each run's rows are kept in ``<table>.partial/<checkpoint>.parquet`` as soon as they are done (a paper-scale run
takes minutes to an hour): a killed job's rerun takes the rows of every run whose checkpoint file, settings and
code are unchanged, and computes the others.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from fact.experiments.checkpoints import load_weights, read_checkpoints, recorded_objective, trained_on
from fact.experiments.data.images import load
from fact.experiments.io import file_sha256, reusable_rows, write_parquet
from fact.experiments.job_settings import from_json, to_json
from fact.experiments.jobs import resolve_device, start_stage
from fact.experiments.models import mlp
from fact.experiments.provenance import code_hash, distinct, git_sha
from fact.experiments.stages.train_mlp import TrainMLPSettings
from fact.features.matrices import feature_matrices

STAGE = "fact.experiments.stages.extract_mlp"


@dataclass(frozen=True)
class ExtractMLPSettings:
    """What one MLP extraction is given."""

    powers: tuple[float, ...]  # the NFA powers s compared (AGOP^s)
    batch_size: int  # points per batch when computing the matrices
    device: str
    data_root: str
    scale: str


def extract(run: dict, path: str, s: ExtractMLPSettings, device: torch.device, log) -> list[dict]:
    """Agreement records of every layer at every kept epoch of one MLP run."""
    config = from_json(TrainMLPSettings, run["settings"], "the checkpoint's settings")
    data = load(config.dataset, config.split_seed, s.data_root)
    X = data.X_train.double().to(device)
    Y = torch.nn.functional.one_hot(data.y_train, data.n_classes).double().to(device)
    model = mlp(data.d, config.model.width, data.n_classes, config.model.depth, config.model.bias)
    model = model.double().to(device)
    by_epoch = {row["epoch"]: row for row in run["history"]}
    polish_steps = (run.get("polish") or {}).get("steps", 0)
    loss, weight_decay = recorded_objective(run, path, log)
    records = []
    for epoch, weights in sorted(run["checkpoints"].items()):
        load_weights(model, weights, path, log)
        layers = feature_matrices(model, X, Y, loss, weight_decay, batch_size=s.batch_size)
        about = {
            "dataset": data.name,
            "seed": config.seed,
            "epoch": epoch,
            "train_loss": by_epoch.get(epoch, {}).get("train_loss", float("nan")),
            "tau": by_epoch.get(epoch, {}).get("tau", 0.0),  # the time weight decay has had to act
            "polish_steps": polish_steps if epoch == config.train.epochs else 0,  # L-BFGS after this epoch
            "converged": run["converged"],
            "test_accuracy": run["test_accuracy"],
        }
        for layer in layers.values():
            records += [{**about, **record} for record in layer.agreement(s.powers)]
    return records


def extracted(run: dict, path: str, s: ExtractMLPSettings, device: torch.device, partial: Path, log) -> list[dict]:
    """One run's records: those a killed job kept for this checkpoint file, settings and code, else computed and
    kept in ``partial``."""
    kept = partial / f"{Path(path).name}.parquet"
    made_by = {"settings": to_json(s), "code": code_hash(STAGE), "checkpoint": file_sha256(path)}
    reused = reusable_rows(kept, made_by, log)
    if reused is not None:
        log.info("%s: taken from %s (an earlier run of this checkpoint, settings and code)", path, kept)
        return reused.to_dict("records")
    records = extract(run, path, s, device, log)
    partial.mkdir(parents=True, exist_ok=True)
    write_parquet(pd.DataFrame.from_records(records), kept, {"made_by": made_by})
    return records


def main(argv: list[str] | None = None) -> None:
    """Extract every MLP run given (see the module docstring)."""
    args, log = start_stage("extract_mlp", __doc__, ExtractMLPSettings, argv, files=("checkpoints", "table"))
    s: ExtractMLPSettings = args.settings
    device = resolve_device(s.device)
    records, notes, trained_with = [], set(), []
    runs = read_checkpoints(args.checkpoints, args.trained_with, lambda _: TrainMLPSettings, log)
    partial = Path(f"{args.table}.partial")
    for path, run in zip(args.checkpoints, runs):
        notes.add(run["note"])
        trained_with.append({**trained_on(run), "dataset": run["settings"]["dataset"]})  # datasets may differ
        rows = extracted(run, path, s, device, partial, log)
        records += rows
        final = max(r["epoch"] for r in rows)
        fact = [r["pearson"] for r in rows if r["epoch"] == final and r["relation"] == "fact"]
        log.info("%s: Pearson(W^T W, FACT) at epoch %d, per layer: %s", path, final, [round(v, 3) for v in fact])
    table = pd.DataFrame.from_records(records)
    table["scale"] = s.scale
    table["note"] = "; ".join(sorted(notes))
    write_parquet(
        table, args.table, {"settings": to_json(s), "trained_with": distinct(trained_with), "git_sha": git_sha()}
    )
    shutil.rmtree(partial, ignore_errors=True)
    log.info("wrote %s (%d rows)", args.table, len(table))


if __name__ == "__main__":
    main()
