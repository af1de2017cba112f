r"""Render one figure from results/, with the plotting function the rule names::

    python -m fact.experiments.stages.figure fact.experiments.plots.fig7:render \
        --inputs table.parquet matrices.pt --out figures/fig7.pdf

The inputs come in the order the function takes them; the figure and its caption are written together.
"""

from __future__ import annotations

import argparse
import importlib

from fact.experiments.jobs import require_writable, setup_logging, stop_if_unreadable


def plotting_function(name: str):
    """``package.module:function`` -> the function, imported."""
    module, _, function = name.partition(":")
    if not module.startswith("fact.experiments.plots.") or not function:
        raise SystemExit(f"error: {name!r} is not of the form fact.experiments.plots.<module>:<function>")
    return getattr(importlib.import_module(module), function)


def main(argv: list[str] | None = None) -> None:
    """Draw one figure with the named plotting function (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="fact.experiments.plots.<module>:<function> that draws the figure")
    parser.add_argument("--inputs", nargs="*", default=[], help="the figure's result files, in the rule's order")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    log = setup_logging("figure")
    require_writable(args.out, log)
    with stop_if_unreadable(log):
        plotting_function(args.function)(*args.inputs, out=args.out)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
