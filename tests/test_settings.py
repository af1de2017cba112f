"""Settings JSON <-> the stages' frozen dataclasses: unknown, missing and mistyped keys are named,
and every job the workflow plans, at both scales, parses into its stage's class unchanged."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fact.experiments.job_settings import SettingsError, from_json, to_json
from fact.experiments.training import SGDSettings
from fact.kernel_machines.kernels import Kernel
from tests.conftest import copy_workflow

# The stage modules that take --settings, and the class each parses it into.
STAGE_SETTINGS = {
    "train_fig7": "TrainFig7Settings",
    "extract_fig7": "ExtractFig7Settings",
    "train_mlp": "TrainMLPSettings",
    "extract_mlp": "ExtractMLPSettings",
    "train_deep_linear": "TrainDeepLinearSettings",
    "extract_deep_linear": "ExtractDeepLinearSettings",
    "rfm_parity": "ParitySettings",
    "rfm_modular": "ModularSettings",
    "table1_dataset": "TabularSettings",
    "train_transformer": "TrainTransformerSettings",
    "train_cnn": "TrainCNNSettings",
    "extract_decay_runs": "ExtractDecayRunsSettings",
}


def settings_class(stage: str) -> type:
    return getattr(importlib.import_module(f"fact.experiments.stages.{stage}"), STAGE_SETTINGS[stage])


@dataclass(frozen=True)
class Job:
    name: str
    epochs: int
    lrs: tuple[float, ...]
    train: SGDSettings
    kernel: Kernel
    options: dict


def job_json(**changes) -> dict:
    value = {
        "name": "a",
        "epochs": 3,
        "lrs": [0.1, 1],
        "options": {"update": "nfa"},
        "train": {"epochs": 3, "batch_size": 2, "lr": 0.1, "weight_decay": 0.0},
        "kernel": {"name": "laplace", "bandwidth": 2.0},
    }
    value.update(changes)
    return value


def test_nested_settings_become_dataclasses_and_lists_tuples():
    job = from_json(Job, job_json())
    assert job.train == SGDSettings(epochs=3, batch_size=2, lr=0.1, weight_decay=0.0)
    assert job.kernel == Kernel("laplace", 2.0)
    assert job.lrs == (0.1, 1)
    assert job.options == {"update": "nfa"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.epochs = 4


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"epocs": 3}, "unknown key(s) settings.epocs"),
        ({"train": {"epochs": 3, "batch_size": 2, "lr": 0.1}}, "missing key(s) settings.train.weight_decay"),
        ({"epochs": 3.5}, "settings.epochs must be of type int"),
        ({"epochs": True}, "settings.epochs must be of type int"),
        ({"lrs": [0.1, "fast"]}, "settings.lrs[1] must be of type float"),
        ({"lrs": 0.1}, "settings.lrs must be a list"),
        ({"kernel": {"name": "laplce"}}, "settings.kernel: unknown kernel 'laplce'"),
        ({"options": ["nfa"]}, "settings.options must be a JSON object"),
    ],
)
def test_a_key_the_stage_does_not_read_or_lacks_is_named(changes, named):
    with pytest.raises(SettingsError) as error:
        from_json(Job, job_json(**changes))
    assert named in str(error.value)


def test_a_missing_top_level_key_is_named_with_every_key_the_stage_reads():
    value = job_json()
    del value["epochs"]
    expected = r"missing key\(s\) settings.epochs .*reads exactly: name, epochs, lrs, train"
    with pytest.raises(SettingsError, match=expected):
        from_json(Job, value)


def test_settings_stored_in_outputs_are_plain_json_and_parse_back():
    job = from_json(Job, job_json())
    stored = to_json(job)
    assert stored["lrs"] == [0.1, 1]
    assert json.loads(json.dumps(stored)) == stored
    assert from_json(Job, stored) == job


@pytest.mark.parametrize("stage", sorted(STAGE_SETTINGS))
def test_every_stage_refuses_settings_with_an_unknown_key_naming_it(stage, capsys):
    module = importlib.import_module(f"fact.experiments.stages.{stage}")
    with pytest.raises(SystemExit) as exit_:
        module.main(
            [
                "--settings",
                json.dumps({"bogus": 1}),
                "--out",
                "x",
                "--table",
                "x",
                "--matrices",
                "x",
                "--checkpoints",
                "x",
                "--history",
                "x",
            ]
        )
    assert exit_.value.code == 2
    message = capsys.readouterr().err
    assert "unknown key(s) settings.bogus" in message
    assert re.search(r"missing key\(s\) [\w., ]*settings\.scale", message)


def planned_commands(scale: str, workdir: Path) -> list[tuple[str, list[str]]]:
    """(stage, command-line words) of every job `snakemake all` would run from scratch at this scale."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", "all", "--config", f"scale={scale}"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = []
    for line in (result.stdout + result.stderr).splitlines():
        match = re.search(r"python -m fact\.experiments\.stages\.(\w+) (.*)", line)
        if match and "--settings" in match.group(2):
            jobs.append((match.group(1), shlex.split(match.group(2).split(" 2>")[0])))
    return jobs


