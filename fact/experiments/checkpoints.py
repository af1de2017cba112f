"""Trained networks read back by the extraction stages, each checked before it is used.

A checkpoint must be a readable archive (its checksums match) whose every tensor is finite, it must
have been trained with exactly the settings that this workflow's training job for it is given now (a
file copied in from another run, or left from another configuration, is refused, naming the settings
that differ), and its weights must fit the model those settings build. Every refusal names the file
and says to delete it and rerun, which retrains it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import torch
from torch import nn

from fact.experiments.io import load_torch
from fact.experiments.job_settings import SettingsError, from_json, to_json
from fact.experiments.jobs import fail, stop_if_unreadable
from fact.experiments.provenance import shared_settings
from fact.features.losses import LOSSES
from fact.features.objective import weight_decay_value

RETRAIN = "delete it and rerun, so that it is trained again"


def objective_record(loss: str, weight_decay: float) -> dict:
    """The objective a network was trained on, (1/n) sum_i loss_i + (lambda/2) ||theta||^2, as its checkpoint
    keeps it: the loss by its name in fact.features.losses, and lambda. What is computed from the network
    afterwards (FACT, the stationarity error, the captions) reads these, never restates them."""
    if loss not in LOSSES:
        raise ValueError(f"loss {loss!r} is not one of {', '.join(LOSSES)}")
    return {"loss": loss, "weight_decay": float(weight_decay)}


def recorded_objective(checkpoint: dict, path: str, log: logging.Logger) -> tuple[str, float]:
    """(loss, lambda) of the objective ``checkpoint`` was trained on, or the stage stops naming ``path``."""
    objective = checkpoint.get("objective")
    try:
        loss, weight_decay = objective["loss"], objective["weight_decay"]
        weight_decay_value(weight_decay)
    except (TypeError, KeyError, ValueError):
        fail(log, f"{path} does not record the objective it was trained on (its loss and lambda): {RETRAIN}")
    if loss not in LOSSES:
        fail(log, f"{path} was trained on the loss {loss!r}, which is not one of {', '.join(LOSSES)}: {RETRAIN}")
    return loss, weight_decay


def trained_on(checkpoint: dict) -> dict:
    """What a caption may say of a checkpoint's run: the settings its family shares (fact.experiments.provenance)
    and the objective it was trained on (read by :func:`recorded_objective` first)."""
    return {**shared_settings(checkpoint["settings"]), "objective": checkpoint["objective"]}


def read_checkpoint(path: str, log: logging.Logger) -> dict:
    """The checkpoint at ``path``, readable and with finite tensors only, or the stage stops naming it."""
    with stop_if_unreadable(log):
        checkpoint = load_torch(path)
    if not isinstance(checkpoint, dict) or "settings" not in checkpoint:
        fail(log, f"{path} is not a checkpoint of this workflow (it has no recorded settings): {RETRAIN}")
    for where, tensor in _tensors(checkpoint):
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            fail(log, f"{path} holds non-finite values (NaN or inf) in {where}: {RETRAIN}")
    return checkpoint


def _tensors(value, where: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor inside nested dicts, lists and tuples, with where it lies."""
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{where}[{index}]")


def check_trained_with(path: str, checkpoint: dict, expected: dict, settings_class: type, log: logging.Logger) -> None:
    """Stop unless ``checkpoint`` was trained with the settings ``expected`` (what its training job is
    given now), naming every key that differs."""
    try:
        recorded = to_json(from_json(settings_class, checkpoint["settings"], "its settings"))
        wanted = to_json(from_json(settings_class, expected, "its training job's settings"))
    except SettingsError as error:  # another experiment's network, or one of an older layout
        fail(log, f"{path} was not trained by this job's training stage ({error}): {RETRAIN}")
    differences = _differences(recorded, wanted)
    if differences:
        fail(
            log,
            f"{path} was trained with other settings than its training job has now ("
            f"{'; '.join(differences)}): {RETRAIN}",
        )


def _differences(recorded: dict, wanted: dict, prefix: str = "") -> list[str]:
    """``key: recorded value in the file, wanted value here`` for every key whose values differ."""
    missing = object()
    lines = []
    for key in sorted(set(recorded) | set(wanted)):
        old, new = recorded.get(key, missing), wanted.get(key, missing)
        if isinstance(old, dict) and isinstance(new, dict):
            lines += _differences(old, new, f"{prefix}{key}.")
        elif old != new:
            shown = ["(absent)" if value is missing else repr(value) for value in (old, new)]
            lines.append(f"{prefix}{key} is {shown[0]} in the file, {shown[1]} here")
    return lines


def read_checkpoints(
    paths: list[str], trained_with: list[dict], settings_class_of: Callable[[dict], type], log: logging.Logger
) -> list[dict]:
    """Every checkpoint, read and checked against what its training job is given (``trained_with``, in
    the same order); ``settings_class_of(checkpoint)`` is the settings class of the stage that trained it."""
    if len(paths) != len(trained_with):
        fail(
            log,
            f"{len(paths)} checkpoints but {len(trained_with)} training settings were given; the workflow "
            "passes one per checkpoint, in the same order",
        )
    checkpoints = []
    for path, expected in zip(paths, trained_with):
        checkpoint = read_checkpoint(path, log)
        check_trained_with(path, checkpoint, expected, settings_class_of(checkpoint), log)
        checkpoints.append(checkpoint)
    return checkpoints


def load_weights(model: nn.Module, state: dict, path: str, log: logging.Logger) -> nn.Module:
    """``model`` with the weights of ``state``, or the stage stops naming ``path`` when they do not fit."""
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        reason = " ".join(str(error).split())  # torch's message spans lines
        fail(log, f"{path} holds weights that do not fit the model its settings build ({reason}): {RETRAIN}")
    return model
