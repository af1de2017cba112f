r"""Aggregate the per-dataset Table 1 results into the table (Markdown, LaTeX, PDF) and its figure.

python -m fact.experiments.stages.table1 --inputs results/<scale>/tabular/*.parquet \
        --markdown figures/table1.md --latex figures/table1.tex --pdf figures/table1.pdf \
        --scatter figures/table1_scatter.pdf
"""

from __future__ import annotations

import argparse

from fact.experiments.jobs import require_writable, setup_logging, stop_if_unreadable
from fact.experiments.plots import table1


def main(argv: list[str] | None = None) -> None:
    """Aggregate the per-dataset tables into Table 1 (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", nargs="+", required=True, help="one Parquet table per dataset")
    for output in ("markdown", "latex", "pdf", "scatter"):
        parser.add_argument(f"--{output}", required=True)
    args = parser.parse_args(argv)
    log = setup_logging("table1")
    for output in (args.markdown, args.latex, args.pdf, args.scatter):
        require_writable(output, log)
    with stop_if_unreadable(log):
        table1.render(*args.inputs, markdown=args.markdown, latex=args.latex, pdf=args.pdf, scatter=args.scatter)
    log.info("wrote %s, %s, %s and %s", args.markdown, args.latex, args.pdf, args.scatter)


if __name__ == "__main__":
    main()