def option(words: list[str], name: str):
    """The JSON value of option ``name`` among a command's words."""
    return json.loads(words[words.index(name) + 1])


def planned_settings(scale: str, workdir: Path) -> list[tuple[str, dict]]:
    """(stage, settings) of every job `snakemake all` would run from scratch at this scale."""
    return [(stage, option(words, "--settings")) for stage, words in planned_commands(scale, workdir)]


@pytest.mark.pipeline
@pytest.mark.parametrize("scale", ["quick", "paper"])
def test_every_extraction_is_told_what_each_of_its_checkpoints_is_trained_with(scale, tmp_path):
    copy_workflow(tmp_path)
    jobs = planned_commands(scale, tmp_path)
    trained = {
        words[words.index("--out") + 1]: option(words, "--settings")
        for stage, words in jobs
        if stage.startswith("train_")
    }
    extractions = [words for stage, words in jobs if stage.startswith("extract_")]
    assert len(extractions) == 5  # Figure 7, the MLPs, the deep linear nets, the transformer, the CNN
    for words in extractions:
        start = words.index("--checkpoints") + 1
        paths = words[start : start + len(option(words, "--trained-with"))]
        assert all(path.endswith(".pt") for path in paths) and words[start + len(paths)].startswith("--")
        assert option(words, "--trained-with") == [trained[path] for path in paths]


@pytest.mark.pipeline
@pytest.mark.parametrize("scale", ["quick", "paper"])
def test_every_planned_job_parses_into_its_stage_settings_unchanged(scale, tmp_path):
    copy_workflow(tmp_path)
    jobs = planned_settings(scale, tmp_path)
    assert {stage for stage, _ in jobs} == set(STAGE_SETTINGS)
    for stage, settings in jobs:
        parsed = from_json(settings_class(stage), settings)
        stored = to_json(parsed)
        # what the stage stores is what the workflow passed, plus library defaults it did not need to pass
        assert restricted(stored, settings) == settings, stage


def restricted(stored, passed):
    """``stored`` with only the keys ``passed`` has, at every level."""
    if isinstance(passed, dict) and isinstance(stored, dict):
        return {key: restricted(stored[key], value) for key, value in passed.items() if key in stored}
    return stored


def test_a_job_given_a_gpu_that_pytorch_cannot_see_stops_saying_why(monkeypatch):
    import torch

    from fact.experiments.jobs import resolve_device

    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a GPU here")
    for variable in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(variable, raising=False)
    assert resolve_device("auto") == torch.device("cpu")  # no GPU given, none seen: the CPU, as asked
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")  # GPUs hidden on purpose
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setenv("SLURM_JOB_GPUS", "0")
    with pytest.raises(SystemExit, match=r"given a GPU \(SLURM_JOB_GPUS=0\) but PyTorch sees none: .*CPU-only build"):
        resolve_device("auto")
    with pytest.raises(SystemExit, match="CONDA_OVERRIDE_CUDA"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")  # a job told to use the CPU uses it
