"""The table of experiments and the scales: what each job is given is derived from one place, and a value
written once reaches every job of every scale that uses it."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from fact.experiments.experiment_table import EXPERIMENTS, Experiment, Stage, dataclass_fields
from fact.experiments.scales import merged, scale_settings
from tests.conftest import copy_workflow
from tests.support.pipeline import snakemake

ROOT = Path(__file__).resolve().parents[1]
SCALES = yaml.safe_load((ROOT / "config.yaml").read_text())["scales"]
COMMON = {"scale": "quick", "data_root": "data"}


def imported_fields(stage: Stage) -> tuple[str, ...]:
    settings_class = getattr(importlib.import_module(stage.module), stage.settings)
    return tuple(field.name for field in dataclasses.fields(settings_class))


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_the_fields_read_from_a_stages_source_are_its_dataclass_fields(name):
    experiment = EXPERIMENTS[name]
    for stage in (experiment.train, experiment.extract):
        assert stage.fields() == imported_fields(stage), stage


def test_a_class_the_module_lacks_is_named():
    with pytest.raises(ValueError, match="defines no class TrainMLPSetting"):
        dataclass_fields("fact.experiments.stages.train_mlp", "TrainMLPSetting")


@pytest.mark.parametrize("scale", ["quick", "paper"])
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_run_parses_into_its_stages_settings(name, scale):
    from fact.experiments.job_settings import from_json, to_json

    experiment = EXPERIMENTS[name]
    block = scale_settings(SCALES, scale)[name]
    train_class = getattr(importlib.import_module(experiment.train.module), experiment.train.settings)
    runs = experiment.run_values(block)
    assert runs and len({json.dumps(run, sort_keys=True) for run in runs}) == len(runs)
    for run in runs:
        settings = experiment.train_settings(block, run, {**COMMON, "scale": scale})
        parsed = from_json(train_class, settings)
        assert set(to_json(parsed)) == set(settings)  # nothing read is left out, nothing given is unread
        assert all(getattr(parsed, wildcard) == value for wildcard, value in run.items() if hasattr(parsed, wildcard))
    extract_class = getattr(importlib.import_module(experiment.extract.module), experiment.extract.settings)
    from_json(extract_class, experiment.extract_settings(block, COMMON))


def test_a_runs_wildcards_are_typed_as_the_block_lists_them_and_unknown_ones_refused():
    mlp, block = EXPERIMENTS["mlp"], SCALES["quick"]["mlp"]
    assert mlp.run_of(block, SimpleNamespace(dataset="digits", seed="2")) == {"dataset": "digits", "seed": 2}
    with pytest.raises(ValueError, match=r"seed '7' is not one of seeds \[0, 1, 2\]"):
        mlp.run_of(block, SimpleNamespace(dataset="digits", seed="7"))


def test_a_decay_runs_optimiser_picks_its_rate_and_decay_into_the_training_settings():
    transformer, block = EXPERIMENTS["transformer"], SCALES["quick"]["transformer"]
    settings = transformer.train_settings(block, {"optimiser": "adamw", "seed": 1}, COMMON)
    assert settings["train"] == {**block["train"], "optimiser": "adamw", **block["runs"]["adamw"]}
    assert "runs" not in settings and settings["seed"] == 1


def test_a_field_no_value_is_given_for_is_named():
    experiment = EXPERIMENTS["deep_linear"]
    block = {key: value for key, value in SCALES["quick"]["deep_linear"].items() if key != "data_seed"}
    with pytest.raises(KeyError, match="TrainDeepLinearSettings reads data_seed"):
        experiment.train_settings(block, {"depth": 2, "seed": 0}, COMMON)


def test_a_new_experiment_is_one_row():
    """An MLP on another dataset: a row naming its block; nothing else about it is written anywhere."""
    row = dataclasses.replace(EXPERIMENTS["mlp"], name="mlp_fashion", architecture="ReLU MLP (Fashion-MNIST)")
    block = {**SCALES["quick"]["mlp"], "datasets": ["mnist_test"], "seeds": [4]}
    (run,) = row.run_values(block)
    assert row.train_settings(block, run, COMMON)["dataset"] == "mnist_test"
    assert row.output_files() == {"table": "features/mlp_fashion.parquet"}
    assert isinstance(row, Experiment)


def test_a_scale_merges_mappings_key_by_key_and_replaces_everything_else():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merged(base, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}, "d": 1}
    assert merged(base, {"a": {"e": 2}, "d": 5}) == {"a": {"b": 1, "c": [1, 2], "e": 2}, "d": 5}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # untouched


def test_the_paper_scale_repeats_no_value_of_the_quick_scale():
    def repeated(base, overrides, where=""):
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                yield from repeated(base[key], value, f"{where}{key}.")
            elif key in base and base[key] == value and type(base[key]) is type(value):
                yield f"{where}{key}"

    assert list(repeated(SCALES["quick"], SCALES["paper"])) == []


def test_one_value_changed_in_the_quick_scale_reaches_every_scale_that_does_not_set_its_own():
    scales = merged(SCALES, {"quick": {"deep_linear": {"train": {"lr": 0.03}}, "mlp": {"train": {"epochs": 7}}}})
    for scale in ("quick", "paper"):
        block = scale_settings(scales, scale)["deep_linear"]
        experiment = EXPERIMENTS["deep_linear"]
        assert {
            experiment.train_settings(block, run, COMMON)["train"]["lr"] for run in experiment.run_values(block)
        } == {0.03}
    assert scale_settings(scales, "quick")["mlp"]["train"]["epochs"] == 7
    assert scale_settings(scales, "paper")["mlp"]["train"]["epochs"] == 200  # the paper scale sets its own


@pytest.mark.pipeline
def test_an_mlp_experiment_on_another_dataset_is_a_row_and_a_config_block(tmp_path):
    """The two edits a new experiment takes: the workflow then plans its training, its extraction and its
    figure, checks its block with the schema's MLP definition, and finds its table for the scorecard."""
    copy_workflow(tmp_path)
    table = tmp_path / "fact/experiments/experiment_table.py"
    table.write_text(
        table.read_text().replace(
            "    )\n}\n",
            """        Experiment(
            name="mlp_small",
            architecture="narrow ReLU MLP",
            runs=(("dataset", "datasets"), ("seed", "seeds")),
            run_name="{dataset}_seed{seed}",
            train=_stage("train_mlp", "TrainMLPSettings"),
            extract=_stage("extract_mlp", "ExtractMLPSettings"),
            image_dataset="dataset",
            figures=(("fig15", PLOTS + "mlp:render_fig2"),),
            schema="mlp",
        ),
    )
}
""",
        )
    )
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["scales"]["quick"]["mlp_small"] = {**config["scales"]["quick"]["mlp"], "seeds": [5]}
    config["scales"]["quick"]["mlp_small"]["model"] = {"width": 16, "depth": 3, "bias": True}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    planned = dry_run(tmp_path, "figures/fig15.pdf", "figures/scorecard.md")
    assert "python -m fact.experiments.stages.train_mlp" in planned
    trained = {
        out: json.loads(settings)
        for settings, out in re.findall(r"stages\.train_mlp --settings '(\{.*?\})' --out (\S+)", planned)
    }
    assert trained["results/quick/nets/mlp_small/digits_seed5.pt"]["model"] == {"width": 16, "depth": 3, "bias": True}
    assert re.search(r"stages\.extract_mlp .* --table results/quick/features/mlp_small\.parquet", planned)
    assert re.search(r"stages\.scorecard --inputs .*results/quick/features/mlp_small\.parquet", planned)

    config["scales"]["quick"]["mlp_small"]["model"]["depht"] = 3  # the MLP definition checks the new block
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(AssertionError, match=r"scales\.quick\.mlp_small\.model: .*'depht' was unexpected"):
        dry_run(tmp_path, "figures/fig15.pdf")


