"""Minibatch SGD for the networks of Figures 2 and 8-11, resumable after a kill.

The objective is the one FACT is stated for, (1/n) sum_i loss_i + (lambda/2) ||theta||^2:
``weight_decay`` is lambda (PyTorch's SGD adds lambda * theta to each gradient), and the loss
is the per-sample mean of squared errors over the outputs, averaged over the batch
(``nn.MSELoss``), as ``fact.matrices`` assumes for ``loss="mse"``.

Everything random is a function of (seed, epoch): the initial weights come from the seed
and each epoch's batch order from its own generator. A run that is killed and resumed from
its last saved state therefore ends with the same weights as one that never stopped. The
data stay on the device; the loop syncs with the host once per epoch.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from fact.io import load_torch, save_torch
from fact.nets import NonFiniteLossError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SGDSettings:
    """SGD with momentum and a cosine learning-rate decay from lr to lr * final_lr_ratio."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    momentum: float = 0.9
    final_lr_ratio: float = 0.0
    loss_threshold: float = 1e-3  # "converged" when the last epoch's mean batch loss is below it

    def lr_at(self, step: int, total_steps: int) -> float:
        final = self.lr * self.final_lr_ratio
        return final + (self.lr - final) * (1 + math.cos(math.pi * step / max(total_steps, 1))) / 2


def _epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def train_sgd(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, settings: SGDSettings, seed: int,
              state_path: str | Path, keep_epochs: tuple[int, ...] = (),
              stop_after: int | None = None) -> dict:
    """Train ``model`` in place on (X, Y); return {"history", "checkpoints", "converged"}.

    ``keep_epochs`` lists the epochs whose weights are kept (0 = at initialisation).
    ``state_path`` holds the resumable state, rewritten atomically after every epoch: a
    call that finds it continues from there. ``stop_after`` ends the call after that many
    epochs of this call (for tests of resumption). The state file is removed once the last
    epoch is done.
    """
    state_path = Path(state_path)
    optimiser = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay)
    n = len(X)
    steps_per_epoch = math.ceil(n / settings.batch_size)
    total_steps = settings.epochs * steps_per_epoch
    loss_function = nn.MSELoss()
    state = {"epoch": 0, "history": [], "checkpoints": {}}
    if state_path.exists():
        state = load_torch(state_path)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        log.info("resuming from %s after epoch %d", state_path, state["epoch"])
    elif 0 in keep_epochs:
        state["checkpoints"][0] = _weights(model)

    done_this_call = 0
    while state["epoch"] < settings.epochs and (stop_after is None or done_this_call < stop_after):
        epoch = state["epoch"] + 1
        start = time.perf_counter()
        order = _epoch_order(n, seed, epoch, X.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=X.device)
        for batch, first in enumerate(range(0, n, settings.batch_size)):
            for group in optimiser.param_groups:
                group["lr"] = settings.lr_at((epoch - 1) * steps_per_epoch + batch, total_steps)
            rows = order[first:first + settings.batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_function(model(X[rows]), Y[rows])
            loss.backward()
            optimiser.step()
            loss_sum += loss.detach() * len(rows)
        mean_loss = float(loss_sum) / n  # the epoch's one host sync
        if not math.isfinite(mean_loss):
            raise NonFiniteLossError(f"epoch {epoch}: the training loss is {mean_loss}; lower lr or raise batch_size")
        state["history"].append({"epoch": epoch, "train_loss": mean_loss, "lr": optimiser.param_groups[0]["lr"],
                                 "seconds": time.perf_counter() - start})
        if epoch in keep_epochs:
            state["checkpoints"][epoch] = _weights(model)
        state.update(epoch=epoch, model=model.state_dict(), optimiser=optimiser.state_dict())
        save_torch(state, state_path)
        done_this_call += 1
        log.info("epoch %d/%d: mean batch loss %.3e (%.2fs)", epoch, settings.epochs, mean_loss,
                 state["history"][-1]["seconds"])

    history = pd.DataFrame(state["history"], columns=["epoch", "train_loss", "lr", "seconds"])
    finished = state["epoch"] >= settings.epochs
    if finished:
        state_path.unlink(missing_ok=True)
    converged = bool(len(history) and history.train_loss.iloc[-1] < settings.loss_threshold)
    return {"history": history, "checkpoints": state["checkpoints"], "converged": converged, "finished": finished}


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}

