r"""Every trained layer's FACT and NFA agreement beside its stationarity error, in one table (Figure 14).

    python -m fact.experiments.stages.convergence \
        --inputs results/<scale>/features/{mlp,deep_linear,fig7,transformer,cnn}.parquet \
        --table results/<scale>/features/convergence.parquet

Each input is an extraction table, named by its file (fact.experiments.convergence.ARCHITECTURES).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fact.experiments.convergence import ARCHITECTURES, FACT_LEVEL, holds_below, points
from fact.experiments.io import read_parquet, read_parquet_metadata, write_parquet
from fact.experiments.jobs import fail, require_writable, setup_logging, stop_if_unreadable
from fact.experiments.provenance import git_sha


def main(argv: list[str] | None = None) -> None:
    """Join every extraction table into the convergence table (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", nargs="+", required=True, help="extraction tables, e.g. features/mlp.parquet")
    parser.add_argument("--table", required=True, help="the Parquet table to write")
    args = parser.parse_args(argv)
    log = setup_logging("convergence")
    require_writable(args.table, log)
    unknown = [path for path in args.inputs if Path(path).stem not in ARCHITECTURES]
    if unknown:
        fail(
            log,
            f"{', '.join(unknown)}: not an extraction table; give {', '.join(f'{n}.parquet' for n in ARCHITECTURES)}",
        )
    with stop_if_unreadable(log):
        tables = {Path(path).stem: read_parquet(path) for path in args.inputs}
        metadata = [read_parquet_metadata(path) for path in args.inputs]
    table = points(tables)
    table["scale"] = next(iter(tables.values())).scale.iloc[0]
    trained_with = [config for entry in metadata for config in entry.get("trained_with", [])]
    write_parquet(
        table,
        args.table,
        {
            "settings": {"inputs": sorted(tables), "fact_level": FACT_LEVEL},
            "trained_with": trained_with,
            "git_sha": git_sha(),
        },
    )
    log.info(
        "wrote %s (%d layer states); Pearson(W^T W, FACT) >= %g wherever the stationarity error is at most %.3g",
        args.table,
        len(table),
        FACT_LEVEL,
        holds_below(table),
    )


if __name__ == "__main__":
    main()