def dry_run(workdir: Path, *targets: str) -> str:
    """The output of ``snakemake -n -p`` for ``targets`` in ``workdir``; an AssertionError holding it if it fails."""
    result = snakemake(workdir, "-n", "-p", *targets)
    return result.stdout + result.stderr


def test_an_mlp_runs_training_is_its_datasets_own_where_train_by_dataset_names_it():
    mlp = EXPERIMENTS["mlp"]
    mirror = yaml.safe_load((ROOT / "workflow/paper_from_mirror.yaml").read_text())["scales"]["paper"]["mlp"]
    block = merged(scale_settings(SCALES, "paper")["mlp"], mirror)
    small = mlp.train_settings(block, {"dataset": "mnist_test", "seed": 0}, COMMON)
    large = mlp.train_settings(block, {"dataset": "fashion_mnist", "seed": 3}, COMMON)
    assert small["train"]["epochs"] == 300 and small["keep_epochs"] == block["keep_epochs"]
    assert large["train"]["epochs"] == block["train"]["epochs"] == 200
    assert large["keep_epochs"] == [epoch for epoch in block["keep_epochs"] if epoch <= 200] != block["keep_epochs"]
    assert large["train"] == {**small["train"], "epochs": 200, "weight_decay": 1.5e-3}  # config.yaml's, merged
    cifar = mlp.train_settings(block, {"dataset": "cifar10_jpeg", "seed": 0}, COMMON)
    assert cifar["train"] == {**small["train"], "weight_decay": 2.0e-3} != small["train"]
