"""FACT of a model while it trains, in any training loop: is the network at a critical point yet, and
which relation describes its weights now? (The question of the paper's Figure 8, for your own runs.)

Two lines in a plain loop::

    monitor = Monitor(model, inputs, targets, loss="ce", weight_decay=1e-2, every=100)
    ...
    optimizer.step()
    monitor.step(optimizer)  # right after the step, before a scheduler changes the learning rate

Every ``every`` steps it records, for every trained weight matrix (``fact.features.weights``), on a fixed
set of samples: the stationarity error ``||grad_W Lbar + lambda W|| / ||lambda W||`` (FACT holds where it
is small), tau (how long weight decay has acted, from the optimizer: ``fact.features.decay_time``), and
the agreement (Pearson, Spearman, cosine, relative error) of W^T W with FACT and of W W^T with bFACT,
from one backward pass over the samples. With ``nfa=True`` also the NFA (AGOP^s, with the AGOP sketched
from ``agop_probes`` random output directions unless None) and the eNFA, and their backward forms, for the
matrices whose inputs a registered view knows (``fact.features.layer_views``), in a second pass.

Rows go to one tidy table (``Monitor.table``; Parquet at ``path``, rewritten whole after each record, so
a killed run keeps every record before it) and, given a ``SummaryWriter``, to TensorBoard. Under
``torch.distributed`` each rank passes its shard of the samples, the sums are all-reduced, and rank 0
writes. ``fact.features.monitor_plot.plot_monitor`` draws the table.

The monitor leaves the model's gradients, train/eval modes and the global random state as they were.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from fact.features import distributed
from fact.features.decay_time import NO_TAU, DecayClock, decay_rate
from fact.features.layer_matrices import agreement_records
from fact.features.layer_views import model_matrices
from fact.features.losses import Loss
from fact.features.matrices import feature_matrices
from fact.features.objective import weight_decay_value
from fact.features.weights import trained_views, weight_matrices

log = logging.getLogger(__name__)

FACT_RELATIONS = (("forward", "fact"), ("backward", "bfact"))


class Monitor:
    """Records FACT, bFACT, stationarity and tau (and, asked, NFA and eNFA) of ``model`` during training.

    Parameters
    ----------
    model : the network being trained (its output a tensor: wrap a model that returns more).
    inputs, targets : the fixed samples (tensors), or a DataLoader of (x, y) as ``inputs``.
    loss : ``"mse"``, ``"ce"`` or a per-sample callable ``(outputs, targets) -> losses``.
    weight_decay : lambda of ``(1/n) sum loss_i + (lambda/2) ||theta||^2``, the objective FACT speaks of.
    every : record every this many optimizer steps.
    names : the weight matrices to follow (``fact.features.weights`` names); None for every trained one.
    nfa : also record NFA and eNFA (a second pass, with Jacobians).
    agop_probes : random output directions of the sketched AGOP (None: exact, one per output).
    powers : the NFA's powers s of AGOP^s.
    batch_size : samples per pass over tensor inputs.
    seed : of the AGOP sketch's draws (a generator of its own; the global random state is untouched).
    path : a Parquet file to keep the table in.
    writer : a ``torch.utils.tensorboard.SummaryWriter`` to send the Pearson correlations, stationarity and tau to.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs,
        targets=None,
        loss: Loss = "mse",
        weight_decay: float = 0.0,
        *,
        every: int = 100,
        names: Iterable[str] | None = None,
        nfa: bool = False,
        agop_probes: int | None = 8,
        powers: Sequence[float] = (0.5,),
        batch_size: int | None = 1024,
        seed: int = 0,
        path: str | os.PathLike | None = None,
        writer=None,
    ):
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every must be a whole number of steps >= 1, got {every!r}")
        self.model, self.inputs, self.targets, self.loss = model, inputs, targets, loss
        self.weight_decay = weight_decay_value(weight_decay)
        self.every, self.nfa, self.agop_probes, self.powers = every, nfa, agop_probes, tuple(powers)
        self.batch_size, self.seed, self.writer = batch_size, seed, writer
        self.path = None if path is None else Path(path)
        self.parameters = {name: parameter for name, (parameter, _) in trained_views(model, names).items()}
        self.names = list(self.parameters)
        self.steps = 0
        self.clock = DecayClock()
        self._records: list[dict] = []
        self._recorded_at: int | None = None
        self._checked: set[int] = set()  # optimizers already checked against lambda

    def step(self, optimizer: torch.optim.Optimizer) -> pd.DataFrame | None:
        """Count the optimizer step just taken; every ``every`` steps, record and return its rows."""
        self.count(optimizer)
        return self.record_if_due()

    def count(self, optimizer: torch.optim.Optimizer) -> None:
        """Count one step of ``optimizer``, at the learning rate its groups hold now (a framework whose
        scheduler moves the rate before the monitor could read it counts just before the step)."""
        optimizer = unwrapped(optimizer)
        if id(optimizer) not in self._checked:
            self._check(optimizer)
        self.clock.tick(optimizer)
        self.steps += 1

    def record_if_due(self) -> pd.DataFrame | None:
        """Record, and return the rows, when the steps counted are a multiple of ``every`` not yet recorded
        (not at step 0: ``record()`` before training records the start)."""
        if self.steps == 0 or self.steps % self.every or self._recorded_at == self.steps:
            return None
        return self.record()

    def record(self) -> pd.DataFrame:
        """Record the model as it is now (at ``self.steps``), e.g. once before training; returns the rows."""
        weights = weight_matrices(
            self.model, self.inputs, self.targets, self.loss, self.weight_decay, self.batch_size, self.names
        )
        comparisons = {
            name: [(side, relation, math.nan, getattr(weight, relation)) for side, relation in FACT_RELATIONS]
            for name, weight in weights.items()
        }
        if self.nfa:
            for name, more in self._nfa_comparisons(set(weights)).items():
                comparisons[name] += more
        rows = [
            row
            for name, weight in weights.items()
            for row in agreement_records(weight, comparisons[name], weight.stationarity_error)
        ]
        for row in rows:
            row.update(step=self.steps, tau=self.clock.tau(self.parameters[row["layer"]]))
        self._records += rows
        self._recorded_at = self.steps
        if _writes():
            self._write(rows)
        return pd.DataFrame(rows, columns=COLUMNS)

    @property
    def table(self) -> pd.DataFrame:
        """Every row recorded so far: step, tau, layer, side, relation, power, pearson, spearman, cosine,
        relative_error, stationarity_error."""
        return pd.DataFrame(self._records, columns=COLUMNS)

    def _nfa_comparisons(self, names: set[str]) -> dict[str, list]:
        """NFA and eNFA comparisons (side, relation, power, predicted matrix) of the followed matrices whose
        inputs a registered view knows, by name."""
        if not names & set(model_matrices(self.model)):
            return {}
        generator = torch.Generator().manual_seed(self.seed + self.steps)
        # every layer, so that one without a sample dimension (a position embedding) is left out, not refused
        results = feature_matrices(
            self.model, self.inputs, self.targets, self.loss, self.weight_decay,
            batch_size=self.batch_size, agop_probes=self.agop_probes, generator=generator,
        )  # fmt: skip
        return {name: result.ansatz_comparisons(self.powers) for name, result in results.items() if name in names}

    def _check(self, optimizer: torch.optim.Optimizer) -> None:
        """Warn once per optimizer where its weight decay is not the lambda FACT is computed with, where
        it has no tau, and where it does not train a followed weight."""
        self._checked.add(id(optimizer))
        groups = {id(p): group for group in optimizer.param_groups for p in group["params"]}
        followed = {name: groups.get(id(p)) for name, p in self.parameters.items()}
        missing = sorted(name for name, group in followed.items() if group is None)
        other = sorted(
            name for name, group in followed.items() if group and group.get("weight_decay", 0.0) != self.weight_decay
        )
        no_tau = sorted(name for name, group in followed.items() if group and math.isnan(decay_rate(optimizer, group)))
        if other:
            log.warning(
                "the optimizer decays %s with another weight decay than weight_decay=%g: their FACT and "
                "stationarity speak of an objective they are not trained on",
                other,
                self.weight_decay,
            )
        if no_tau:
            log.warning("tau of %s is NaN: %s", no_tau, NO_TAU)
        if missing:
            log.warning("%s are in none of the optimizer's parameter groups: their tau stays 0", missing)

    def _write(self, rows: list[dict]) -> None:
        if self.path is not None:
            _write_atomically(self.table, self.path)
        if self.writer is not None:
            for row in rows:
                power = "" if math.isnan(row["power"]) else f"^{row['power']:g}"
                self.writer.add_scalar(f"pearson/{row['layer']}/{row['relation']}{power}", row["pearson"], row["step"])
            for row in rows:
                if row["relation"] == "fact":
                    self.writer.add_scalar(f"stationarity/{row['layer']}", row["stationarity_error"], row["step"])
                    self.writer.add_scalar(f"tau/{row['layer']}", row["tau"], row["step"])


COLUMNS = [
    "step",
    "tau",
    "layer",
    "side",
    "relation",
    "power",
    "pearson",
    "spearman",
    "cosine",
    "relative_error",
    "stationarity_error",
]


def unwrapped(optimizer) -> torch.optim.Optimizer:
    """The PyTorch optimizer inside a framework's wrapper (accelerate's ``.optimizer``, Lightning's
    ``._optimizer``), whose class says how its weight decay acts."""
    while not isinstance(optimizer, torch.optim.Optimizer):
        inner = getattr(optimizer, "optimizer", None) or getattr(optimizer, "_optimizer", None)
        if inner is None:
            raise TypeError(f"monitor.step takes the optimizer that trains the model, not {type(optimizer).__name__}")
        optimizer = inner
    return optimizer


def _writes() -> bool:
    """Whether this process writes the table (every process without torch.distributed; rank 0 with it)."""
    return not distributed.active() or torch.distributed.get_rank() == 0


def _write_atomically(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    table.to_parquet(partial, index=False)
    os.replace(partial, path)
