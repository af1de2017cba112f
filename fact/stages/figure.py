"""Render one figure or table from results/.

    python -m fact.stages.figure fig7 --inputs table.parquet matrices.pt --out figures/fig7.pdf
"""

from __future__ import annotations

import argparse

from fact.plots import FIGURES
from fact.stages.common import setup_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("figure", choices=sorted(FIGURES))
    parser.add_argument("--inputs", nargs="*", default=[], help="the figure's result files, in the rule's order")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    log = setup_logging("figure")
    FIGURES[args.figure](*args.inputs, out=args.out)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
