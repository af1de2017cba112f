"""The pipeline's experiments that train networks, one row each, written once.

Each row says what the experiment is to everything that needs it: its block of config.yaml (named as
the experiment, checked by the schema's definition the row names), the wildcards that name one of its
runs and the block's keys that list their values, its training and extraction stages (a module run as
``python -m`` and the settings dataclass it parses), the files its extraction writes, the figures drawn
from them, and how Figure 14 names its architecture. The workflow makes one training and one
extraction rule per row (workflow/rules/networks.smk), and the figures' rules from its figures; the
scorecard's places, the convergence table and the config's schema read the rows instead of keeping
lists of their own.

What a job is given is derived, never typed: the fields of its stage's settings dataclass, each taken
from the run's wildcards, else from the experiment's block, else from the job's common values (the
scale, the data folder). The fields are read from the stage's source (its annotated class body), so
the workflow learns them without importing torch. Standard library only.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from fact.experiments.provenance import module_file

STAGES = "fact.experiments.stages"
PLOTS = "fact.experiments.plots."


@dataclass(frozen=True)
class Stage:
    """An entry point: the module ``python -m`` runs, and the settings dataclass its --settings parses into."""

    module: str
    settings: str

    def fields(self) -> tuple[str, ...]:
        """The settings dataclass's field names, in order, read from the module's source."""
        return dataclass_fields(self.module, self.settings)


@dataclass(frozen=True)
class Experiment:
    """One experiment that trains networks and extracts their feature matrices."""

    name: str  # its block in config.yaml, its folder results/<scale>/nets/<name>/, its table features/<name>.parquet
    architecture: str  # how Figure 14 names it
    runs: tuple[tuple[str, str], ...]  # (wildcard, the block's key listing its values) per run axis
    run_name: str  # one run's file name, from its wildcards
    train: Stage
    extract: Stage
    outputs: tuple[str, ...] = ("table",)  # the extraction's files: a --<name> option each, named in output_files
    figures: tuple[tuple[str, str], ...] = ()  # (figure, "module:function" drawing it from the extraction's files)
    schema: str | None = None  # the definition in workflow/schemas/config.schema.yaml checking its block (None: name)
    image_dataset: str | None = None  # the setting naming a fetched image dataset its training waits for
    # the block as one run's jobs see it, when a run's wildcard picks settings out of the block
    run_block: Callable[[dict, dict], dict] | None = field(default=None, compare=False)

    @property
    def schema_definition(self) -> str:
        """The schema's definition (under $defs) that checks the experiment's block of config.yaml."""
        return self.schema or self.name

    def run_values(self, block: dict) -> list[dict]:
        """The wildcard values of every run, in the order of its checkpoints (the axes' product, first outermost)."""
        values = [{}]
        for wildcard, key in self.runs:
            values = [{**run, wildcard: value} for run in values for value in block[key]]
        return values

    def wildcard_values(self, block: dict) -> dict[str, list[str]]:
        """Every value each wildcard may take, as text (a wildcard constraint accepts these and no other)."""
        return {wildcard: [str(value) for value in block[key]] for wildcard, key in self.runs}

    def run_of(self, block: dict, wildcards) -> dict:
        """A run's wildcard values, typed as the block lists them (the seed 0, not the text "0")."""
        run = {}
        for wildcard, key in self.runs:
            text = str(getattr(wildcards, wildcard))
            matches = [value for value in block[key] if str(value) == text]
            if not matches:
                raise ValueError(f"{self.name}: {wildcard} {text!r} is not one of {key} {list(block[key])}")
            run[wildcard] = matches[0]
        return run

    def train_settings(self, block: dict, run: dict, common: dict) -> dict:
        """What the training job of ``run`` is given: its stage's fields, from the run, the block, ``common``."""
        seen = self.run_block(block, run) if self.run_block else block
        return pick(self.train, {**common, **seen, **run}, f"{self.name} (one run)")

    def extract_settings(self, block: dict, common: dict) -> dict:
        """What the extraction job is given: its stage's fields, from the block and ``common``."""
        return pick(self.extract, {**common, **block}, self.name)

    def output_files(self) -> dict[str, str]:
        """The extraction's outputs under results/<scale>/, by option name."""
        names = {"table": self.name, "history": f"{self.name}_history"}
        return {
            output: f"features/{self.name}_matrices.pt" if output == "matrices" else f"features/{names[output]}.parquet"
            for output in self.outputs
        }


def pick(stage: Stage, values: dict, where: str) -> dict:
    """The values of ``stage``'s settings fields; a field with no value is named, with where it was sought."""
    fields = stage.fields()
    missing = [name for name in fields if name not in values]
    if missing:
        raise KeyError(
            f"{stage.module}.{stage.settings} reads {', '.join(missing)}, which the config block {where} does not set"
        )
    return {name: values[name] for name in fields}


def dataclass_fields(module: str, class_name: str) -> tuple[str, ...]:
    """The annotated field names of the class ``class_name`` in the ``fact`` module ``module``, from its source."""
    path = module_file(module)
    if path is None:
        raise ValueError(f"{module!r} is not a module of the fact package")
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return tuple(
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            )
    raise ValueError(f"{module} defines no class {class_name}")


def optimiser_run(block: dict, run: dict) -> dict:
    """A decay run's block as its job sees it: the training settings with the optimiser's own rate and decay."""
    return {**block, "train": {**block["train"], "optimiser": run["optimiser"], **block["runs"][run["optimiser"]]}}


def dataset_run(block: dict, run: dict) -> dict:
    """An MLP run's block as its job sees it: ``train`` with the settings ``train_by_dataset`` gives its dataset
    (a larger set takes fewer epochs for the same steps and tau; a set that no SGD run brings to a critical point
    at one lambda may take another), and the kept epochs within its epochs."""
    train = {**block["train"], **block.get("train_by_dataset", {}).get(run["dataset"], {})}
    kept = [epoch for epoch in block["keep_epochs"] if epoch <= train["epochs"]]
    return {**block, "train": train, "keep_epochs": kept}


def _stage(module: str, settings: str) -> Stage:
    """A stage of fact.experiments.stages."""
    return Stage(f"{STAGES}.{module}", settings)


# In the order Figure 14 lists the architectures.
EXPERIMENTS: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in (
        # Figures 2 and 8-10: 5-layer ReLU MLPs on image datasets
        Experiment(
            name="mlp",
            architecture="ReLU MLP",
            runs=(("dataset", "datasets"), ("seed", "seeds")),
            run_name="{dataset}_seed{seed}",
            train=_stage("train_mlp", "TrainMLPSettings"),
            extract=_stage("extract_mlp", "ExtractMLPSettings"),
            image_dataset="dataset",
            run_block=dataset_run,
            figures=(
                ("fig2", PLOTS + "mlp:render_fig2"),
                ("fig8", PLOTS + "mlp:render_fig8"),
                ("fig9", PLOTS + "mlp:render_fig9"),
                ("fig10", PLOTS + "mlp:render_fig10"),
            ),
        ),
        # Figure 11: deep linear networks of several depths
        Experiment(
            name="deep_linear",
            architecture="deep linear net",
            runs=(("depth", "depths"), ("seed", "seeds")),
            run_name="L{depth}_seed{seed}",
            train=_stage("train_deep_linear", "TrainDeepLinearSettings"),
            extract=_stage("extract_deep_linear", "ExtractDeepLinearSettings"),
            figures=(("fig11", PLOTS + "deep_linear:render"),),
        ),
        # Figure 7: the adversarial two-layer quadratic network
        Experiment(
            name="fig7",
            architecture="two-layer quadratic net",
            runs=(("seed", "seeds"),),
            run_name="seed{seed}",
            train=_stage("train_fig7", "TrainFig7Settings"),
            extract=_stage("extract_fig7", "ExtractFig7Settings"),
            outputs=("table", "matrices"),
            figures=(("fig7", PLOTS + "fig7:render"),),
        ),
        # Figure 12 (beyond the paper): a transformer trained with Adam-L2 and with AdamW
        Experiment(
            name="transformer",
            architecture="transformer",
            runs=(("optimiser", "runs"), ("seed", "seeds")),
            run_name="{optimiser}_seed{seed}",
            train=_stage("train_transformer", "TrainTransformerSettings"),
            extract=_stage("extract_decay_runs", "ExtractDecayRunsSettings"),
            outputs=("table", "history"),
            run_block=optimiser_run,
            figures=(("fig12", PLOTS + "decay_runs:render_fig12"),),
        ),
        # Figure 13 (beyond the paper): a small CNN trained with Adam-L2 and with AdamW
        Experiment(
            name="cnn",
            architecture="CNN",
            runs=(("optimiser", "runs"), ("seed", "seeds")),
            run_name="{optimiser}_seed{seed}",
            train=_stage("train_cnn", "TrainCNNSettings"),
            extract=_stage("extract_decay_runs", "ExtractDecayRunsSettings"),
            outputs=("table", "history"),
            image_dataset="dataset",
            run_block=optimiser_run,
            figures=(("fig13", PLOTS + "decay_runs:render_fig13"),),
        ),
    )
}
