"""What the training stages of the decay runs (Figures 12 and 13) share: build the model and the data on the device,
train with decay, keep the chosen steps, and save them with the history and the settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from fact.experiments.checkpoints import objective_record
from fact.experiments.decay_runs import LOSS, kept_steps, train_with_decay
from fact.experiments.io import save_torch
from fact.experiments.job_settings import to_json
from fact.experiments.jobs import fail, resolve_device
from fact.experiments.provenance import git_sha
from fact.features.errors import NonFiniteLossError


def train_and_save(
    settings,
    build_model: Callable[[Any], nn.Module],
    task_data: Callable[[Any], tuple],
    experiment: str,
    config_block: str,
    out: str,
    log: logging.Logger,
) -> None:
    """``settings`` has ``train`` (a DecaySchedule), ``checkpoints``, ``device`` and ``seed`` (the
    initialisation's); ``task_data(settings)`` gives (X, y, X_test, y_test); ``config_block`` names
    the settings in config.yaml for error messages."""
    device = resolve_device(settings.device)
    data = tuple(tensor.to(device) for tensor in task_data(settings))
    torch.manual_seed(settings.seed)
    model = build_model(settings).to(device)
    keep = kept_steps(settings.train.steps, settings.checkpoints)
    log.info(
        "%s on %d training samples, %d steps, keeping %s",
        settings.train.optimiser,
        len(data[0]),
        settings.train.steps,
        keep,
    )
    try:
        history, states = train_with_decay(model, *data, settings.train, keep)
    except NonFiniteLossError as error:
        fail(log, f"{error} ({config_block}.runs in config.yaml); no checkpoint was written")
    final = history[-1]
    log.info(
        "final: train accuracy %.3f, test accuracy %.3f, gradient norm of the L2 objective %.2e",
        final["train_accuracy"],
        final["test_accuracy"],
        final["gradient_norm"],
    )
    save_torch(
        {
            "format": 1,
            "experiment": experiment,
            "states": states,
            "history": history,
            "settings": to_json(settings),
            # AdamW's lambda is decoupled: its fixed points are not critical points of this objective, which is
            # what FACT is computed against (and why it need not hold there)
            "objective": objective_record(LOSS, settings.train.weight_decay),
            "git_sha": git_sha(),
        },
        out,
    )
    log.info("wrote %s", out)
