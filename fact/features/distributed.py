"""Sums over samples across the processes of ``torch.distributed``.

Every matrix of this wing is a sum over samples. When a process group is initialised (each rank
holding a shard of the data, as DistributedDataParallel trains), each rank sums over its shard and
the sums are all-reduced, so every rank gets the result one process would get from all the data.
Without a process group nothing here does anything.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def active() -> bool:
    """Whether a process group is initialised, so that sums must be taken over every rank."""
    return dist.is_available() and dist.is_initialized()


def total_samples(n: int, device: torch.device) -> int:
    """The number of samples over every rank."""
    count = torch.tensor(float(n), dtype=torch.float64, device=device)
    dist.all_reduce(count)
    return int(count.item())


def sum_over_ranks(tensors: list[torch.Tensor | None], what: str) -> None:
    """All-reduce ``tensors`` in place; every rank must hold the same ones (a None where a sum was never
    formed is the same None on every rank), or the ranks would wait on different collectives."""
    present = [tensor is not None for tensor in tensors]
    everyone: list[list[bool] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, present)
    if any(other != present for other in everyone):
        raise ValueError(
            f"the ranks formed different {what}: give every rank data for the same layers and at least one batch"
        )
    for tensor in tensors:
        if tensor is not None:
            dist.all_reduce(tensor)


def check_ranks(signature: dict, samples: int | None, what: str) -> None:
    """Refuse, on every rank with one message, ranks that would sum different things: ``signature`` (names,
    shapes, dtypes, lambda, loss, settings, ``fingerprint`` of the weights) must be the same on every rank,
    and every rank must hold a sample (unless ``samples`` is None). Called before any sum, so that no rank
    waits on a collective the others never make, and no sum mixes two models."""
    everyone: list[dict | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, {**signature, "samples": samples})
    empty = [rank for rank, other in enumerate(everyone) if other["samples"] == 0]  # None: not asked
    if empty:
        raise ValueError(f"{what}: ranks {empty} hold no samples; give each rank's shard at least one sample")
    keys = sorted({key for other in everyone for key in other} - {"samples"})
    differ = [key for key in keys if any(other.get(key) != everyone[0].get(key) for other in everyone)]
    if differ:
        shown = "; ".join(
            f"{key}: " + ", ".join(f"rank {rank} {_short(other.get(key))}" for rank, other in enumerate(everyone))
            for key in differ
        )
        raise ValueError(
            f"{what}: the ranks differ in {', '.join(differ)} ({shown}); every rank must compute with the same "
            "model, weights and settings, each on its own shard of the samples"
        )


def fingerprint(parameters) -> list[float]:
    """Each parameter's sum and sum of squares, in float64: equal on ranks that hold the same weights (as
    DistributedDataParallel keeps them), different where one rank's weights moved."""
    sums = [torch.stack([p.detach().double().sum(), p.detach().double().square().sum()]) for p in parameters]
    return torch.cat(sums).tolist() if sums else []


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def union(names: set[str]) -> set[str]:
    """The union over ranks of a set of names (layers one rank found to have no sample dimension)."""
    everyone: list[set[str] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, names)
    return set().union(*everyone)
