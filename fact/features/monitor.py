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
a killed run keeps every record before it: ``fact.features.monitor_table``) and, given a ``SummaryWriter``, to
TensorBoard. A run resumed from a checkpoint goes on with its table and tau: save ``monitor.state_dict()``
with the checkpoint, and make the resumed run's monitor with ``resume=True`` and ``load_state_dict`` (the
Lightning and Hugging Face callbacks do both themselves, at the trainer's global step). Only steps the
optimizer took are counted (its step hook says), so a second ``step`` call for one step adds nothing. Under
``torch.distributed`` each rank passes its shard of the samples, the sums are all-reduced, and rank 0
writes. ``fact.features.monitor_plot.plot_monitor`` draws the table; ``monitor.summary()`` says which weights are
at a critical point and what holds the others off (``fact.features.monitor_advice``).

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

from fact.features import distributed, heads, loss_check
from fact.features.decay_time import DecayClock
from fact.features.losses import Loss, loss_name
from fact.features.monitor_advice import Summary, summarise
from fact.features.monitor_optimizer import OptimizerWatch, unwrapped
from fact.features.monitor_record import nfa_results, product_precision, record_rows
from fact.features.monitor_settings import (
    MONITOR_MEASURES,
    check_measures_kept,
    every_value,
    measures_value,
    powers_value,
    resumed_step,
    weight_decay_of,
    writes,
)  # fmt: skip
from fact.features.monitor_table import COLUMNS, check_writable, earlier_rows, scalars, write_atomically
from fact.features.objective import converged_below_value, weight_decay_value
from fact.features.weights import mean_loss_gradients, trained_views, weight_matrices

log = logging.getLogger(__name__)


