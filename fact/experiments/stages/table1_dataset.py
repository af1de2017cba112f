r"""Run the Table 1 protocol on one dataset for every method (one job per dataset).

    python -m fact.experiments.stages.table1_dataset --settings '{...}' \
        --table results/<scale>/tabular/<dataset>.parquet

The settings name the dataset and where it comes from: ``source: sklearn`` (bundled with
scikit-learn, offline) or ``source: uci121`` (fetched to ``data_root``; a dataset the fetch
could not verify gives a table that says so, and the aggregation lists it as unavailable).

Each method's rows are kept in ``<table>.partial/<method>.parquet`` as soon as they are done,
so a job killed on a large dataset (chess-krvk takes over an hour on a CPU core) starts again
from the first unfinished method; a kept file is used only if it was made with the same
settings and the same code (the hash of this stage's source files). The folder is removed
once the table is written.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fact.experiments.data import uci121
from fact.experiments.data.manifest import dataset_status
from fact.experiments.data.protocol_splits import load_sklearn
from fact.experiments.io import reusable_rows, write_parquet
from fact.experiments.job_settings import to_json
from fact.experiments.jobs import resolve_device, start_stage
from fact.experiments.provenance import code_hash, git_sha
from fact.experiments.table1_protocol import Protocol, evaluate
from fact.kernel_machines.kernels import Kernel


@dataclass(frozen=True)
class TabularSettings:
    """One dataset's job (config.yaml: tabular), with that dataset's normalisations."""

    dataset: str
    source: str  # sklearn (bundled, offline) or uci121 (fetched to data_root)
    data_root: str
    split_seed: int
    methods: dict  # method name -> the RFM's update options
    kernel: Kernel
    regs: tuple[float, ...]
    normalise: tuple[bool, ...]
    iters: int
    fold_features: str
    agop_max_samples: int
    dtype: str
    device: str
    scale: str


def protocol_from(settings: TabularSettings) -> Protocol:
    """The Table 1 protocol the job's settings describe."""
    return Protocol(
        settings.kernel,
        regs=settings.regs,
        normalise=settings.normalise,
        iters=settings.iters,
        fold_features=settings.fold_features,
        dtype=settings.dtype,
        device=str(resolve_device(settings.device)),
        agop_max_samples=settings.agop_max_samples,
    )


def unavailable_reason(settings: TabularSettings) -> str | None:
    """Why a UCI-121 dataset cannot be used (from the fetch's status file), or None."""
    status = dataset_status(Path(settings.data_root), "uci121", settings.dataset)
    return None if status["available"] else status["reason"]


def evaluate_methods(dataset, settings: TabularSettings, partial_dir: Path, log) -> pd.DataFrame:
    """Every method's rows, reusing those a killed run of the same settings and code left in ``partial_dir``."""
    protocol = protocol_from(settings)
    made_by = {"settings": to_json(settings), "code": code_hash("fact.experiments.stages.table1_dataset")}
    shared_folds = {}
    tables = []
    partial_dir.mkdir(parents=True, exist_ok=True)
    for method, options in settings.methods.items():
        kept = partial_dir / f"{method}.parquet"
        reused = reusable_rows(kept, made_by, log)
        if reused is not None:
            log.info(
                "%s %s: taken from %s (an earlier run with the same settings and code)", dataset.name, method, kept
            )
            tables.append(reused)
            continue
        table = evaluate(dataset, method, options, protocol, seed=settings.split_seed, fold_cache=shared_folds)
        write_parquet(table, kept, {"made_by": made_by})
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    """Run the Table 1 protocol on one dataset (see the module docstring)."""
    args, log = start_stage("tabular", __doc__, TabularSettings, argv, files=("table",))
    s: TabularSettings = args.settings
    name = s.dataset
    partial_dir = Path(f"{args.table}.partial")
    reason = unavailable_reason(s) if s.source == "uci121" else None
    if reason:
        log.warning("%s is unavailable: %s", name, reason)
        table = pd.DataFrame(
            [{"dataset": name, "method": method, "status": "unavailable", "reason": reason} for method in s.methods]
        )
    else:
        if s.source == "uci121":
            dataset = uci121.load(Path(s.data_root) / "uci121" / name)
        else:
            dataset = load_sklearn(name, s.split_seed)
        log.info("%s: n = %d, d = %d, %d classes (%s)", name, *dataset.X.shape, dataset.n_classes, dataset.source)
        table = evaluate_methods(dataset, s, partial_dir, log)
        table["status"], table["reason"] = "ok", ""
        table["n"], table["d"], table["classes"] = *dataset.X.shape, dataset.n_classes
    table["source"], table["scale"], table["fold_features"] = s.source, s.scale, s.fold_features
    write_parquet(table, args.table, {"settings": to_json(s), "git_sha": git_sha()})
    shutil.rmtree(partial_dir, ignore_errors=True)
    log.info("wrote %s", args.table)


if __name__ == "__main__":
    main()
