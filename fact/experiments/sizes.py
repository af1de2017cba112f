"""The least memory a model of the pipeline needs, from its settings alone (standard library only):
the workflow refuses, when the DAG is built, a size that no machine holds, and a training job one
that its own machine cannot hold, before any work."""

from __future__ import annotations

from fact.experiments.data.shapes import IMAGE_CLASSES, input_size

GIB = 2**30
NO_MACHINE_HOLDS = 4 * 2**40  # bytes: more than any one machine this pipeline runs on


def mlp_bytes(dataset: str, width: int, depth: int) -> int:
    """Bytes that the MLP's feature extraction holds at the least: its weights and, for every weight
    W, the Grams W^T W and W W^T, all in float64 (the matrices' pass holds several more of each)."""
    widths = [input_size(dataset), *[width] * (depth - 1), IMAGE_CLASSES]
    return 8 * sum(d_in * d_out + d_in**2 + d_out**2 for d_in, d_out in zip(widths[:-1], widths[1:]))


def mlp_size_problem(
    where: str, dataset: str, width: int, depth: int, available: int, available_where: str = "free here"
) -> str | None:
    """What to say when an MLP of this size cannot fit in ``available`` bytes; None when it can."""
    needed = mlp_bytes(dataset, width, depth)
    if needed <= available:
        return None
    return (
        f"{where}.width {width} (depth {depth}, on {dataset}) needs at least {needed / GIB:,.1f} GiB for its "
        f"weights and their Grams in float64, more than the {available / GIB:,.1f} GiB {available_where}: lower it"
    )
