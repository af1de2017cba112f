"""W_l^T W_l against AGOP^s over a grid of powers s, and against FACT, for deep linear networks (Figure 11).

    python -m fact.experiments.stages.extract_deep_linear --checkpoints a.pt ... --settings '{...}' --table out.parquet

At a balanced critical point the first layer satisfies W_1^T W_1 = AGOP^{1/L}, so the NFA needs
the depth-dependent power s = 1/L, while FACT holds with no power at all. The grid always
contains 1/L for the depths present.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fact.experiments.checkpoints import load_weights, read_checkpoints, recorded_objective, trained_on
from fact.experiments.data.synthetic import linear_teacher
from fact.experiments.io import write_parquet
from fact.experiments.job_settings import from_json, to_json
from fact.experiments.jobs import start_stage
from fact.experiments.models import deep_linear
from fact.experiments.provenance import distinct, git_sha
from fact.experiments.stages.train_deep_linear import TrainDeepLinearSettings
from fact.features.matrices import feature_matrices


@dataclass(frozen=True)
class PowerGrid:
    """``count`` NFA powers s evenly spaced from ``min`` to ``max``."""

    min: float
    max: float
    count: int


@dataclass(frozen=True)
class ExtractDeepLinearSettings:
    """What one extraction of deep linear networks is given."""

    powers: PowerGrid  # evenly spaced NFA powers s; 1/L is added for every depth L present
    scale: str


def power_grid(grid: PowerGrid, depths: list[int]) -> list[float]:
    """The grid's powers and 1/L of every depth, rounded to 6 digits, sorted, without repeats."""
    spaced = np.linspace(grid.min, grid.max, grid.count)
    return sorted({round(float(s), 6) for s in spaced} | {round(1 / depth, 6) for depth in depths})


def main(argv: list[str] | None = None) -> None:
    """Extract every deep linear network given (see the module docstring)."""
    args, log = start_stage(
        "extract_deep_linear", __doc__, ExtractDeepLinearSettings, argv, files=("checkpoints", "table")
    )
    runs = read_checkpoints(args.checkpoints, args.trained_with, lambda _: TrainDeepLinearSettings, log)
    configs = [
        from_json(TrainDeepLinearSettings, run["settings"], f"the settings of {path}")
        for run, path in zip(runs, args.checkpoints)
    ]
    powers = power_grid(args.settings.powers, sorted({config.depth for config in configs}))
    records = []
    for path, run, config in zip(args.checkpoints, runs, configs):
        X, Y, _ = linear_teacher(config.d, config.n, config.data_seed)
        epoch, weights = max(run["checkpoints"].items())
        model = load_weights(deep_linear(config.d, config.depth).double(), weights, path, log)
        loss, weight_decay = recorded_objective(run, path, log)
        layers = feature_matrices(model, X.double(), Y.double(), loss, weight_decay)
        for layer in layers.values():
            for record in layer.agreement(powers):
                if record["side"] == "forward":
                    records.append(
                        {
                            "depth": config.depth,
                            "seed": config.seed,
                            "epoch": epoch,
                            "train_loss": run["history"][-1]["train_loss"],
                            "tau": run["history"][-1]["tau"],
                            **record,
                        }
                    )
        first = [
            r for r in records if r["depth"] == config.depth and r["seed"] == config.seed and r["layer"] == "linear1"
        ]
        nfa = {r["power"]: r["pearson"] for r in first if r["relation"] == "nfa"}
        fact = next(r["pearson"] for r in first if r["relation"] == "fact")
        log.info(
            "depth %d seed %d: best NFA power %.3f (1/L = %.3f), FACT Pearson %.5f",
            config.depth,
            config.seed,
            max(nfa, key=nfa.get),
            1 / config.depth,
            fact,
        )
    table = pd.DataFrame.from_records(records)
    table["scale"] = args.settings.scale
    trained_with = distinct([trained_on(run) for run in runs])
    write_parquet(
        table, args.table, {"settings": to_json(args.settings), "trained_with": trained_with, "git_sha": git_sha()}
    )
    log.info("wrote %s (%d rows)", args.table, len(table))


if __name__ == "__main__":
    main()
