"""Minibatch SGD for the networks of Figures 2 and 8-11, resumable after a kill.

The objective is the one FACT is stated for, (1/n) sum_i loss_i + (lambda/2) ||theta||^2:
``weight_decay`` is lambda (PyTorch's SGD adds lambda * theta to each gradient), and the loss
is the per-sample mean of squared errors over the outputs, averaged over the batch
(``nn.MSELoss``), as ``fact.features.matrices`` assumes for ``loss="mse"``.

Everything random is a function of (seed, epoch): the initial weights come from the seed
and each epoch's batch order from its own generator. A run that is killed and resumed from
its last saved state therefore ends with the same weights as one that never stopped. The
data stay on the device; the loop syncs with the host once per epoch.

A saved state is resumed only by the run that made it: it carries the settings, the
data's hash, the parameter shapes, the hash of the training code and whatever the caller
adds (``identity``: a stage passes its whole settings and the hash of its own code). A
state made otherwise is discarded with a log line, never continued with other values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from fact.experiments.io import load_torch, save_torch
from fact.experiments.polish import polish_lbfgs, stationarity_errors
from fact.experiments.provenance import code_hash
from fact.features.decay_time import decay_rate
from fact.features.errors import NonFiniteLossError
from fact.features.objective import converged_below_value
from fact.features.real_number import real_number

log = logging.getLogger(__name__)


LOSS = "mse"  # what _epoch minimises (nn.MSELoss), by its name in fact.features.losses


@dataclass(frozen=True)
class SGDSettings:
    """SGD with momentum and a cosine learning-rate decay from lr to lr * final_lr_ratio."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    momentum: float = 0.9
    final_lr_ratio: float = 0.0
    converged_below: float = 0.2  # "converged": every weight's stationarity error at most this at the end
    polish_steps: int = 0  # then full-batch L-BFGS steps in float64 until converged (fact.experiments.polish); 0: none

    def __post_init__(self) -> None:
        """Refuse a bad value (a string, a negative rate, a threshold no critical point meets) when the settings
        are made, not after training."""
        for name in ("epochs", "batch_size", "polish_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "polish_steps" else 1):
                raise ValueError(
                    f"{name} must be a whole number {'>= 0' if name == 'polish_steps' else '>= 1'}, got {value!r}"
                )
        real_number(self.lr, "lr", positive=True)
        real_number(self.weight_decay, "weight_decay")
        real_number(self.final_lr_ratio, "final_lr_ratio")
        if not 0 <= real_number(self.momentum, "momentum") < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        converged_below_value(self.converged_below)

    def lr_at(self, step: int, total_steps: int) -> float:
        """The learning rate at ``step`` of ``total_steps``: cosine from lr down to lr * final_lr_ratio."""
        final = self.lr * self.final_lr_ratio
        return final + (self.lr - final) * (1 + math.cos(math.pi * step / max(total_steps, 1))) / 2


class UnreadableStateError(RuntimeError):
    """A resumable state exists but cannot be read or restored."""


def _epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def train_sgd(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    settings: SGDSettings,
    seed: int,
    state_path: str | Path,
    keep_epochs: tuple[int, ...] = (),
    stop_after: int | None = None,
    identity: dict | None = None,
) -> dict:
    """Train ``model`` in place on (X, Y); return {"history", "checkpoints", "stationarity", "converged",
    "finished"}: every weight's stationarity error at the end, and whether all are at most
    ``converged_below`` (a low loss is not a critical point; only there does FACT have to hold).

    ``keep_epochs`` lists the epochs whose weights are kept (0 = at initialisation).
    ``state_path`` holds the resumable state, rewritten atomically after every epoch: a
    call that finds it continues from there. ``stop_after`` ends the call after that many
    epochs of this call (for tests of resumption). The state outlives the call: the caller
    removes it (``discard_state``) once what this returns is saved, so that a kill before
    then loses no epoch. ``identity`` (JSON-like) is what else must match for a state to be
    resumed, beside what this function checks itself (see the module's docstring).
    """
    state_path = Path(state_path)
    optimiser = torch.optim.SGD(
        model.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    made_by = run_identity(model, X, Y, settings, seed, keep_epochs, identity)
    state = _resumable_state(state_path, made_by, model, optimiser)
    if state is None:
        state = {"epoch": 0, "history": [], "checkpoints": {}, "made_by": made_by}
        if 0 in keep_epochs:
            state["checkpoints"][0] = _weights(model)

    done_this_call = 0
    while state["epoch"] < settings.epochs and (stop_after is None or done_this_call < stop_after):
        _record_epoch(state, model, optimiser, X, Y, settings, seed, keep_epochs)
        save_torch(state, state_path)
        done_this_call += 1

    history = pd.DataFrame(state["history"], columns=["epoch", "train_loss", "lr", "tau", "seconds"])
    finished = state["epoch"] >= settings.epochs
    # a kill during the polish repeats it from the last epoch's saved state
    polish = _polish(model, X, Y, settings, state["checkpoints"]) if finished and settings.polish_steps else None
    stationarity = final_stationarity(model, X, Y, settings, history) if finished else {}
    converged = bool(stationarity) and max(stationarity.values()) <= settings.converged_below
    return {
        "history": history,
        "checkpoints": state["checkpoints"],
        "stationarity": stationarity,
        "converged": converged,
        "finished": finished,
        "polish": polish,
    }


def _record_epoch(
    state: dict,
    model: nn.Module,
    optimiser: torch.optim.SGD,
    X: torch.Tensor,
    Y: torch.Tensor,
    settings: SGDSettings,
    seed: int,
    keep_epochs: tuple[int, ...],
) -> None:
    """Train the next epoch and record it in ``state``: its history row (loss, learning rate, tau,
    seconds), the weights where kept, and the model and optimiser to resume from."""
    epoch = state["epoch"] + 1
    start = time.perf_counter()
    mean_loss, lr_sum = _epoch(model, optimiser, X, Y, settings, seed, epoch)
    if not math.isfinite(mean_loss):
        raise NonFiniteLossError(f"epoch {epoch}: the training loss is {mean_loss}; lower lr or raise batch_size")
    # every group has the run's lambda and momentum: tau is the first group's (fact.features.decay_time)
    tau = (state["history"][-1]["tau"] if state["history"] else 0.0) + decay_rate(
        optimiser, optimiser.param_groups[0]
    ) * lr_sum
    seconds = time.perf_counter() - start
    row = {
        "epoch": epoch,
        "train_loss": mean_loss,
        "lr": optimiser.param_groups[0]["lr"],
        "tau": tau,
        "seconds": seconds,
    }
    state["history"].append(row)
    if epoch in keep_epochs:
        state["checkpoints"][epoch] = _weights(model)
    state.update(epoch=epoch, model=model.state_dict(), optimiser=optimiser.state_dict())
    log.info("epoch %d/%d: mean batch loss %.3e (%.2fs)", epoch, settings.epochs, mean_loss, seconds)


def _epoch(
    model: nn.Module,
    optimiser: torch.optim.SGD,
    X: torch.Tensor,
    Y: torch.Tensor,
    settings: SGDSettings,
    seed: int,
    epoch: int,
) -> tuple[float, float]:
    """One epoch of minibatch SGD on the mean squared error in the run's seeded order, the learning
    rate set per step; returns the mean batch loss and the sum of the learning rates (for tau)."""
    n = len(X)
    steps_per_epoch = math.ceil(n / settings.batch_size)
    order = _epoch_order(n, seed, epoch, X.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=X.device)
    lr_sum = 0.0
    for batch, first in enumerate(range(0, n, settings.batch_size)):
        lr = settings.lr_at((epoch - 1) * steps_per_epoch + batch, settings.epochs * steps_per_epoch)
        lr_sum += lr
        for group in optimiser.param_groups:
            group["lr"] = lr
        rows = order[first : first + settings.batch_size]
        optimiser.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(X[rows]), Y[rows])
        loss.backward()
        optimiser.step()
        loss_sum += loss.detach() * len(rows)
    return float(loss_sum) / n, lr_sum  # the epoch's one host sync


def discard_state(state_path: str | Path) -> None:
    """Remove the resumable state of a run whose result is saved."""
    Path(state_path).unlink(missing_ok=True)


def _polish(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    settings: SGDSettings,
    checkpoints: dict[int, dict[str, torch.Tensor]],
) -> dict:
    """Polish the trained network (fact.experiments.polish); the last epoch's checkpoint becomes the polished weights,
    the network handed on, and the returned record says how far SGD alone had come."""
    result = polish_lbfgs(
        model,
        X,
        Y,
        LOSS,
        settings.weight_decay,
        settings.converged_below,
        settings.polish_steps,
        batch_size=settings.batch_size * 16,
    )
    checkpoints[settings.epochs] = _weights(model)
    log.info(
        "polished with %d L-BFGS steps in %.0fs, keeping the state after %d: largest stationarity error %.3g -> %.3g",
        result["steps"],
        result["seconds"],
        result["kept_step"],
        max(result["stationarity_before"].values()),
        max(result["stationarity"].values()),
    )
    return result


# Below this tau weight decay has not had the time to act: in our 5-layer MLP runs FACT's agreement
# with W^T W followed tau, from 0.5-0.95 per layer at tau 0.3 to 0.98-1.00 at tau 2.4
ENOUGH_TAU = 2.0


def final_stationarity(
    model: nn.Module, X: torch.Tensor, Y: torch.Tensor, settings: SGDSettings, history: pd.DataFrame
) -> dict[str, float]:
    """Every weight's ||grad_W Lbar + lambda W|| / ||lambda W|| on the whole training set, logged with
    tau, and a warning with what to change when tau is too short for weight decay to have acted."""
    stationarity = stationarity_errors(model, X, Y, LOSS, settings.weight_decay, settings.batch_size * 16)
    tau = float(history.tau.iloc[-1]) if len(history) else 0.0
    log.info(
        "end of training: tau %.2f, stationarity error per weight %s",
        tau,
        {name: round(value, 3) for name, value in stationarity.items()},
    )
    largest = max(stationarity.values(), default=float("nan"))
    if tau < ENOUGH_TAU and not largest <= settings.converged_below:
        log.warning(
            "tau = %.2f < %g: weight decay has not had the time to act, so the network is likely not at a "
            "critical point (largest stationarity error %.3g); raise epochs, weight_decay or polish_steps",
            tau,
            ENOUGH_TAU,
            largest,
        )
    return stationarity


def run_identity(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    settings: SGDSettings,
    seed: int,
    keep_epochs: tuple[int, ...],
    identity: dict | None,
) -> dict:
    """Everything that decides a run's weights, as plain values: a saved state must match it to be resumed."""
    return {
        "settings": dataclasses.asdict(settings),
        "seed": seed,
        "keep_epochs": sorted(keep_epochs),
        "parameters": {name: [list(value.shape), str(value.dtype)] for name, value in model.state_dict().items()},
        "data": _tensor_hash(X, Y),
        "code": code_hash(__name__),
        "caller": identity,
    }


def _tensor_hash(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{list(tensor.shape)} {tensor.dtype};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _resumable_state(path: Path, made_by: dict, model: nn.Module, optimiser: torch.optim.Optimizer) -> dict | None:
    """The state saved at ``path``, restored into model and optimiser, if this run made it; else None."""
    if not path.exists():
        return None
    try:
        state = load_torch(path)
    except Exception as error:  # truncated, not a torch file, unreadable: each says the same thing to the user
        raise UnreadableStateError(
            f"cannot read the resumable training state {path} ({type(error).__name__}: {str(error)[:200]}); "
            "delete it to train this network from the start"
        ) from error
    if not isinstance(state, dict) or state.get("made_by") != made_by:
        saved = state.get("made_by") if isinstance(state, dict) else None
        differing = sorted(key for key in made_by if not isinstance(saved, dict) or saved.get(key) != made_by[key])
        log.warning(
            "discarding %s: it was made by another run (differs in: %s); training from the start",
            path,
            ", ".join(differing),
        )
        return None
    try:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
    except (KeyError, RuntimeError, ValueError) as error:
        raise UnreadableStateError(
            f"the resumable training state {path} does not fit this network "
            f"({type(error).__name__}: {str(error)[:200]}); delete it to train from the start"
        ) from error
    log.info("resuming from %s after epoch %d", path, state["epoch"])
    return state


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}
