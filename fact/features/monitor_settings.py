"""The monitor's settings, checked when it (or a framework's callback holding it) is made, not at the first
record after training has run."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from pathlib import Path

import torch

from fact.features import distributed
from fact.features.monitor_optimizer import groups_by_parameter
from fact.features.monitor_table import check_writable
from fact.features.names import MEASURES
from fact.features.real_number import real_number


def writes() -> bool:
    """Whether this process writes the table (every process without torch.distributed; rank 0 with it)."""
    return not distributed.active() or torch.distributed.get_rank() == 0


def resumed_step(step) -> int:
    """The step a resumed run goes on at: a whole number >= 0."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"a resumed run's step is a whole number of optimizer steps >= 0, got {step!r}")
    return int(step)


def every_value(every) -> int:
    """Steps between records: a whole number >= 1 of any integer type (NumPy's too), not a bool."""
    if isinstance(every, bool) or not (isinstance(every, numbers.Integral) and every >= 1):
        raise ValueError(f"every must be a whole number of steps >= 1, got {every!r}")
    return int(every)


CALLBACK_OPTIONS = {
    "every", "names", "nfa", "agop_probes", "powers", "batch_size", "seed", "path", "writer", "per_head", "measures",
}  # fmt: skip


def check_callback_options(options: dict) -> None:
    """Check a callback's Monitor keywords when the callback is made, not when training starts."""
    if "resume" in options:
        raise TypeError("the callback resumes by itself, at the trainer's global step: leave resume out")
    unknown = sorted(set(options) - CALLBACK_OPTIONS)
    if unknown:
        raise TypeError(f"unknown Monitor options {unknown}; the options are {sorted(CALLBACK_OPTIONS)}")
    if "every" in options:
        every_value(options["every"])
    if "powers" in options:
        powers_value(options["powers"])
    if options.get("path") is not None and writes():
        check_writable(Path(options["path"]))


def powers_value(powers) -> tuple[float, ...]:
    """The NFA's powers, each a finite number > 0, checked when the monitor is made."""
    if isinstance(powers, (str, bytes)) or not isinstance(powers, Iterable):
        raise ValueError(f"powers must be a sequence of the NFA's powers s > 0, such as (0.5,), got {powers!r}")
    return tuple(real_number(power, "each of powers", positive=True, meaning="the s of AGOP^s") for power in powers)


# Spearman's correlation ranks every entry of every matrix compared, the largest cost of a record by far
# (bench/README.md): a monitor computes it only where asked
MONITOR_MEASURES = ("pearson", "cosine", "relative_error")


def measures_value(measures) -> tuple[str, ...]:
    """The agreement measures a monitor records: some of fact.features.names.MEASURES, Pearson's among them."""
    if isinstance(measures, (str, bytes)) or not isinstance(measures, Iterable):
        raise ValueError(f"measures must be a sequence of measure names such as {MONITOR_MEASURES}, got {measures!r}")
    measures = tuple(dict.fromkeys(str(measure) for measure in measures))
    unknown = sorted(set(measures) - set(MEASURES))
    if unknown or "pearson" not in measures:
        raise ValueError(
            f"measures must name some of {list(MEASURES)}, Pearson's among them (the summary judges by it); "
            f"got {list(measures)}"
        )
    return measures


def check_measures_kept(earlier: list[dict], measures: tuple[str, ...], path) -> None:
    """Refuse to go on with a table whose earlier rows hold a measure this monitor would not record: rewriting
    the table with this monitor's columns would drop it."""
    held = [measure for measure in MEASURES if measure not in measures and earlier and measure in earlier[0]]
    if held:
        raise ValueError(
            f"{path} holds the earlier run's {held}, which measures={list(measures)} leaves out: add them to "
            "measures to go on with that table, or give another path"
        )


def weight_decay_of(optimizer: torch.optim.Optimizer, parameters: dict) -> float:
    """The lambda ``optimizer`` decays the followed ``parameters`` (by name) with: their groups' one weight decay,
    or a ValueError naming the groups' values where they hold none or several."""
    groups = groups_by_parameter(optimizer)
    decays = {name: groups[id(p)].get("weight_decay", 0.0) for name, p in parameters.items() if id(p) in groups}
    values = sorted(set(decays.values()))
    if len(values) != 1 or not values[0] > 0:
        raise ValueError(
            f"weight_decay=None reads lambda from the optimizer, whose groups decay the followed weights with "
            f"{values or 'nothing'} ({decays}): give weight_decay=... (the lambda of the objective), or follow "
            "the weights of one group with names=[...]"
        )
    return float(values[0])
