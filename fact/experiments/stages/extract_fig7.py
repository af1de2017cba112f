r"""W^T W, FACT, AGOP^s and eNFA of the Figure 7 networks, compared by cosine and Pearson.

python -m fact.experiments.stages.extract_fig7 --checkpoints a.pt b.pt --settings '{...}' \
        --table results/.../fig7.parquet --matrices results/.../fig7_matrices.pt
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fact.experiments.checkpoints import load_weights, read_checkpoints, recorded_objective, trained_on
from fact.experiments.io import save_torch, write_parquet
from fact.experiments.job_settings import from_json, to_json
from fact.experiments.jobs import start_stage
from fact.experiments.models import QuadraticNet
from fact.experiments.provenance import distinct, git_sha
from fact.experiments.stages.train_fig7 import TrainFig7Settings
from fact.features.matrices import feature_matrices


@dataclass(frozen=True)
class ExtractFig7Settings:
    """What one Figure 7 extraction is given."""

    powers: tuple[float, ...]  # the NFA powers s compared (AGOP^s)
    scale: str


def extract(checkpoint: dict, path: str, powers: tuple[float, ...], log) -> tuple[list[dict], dict]:
    """Agreement records for every layer of one checkpoint, and the hidden layer's matrices."""
    config = from_json(TrainFig7Settings, checkpoint["settings"], "the checkpoint's settings")
    task = config.data
    X, y = task.population()
    model = load_weights(QuadraticNet(task.d, config.model.width).double(), checkpoint["state_dict"], path, log)
    loss, weight_decay = recorded_objective(checkpoint, path, log)
    layers = feature_matrices(model, X, y, loss, weight_decay, batch_size=None)
    final = checkpoint["history"][-1]
    records = []
    for layer in layers.values():
        for record in layer.agreement(powers):
            records.append(
                {
                    "exp": "fig7",
                    "dataset": "adversarial_quadratic",
                    "seed": config.seed,
                    "epoch": final["step"],
                    "grad_norm": final["grad_norm"],
                    "hessian_min_eigenvalue": final.get("hessian_min_eigenvalue", float("nan")),
                    "converged": checkpoint["converged"],
                    **record,
                }
            )
    hidden = layers["hidden"]
    matrices = {"wtw": hidden.wtw, "fact": hidden.fact, "agop": hidden.agop, "enfa": hidden.enfa}
    return records, matrices


def main(argv: list[str] | None = None) -> None:
    """Extract every Figure 7 network given (see the module docstring)."""
    args, log = start_stage(
        "extract_fig7", __doc__, ExtractFig7Settings, argv, files=("checkpoints", "table", "matrices")
    )

    records, matrices, configs = [], {}, {}
    checkpoints = read_checkpoints(args.checkpoints, args.trained_with, lambda _: TrainFig7Settings, log)
    for path, checkpoint in zip(args.checkpoints, checkpoints):
        rows, hidden = extract(checkpoint, path, args.settings.powers, log)
        for row in rows:
            row["run"] = Path(path).stem
        records += rows
        seed = checkpoint["settings"]["seed"]
        matrices[seed] = hidden
        configs[seed] = trained_on(checkpoint)
        fact_row = next(r for r in rows if r["layer"] == "hidden" and r["relation"] == "fact")
        log.info("%s: cosine(W^T W, FACT) = %.4f, gradient norm %.2e", path, fact_row["cosine"], fact_row["grad_norm"])

    table = pd.DataFrame.from_records(records)
    table["scale"] = args.settings.scale
    # the layout of every output's metadata: this job's settings, the runs' shared settings, the commit
    metadata = {
        "settings": to_json(args.settings),
        "trained_with": distinct(list(configs.values())),
        "git_sha": git_sha(),
    }
    write_parquet(table, args.table, metadata)
    save_torch({"matrices": matrices, **metadata}, args.matrices)
    log.info("wrote %s (%d rows) and %s", args.table, len(table), args.matrices)


if __name__ == "__main__":
    main()
