"""fact.experiments.checkpoints and the stages' first checks: a checkpoint is used only when it is readable,
finite, trained with the settings its training job is given, and fits its model; an output folder
that cannot be written stops a stage before any work; a damaged table stops a figure, naming it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from fact.experiments.checkpoints import load_weights, read_checkpoints
from fact.experiments.io import save_torch
from fact.experiments.jobs import setup_logging, start_stage

LOG = setup_logging("test")


@dataclass(frozen=True)
class Shape:
    width: int


@dataclass(frozen=True)
class Trained:
    model: Shape
    lr: float
    seed: int


def settings(width: int = 4, lr: float = 0.1, seed: int = 0) -> dict:
    return {"model": {"width": width}, "lr": lr, "seed": seed}


def saved(tmp_path, name: str, recorded: dict, weight: torch.Tensor | None = None) -> str:
    path = tmp_path / name
    save_torch({"settings": recorded, "state_dict": {"weight": torch.ones(4, 3) if weight is None else weight}}, path)
    return str(path)


def read(paths, expected):
    return read_checkpoints(paths, expected, lambda _: Trained, LOG)


def test_checkpoints_trained_with_their_jobs_settings_are_read(tmp_path):
    paths = [saved(tmp_path, f"seed{seed}.pt", settings(seed=seed)) for seed in (0, 1)]
    checkpoints = read(paths, [settings(seed=0), settings(seed=1)])
    assert [c["settings"]["seed"] for c in checkpoints] == [0, 1]


@pytest.mark.parametrize(
    "recorded, named",
    [
        (settings(width=5), "model.width is 5 in the file, 4 here"),
        (settings(seed=1), "seed is 1 in the file, 0 here"),  # another run's file under this run's name
        (settings(width=5, lr=0.2), "lr is 0.2 in the file, 0.1 here; model.width is 5 in the file, 4 here"),
    ],
)
def test_a_checkpoint_trained_otherwise_is_refused_naming_every_differing_key(tmp_path, recorded, named):
    path = saved(tmp_path, "seed0.pt", recorded)
    with pytest.raises(
        SystemExit,
        match=rf"{path} was trained with other settings than its training job has now "
        rf"\({named}\): delete it and rerun",
    ):
        read([path], [settings()])


def test_a_checkpoint_of_another_stage_is_refused(tmp_path):
    path = saved(tmp_path, "seed0.pt", {"depth": 3, "seed": 0})
    with pytest.raises(SystemExit, match=rf"{path} was not trained by this job's training stage .*unknown key"):
        read([path], [settings()])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused(tmp_path, bad):
    weight = torch.ones(4, 3)
    weight[2, 1] = bad
    path = saved(tmp_path, "seed0.pt", settings(), weight)
    with pytest.raises(
        SystemExit, match=rf"{path} holds non-finite values \(NaN or inf\) in \['state_dict'\]\['weight'\]"
    ):
        read([path], [settings()])


def test_a_truncated_checkpoint_is_named(tmp_path):
    path = saved(tmp_path, "seed0.pt", settings())
    with open(path, "r+b") as handle:
        handle.truncate(200)
    with pytest.raises(SystemExit, match=rf"{path} is truncated or corrupt .*delete it and rerun"):
        read([path], [settings()])


def test_weights_that_do_not_fit_the_model_are_named(tmp_path):
    path = saved(tmp_path, "seed0.pt", settings(), torch.ones(5, 3))
    (checkpoint,) = read([path], [settings()])
    model = nn.Linear(3, 4, bias=False)
    with pytest.raises(SystemExit, match=rf"{path} holds weights that do not fit the model .*size mismatch"):
        load_weights(model, checkpoint["state_dict"], path, LOG)


def test_one_training_setting_per_checkpoint(tmp_path):
    path = saved(tmp_path, "seed0.pt", settings())
    with pytest.raises(SystemExit, match="1 checkpoints but 2 training settings"):
        read([path], [settings(), settings(seed=1)])


# ---------------------------------------------------------------- outputs that cannot be written


@dataclass(frozen=True)
class Nothing:
    scale: str


def start(table: str):
    return start_stage("test", "a stage", Nothing, ["--settings", '{"scale": "quick"}', "--table", table], ("table",))


def test_a_stage_stops_before_any_work_when_its_output_cannot_be_written(tmp_path):
    in_the_way = tmp_path / "features"
    in_the_way.write_text("a file where the folder should be")
    with pytest.raises(SystemExit, match=rf"cannot write {in_the_way}/fig7.parquet: .*make the folder writable"):
        start(str(in_the_way / "fig7.parquet"))
    args, _ = start(str(tmp_path / "new" / "fig7.parquet"))  # a folder that is missing is made
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []


def test_an_immutable_output_folder_stops_a_stage_before_any_work(tmp_path):
    folder = tmp_path / "nets"
    folder.mkdir()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        with pytest.raises(SystemExit, match=rf"cannot write {folder}/seed0.parquet: .*chattr -i"):
            start(str(folder / "seed0.parquet"))
    finally:
        subprocess.run(["chattr", "-i", str(folder)])


def test_a_figure_of_a_damaged_table_names_it(tmp_path):
    import pandas as pd

    from fact.experiments.io import write_parquet
    from fact.experiments.stages import figure

    table = tmp_path / "fig7.parquet"
    write_parquet(pd.DataFrame({"relation": ["fact"] * 50, "cosine": [1.0] * 50}), table)
    table.write_bytes(table.read_bytes()[:-30])
    with pytest.raises(SystemExit, match=rf"{table} is truncated or corrupt .*delete it and rerun"):
        figure.main(
            [
                "fact.experiments.plots.fig7:render",
                "--inputs",
                str(table),
                str(tmp_path / "m.pt"),
                "--out",
                str(tmp_path / "fig7.pdf"),
            ]
        )