class Monitor:
    """Records FACT, bFACT, stationarity and tau (and, asked, NFA and eNFA) of ``model`` during training.

    Parameters
    ----------
    model : the network being trained (its output a tensor: wrap a model that returns more).
    inputs, targets : the fixed samples (tensors), or a DataLoader of (x, y) as ``inputs``.
    loss : ``"mse"``, ``"sse"``, ``"half_sse"``, ``"ce"`` or a per-sample callable ``(outputs, targets) -> losses``.
    weight_decay : lambda of ``(1/n) sum loss_i + (lambda/2) ||theta||^2``, the objective FACT speaks of; None
        (default) reads it from the optimizer's groups at the first step counted (the followed weights' groups
        must agree on one lambda > 0), so a record before training needs it given.
    every : record every this many optimizer steps.
    names : the weight matrices to follow (``fact.features.weights`` names); None for every trained one.
    nfa : also record NFA and eNFA (a second pass, with Jacobians).
    agop_probes : random output directions of the sketched AGOP (None: exact, one per output).
    powers : the NFA's powers s of AGOP^s.
    batch_size : samples per pass over tensor inputs.
    seed : of the AGOP sketch's draws (a generator of its own; the global random state is untouched).
    path : a Parquet file to keep the table in; one that holds an earlier run's rows is refused unless ``resume``.
    writer : a ``torch.utils.tensorboard.SummaryWriter`` to send the Pearson correlations, stationarity and tau to.
    resume : this run goes on from a checkpoint: the rows at ``path`` are kept up to the step it resumes at,
        which ``load_state_dict`` (or ``resume_at``) gives before the first step.
    check_loss : compare, once, the training gradient of one step with the monitor's loss gradient, and warn
        where the loss the monitor computes is not the one training minimises (``fact.features.loss_check``).
    per_head : also record each attention q, k and v matrix head by head, ``<matrix>[head <h>]``
        (``fact.features.heads``), with its matrix's tau.
    measures : the agreement measures recorded (columns of the table): Pearson, cosine and relative error by
        default; add ``"spearman"`` for Spearman's, which ranks every entry of every matrix and costs more than
        the rest of a record.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs,
        targets=None,
        loss: Loss = "mse",
        weight_decay: float | None = None,
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
        resume: bool = False,
        check_loss: bool = True,
        per_head: bool = False,
        measures: Sequence[str] = MONITOR_MEASURES,
    ):
        self.model, self.inputs, self.targets, self.loss = model, inputs, targets, loss
        self.weight_decay = None if weight_decay is None else weight_decay_value(weight_decay)
        self.every, self.nfa, self.agop_probes, self.per_head = every_value(every), nfa, agop_probes, per_head
        self.powers, self.measures = powers_value(powers), measures_value(measures)
        self.columns = [*COLUMNS[:6], *self.measures, "stationarity_error"]
        self.batch_size, self.seed, self.writer = batch_size, seed, writer
        self.path = None if path is None else Path(path)
        if self.path is not None and writes():
            check_writable(self.path)
        self.names = list(trained_views(model, names))
        if per_head:  # refused now, not at the first record, after training has begun
            heads.counts_of(model, self.names)
        if distributed.active():  # a rank that records at other steps would leave the others waiting
            settings = {"every": self.every, "names": self.names, "weight_decay": self.weight_decay, "nfa": nfa}
            settings |= {"loss": loss_name(loss), "agop_probes": agop_probes, "powers": self.powers, "seed": seed}
            settings |= {"per_head": per_head, "measures": self.measures}
            distributed.check_ranks(settings, None, "Monitor")
        self.steps = 0
        self.clock = DecayClock()
        self._earlier = earlier_rows(self.path, resume)
        check_measures_kept(self._earlier, self.measures, self.path)
        self._records: list[dict] = []
        self._recorded_at: int | None = None
        self._known = not resume  # a resumed run's step and tau come from load_state_dict or resume_at
        self.optimizers = OptimizerWatch()
        self.check_loss = check_loss
        self.loss_check: loss_check.LossCheck | None = None
        self._loss_sums: loss_check.Sums | None = None  # the steps compared so far, while the check is undecided
        self.clip_norm: float | None = None  # where a framework clips gradients: the loss check's scale is moot then
        self.norm_before_clip: float | None = None  # ... unless the framework measured the norm the clip scaled down

    @property
    def parameters(self) -> dict[str, nn.Parameter]:
        """The followed weights' parameters by name, as the model holds them now (a layer replaced since the
        monitor was made is followed under its name)."""
        return {name: parameter for name, (parameter, _) in trained_views(self.model, self.names).items()}

    def step(self, optimizer: torch.optim.Optimizer) -> pd.DataFrame | None:
        """Count the optimizer step just taken; every ``every`` steps, record and return its rows."""
        self.count(optimizer)
        return self.record_if_due()

    def count(self, optimizer: torch.optim.Optimizer, before_step: bool = False) -> None:
        """Count one step of ``optimizer``, at the learning rate its groups hold now (a framework whose
        scheduler moves the rate before the monitor could read it counts just before the step, and says so
        with ``before_step``: the gradients are then those of the parameters as they are)."""
        optimizer = unwrapped(optimizer)
        self._require_position()
        if not self.optimizers.knows(optimizer):  # lambda is read at the first step of the first optimizer
            parameters = self.parameters
            if self.weight_decay is None:
                self.weight_decay = weight_decay_of(optimizer, parameters)
            self.optimizers.check(optimizer, parameters, self.weight_decay)
            self._plan_loss_check(optimizer, before_step)
        elif before_step and self._loss_sums is not None:
            self._check_loss(optimizer)
        if not self.optimizers.took_a_step(optimizer, self.steps):
            return
        self.clock.tick(optimizer)
        self.optimizers.tick(optimizer)
        self.steps += 1

    def _plan_loss_check(self, optimizer: torch.optim.Optimizer, before_step: bool) -> None:
        """Compare the training gradient with the monitor's until judged: now and at the next counts, where the
        gradients are those of the parameters as they are (counted before the step), else before each next step."""
        if not self.check_loss or self.loss_check is not None:
            return
        self._loss_sums = loss_check.Sums()
        if before_step:
            self._check_loss(optimizer)
            return

        def before_next_step(*_):
            if self._check_loss(optimizer):
                handle.remove()

        handle = optimizer.register_step_pre_hook(before_next_step)

    def _check_loss(self, optimizer: torch.optim.Optimizer) -> bool:
        """Add this step's training gradient of the followed weights (each parameter once) and the monitor's to
        the check; whether it is judged (and warned of, where the losses differ)."""
        followed = {id(p): p for p in self.parameters.values() if p.grad is not None}
        if self._loss_sums is None or not any(p.grad.any() for p in followed.values()):  # zeroed before the step
            return self._loss_sums is None
        with torch.enable_grad():
            gradients = mean_loss_gradients(self.model, self.inputs, self.targets, self.loss, self.batch_size)
        trained = [p for group in optimizer.param_groups for p in group["params"]]
        clip = (trained, self.clip_norm, self.norm_before_clip)
        training, clipped = loss_check.training_gradients(list(followed.values()), *clip)
        check = self._loss_sums.add(
            self.steps + 1, training, [gradients[key] for key in followed], list(followed.values()),
            self.weight_decay, clipped,
        )  # fmt: skip
        if check is None:
            return False
        self.loss_check, self._loss_sums = check, None
        if not check.agrees:
            log.warning(check.advice())
        return True

    @property
    def checking_loss(self) -> bool:
        """Whether the loss check is under way: started and not yet judged."""
        return self._loss_sums is not None

    def summary(self, converged_below: float = 0.2) -> Summary:
        """The last record judged weight by weight: at a critical point (stationarity error at most
        ``converged_below``) or not, and then what the numbers point to and what to change
        (``fact.features.monitor_advice``). ``print`` it, or read its ``table``."""
        converged_below = converged_below_value(converged_below)
        rates = self.optimizers.learning_rates(self.parameters)
        return summarise(self.table, self.optimizers, rates, self.weight_decay, self.loss_check, converged_below)

    def _require_position(self) -> None:
        if not self._known:
            raise ValueError(
                "this monitor resumes a run (resume=True) but was not told where: call "
                "monitor.load_state_dict(state) with the state saved beside the checkpoint, or "
                "monitor.resume_at(step), before the first step or record"
            )

    def state_dict(self) -> dict:
        """What a resumed run needs to go on: the steps counted, the last recorded, and tau of every followed
        weight. Save it with the checkpoint; ``load_state_dict`` takes it back."""
        parameters = self.parameters
        return {
            "steps": self.steps,
            "recorded_at": self._recorded_at,
            "tau": {name: self.clock.tau(parameter) for name, parameter in parameters.items()},
            "optimizers": self.optimizers.state_dict(parameters),
        }

    def load_state_dict(self, state: dict) -> None:
        """Go on from ``state_dict()`` as saved with a checkpoint: its steps, its tau, and the table's rows up to it."""
        if not isinstance(state, dict) or not {"steps", "recorded_at", "tau"} <= set(state):
            raise ValueError("load_state_dict takes what monitor.state_dict() returned: steps, recorded_at and tau")
        parameters = self.parameters
        unknown = sorted(set(parameters) - set(state["tau"]))
        if unknown:
            log.warning("the saved state has no tau of %s: their tau is NaN from here", unknown)
        for name, parameter in parameters.items():
            self.clock.set(parameter, state["tau"].get(name, math.nan))
        self.optimizers.load_state_dict(state.get("optimizers", {}), parameters)
        self._go_on_at(resumed_step(state["steps"]), state["recorded_at"])

    def resume_at(self, step: int) -> None:
        """Go on at ``step`` without a saved state: tau of the steps before it cannot be known, so it is NaN."""
        step = resumed_step(step)
        log.warning(
            "resumed at step %d without the monitor's saved state: tau before it cannot be known and is NaN from "
            "here; save monitor.state_dict() with your checkpoints",
            step,
        )
        for parameter in self.parameters.values():
            self.clock.set(parameter, math.nan)
        self._go_on_at(step, None)

    def _go_on_at(self, step: int, recorded_at: int | None) -> None:
        kept = [row for row in self._earlier if row["step"] <= step]
        if len(kept) < len(self._earlier):
            log.info(
                "dropped %d rows recorded after step %d, where this run resumes", len(self._earlier) - len(kept), step
            )
        self._records, self._earlier = kept, []
        self.steps, self._recorded_at, self._known = step, recorded_at, True

    def record_if_due(self) -> pd.DataFrame | None:
        """Record, and return the rows, when the steps counted are a multiple of ``every`` not yet recorded
        (not at step 0: ``record()`` before training records the start)."""
        if self.steps == 0 or self.steps % self.every or self._recorded_at == self.steps:
            return None
        return self.record()

    def record(self) -> pd.DataFrame:
        """Record the model as it is now (at ``self.steps``), e.g. once before training; returns the rows."""
        self._require_position()
        if self.weight_decay is None:
            raise ValueError(
                "weight_decay=None is read from the optimizer at the first step counted; to record before "
                "training, give the lambda of the objective (weight_decay=...) when making the monitor"
            )
        weights = weight_matrices(
            self.model, self.inputs, self.targets, self.loss, self.weight_decay, self.batch_size, self.names,
            per_head=self.per_head,
        )  # fmt: skip
        parameters = self.parameters
        precisions = {name: product_precision(parameters[heads.matrix_of(name)]) for name in weights}
        nfa = {}
        if self.nfa:  # its own draws, the same at a step whatever was recorded before
            generator = torch.Generator().manual_seed(self.seed + self.steps)
            nfa = nfa_results(
                self.model, weights, self.inputs, self.targets, self.loss, self.weight_decay,
                batch_size=self.batch_size, agop_probes=self.agop_probes, generator=generator, per_head=self.per_head,
            )  # fmt: skip
        owned = record_rows(weights, nfa, self.powers, self.measures, precisions)
        rows = []
        for owner, records in owned.items():
            tau = self.clock.tau(parameters[heads.matrix_of(owner)])  # a head's is its matrix's
            rows += [{**row, "step": self.steps, "tau": tau} for row in records]
        self._records += rows
        self._recorded_at = self.steps
        if writes():
            self._write(rows)
        return pd.DataFrame(rows, columns=self.columns)

    @property
    def table(self) -> pd.DataFrame:
        """Every row recorded so far: step, tau, layer, side, relation, power, pearson, spearman, cosine,
        relative_error, stationarity_error."""
        return pd.DataFrame(self._records, columns=self.columns)

    def _write(self, rows: list[dict]) -> None:
        if self.path is not None:
            write_atomically(self.table, self.path)
        if self.writer is not None and rows:
            for tag, value in scalars(rows).items():
                self.writer.add_scalar(tag, value, rows[0]["step"])
