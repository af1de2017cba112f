# Helpers shared by the stage files. Only the standard library (and three fact modules that use
# nothing else) is imported here, so building the DAG never loads torch.
import fnmatch
import glob
import json
import os
import re
from collections import namedtuple
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

# All use the standard library only: the files and checksums of fetched datasets, the import
# closure of the stages' modules, the experiments that train networks, and where results lie.
from fact.experiments import provenance
from fact.experiments.data import manifest
from fact.experiments.experiment_table import EXPERIMENTS, Stage, pick
from fact.experiments.scorecard.places import RESULT_PLACES

SCALE = config["scale"]
SETTINGS = SCALES[SCALE]  # config_checks.smk: the quick scale with this scale's own values merged in
RESULTS = f"results/{SCALE}"
# Each scale's figures and tables are kept apart; figures/<name> is a link to the current
# scale's (rule current_figure), so `snakemake figures/fig5.pdf` builds the scale in use.
FIGURES = f"figures/{SCALE}"


def remove_dangling_figure_links():
    """A failed job has its outputs deleted, which leaves the link figures/<name> to one of them
    dangling. Snakemake cannot date a dangling link (it stops), so such a link is removed before the
    DAG is built: the figure then counts as missing and is rebuilt, never reported up to date."""
    for link in Path("figures").glob("*"):
        if link.is_symlink() and not link.exists():
            link.unlink()


remove_dangling_figure_links()
ENV = "../../environment.yml"


def as_json(value):
    """A settings block as one JSON word for the command line (and for params: comparison)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def job_settings(stage, block, **job):
    """What one job of ``stage`` (a Stage of fact.experiments.experiment_table) uses, as JSON for params: (so a
    change reruns exactly the jobs that use it): each field of the stage's settings dataclass, from the job's own
    values (its wildcards), else its config block, else the common values. No key is named here: a new config
    key reaches only the stages that read it."""
    return as_json(pick(stage, {**COMMON, **block, **job}, "of this job"))


def code(*modules):
    """The source files a job runs, as its inputs, so that editing one reruns the job: the modules
    named and every fact module they import, found by reading their imports (fact.experiments.provenance)."""
    files = {path for module in modules for path in provenance.source_files(module)}
    return sorted(str(path.relative_to(provenance.PACKAGE_ROOT.parent)) for path in files)


# The RFM stages, whose jobs are made by their own rules (rfm.smk, tabular.smk)
PARITY_STAGE = Stage("fact.experiments.stages.rfm_parity", "ParitySettings")
MODULAR_STAGE = Stage("fact.experiments.stages.rfm_modular", "ModularSettings")
TABULAR_STAGE = Stage("fact.experiments.stages.table1_dataset", "TabularSettings")


def parity_shards(experiment):
    """(k, seed) of every sparse-parity task a figure needs."""
    parity = SETTINGS["parity"]
    if experiment == "fig3":
        return [(size["k"], seed) for size in parity["fig3"]["sizes"] for seed in parity["fig3"]["seeds"]]
    return [(parity["fig4"]["k"], seed) for seed in parity["fig4"]["seeds"]]


def parity_outputs(experiment):
    return [
        f"{RESULTS}/rfm/parity/{experiment}/k{k}_seed{seed}.{suffix}"
        for k, seed in parity_shards(experiment)
        for suffix in ("parquet", "pt")
    ]


def parity_size(experiment, k):
    """The training-set size n configured for support size k in a figure; an unconfigured k is an error."""
    parity = SETTINGS["parity"]
    if experiment == "fig3":
        sizes = {size["k"]: size["n"] for size in parity["fig3"]["sizes"]}
    else:
        sizes = {parity["fig4"]["k"]: parity["fig4"]["n"]}
    if k not in sizes:
        raise ValueError(
            f"k = {k} is not configured for {experiment}: scales.{SCALE}.parity.{experiment} has "
            f"k = {sorted(sizes)}; ask for one of those or add k = {k} to config.yaml"
        )
    return sizes[k]


def parity_settings(wildcards):
    """Everything one parity task uses, as JSON for params: (so a change reruns only its shards)."""
    k = int(wildcards.k)
    return job_settings(
        PARITY_STAGE,
        SETTINGS["parity"],
        experiment=wildcards.experiment,
        k=k,
        n=parity_size(wildcards.experiment, k),
        seed=int(wildcards.seed),
    )


def modular_runs(figure):
    """The named modular-addition runs a figure shows; a name missing from runs is a config error."""
    modular = SETTINGS["modular"]
    unknown = [name for name in modular[figure] if name not in modular["runs"]]
    if unknown:
        raise ValueError(
            f"scales.{SCALE}.modular.{figure} names {unknown}, which are not in "
            f"scales.{SCALE}.modular.runs ({sorted(modular['runs'])}); add them there or fix the names"
        )
    return modular[figure]


def modular_outputs(figure):
    """Every seed of every run a figure shows."""
    modular = SETTINGS["modular"]
    return [
        f"{RESULTS}/rfm/modular/{run}_seed{seed}.{suffix}"
        for run in modular_runs(figure)
        for seed in modular["seeds"]
        for suffix in ("parquet", "pt")
    ]


def modular_settings(wildcards):
    """Everything one modular-addition fit uses, as JSON for params:."""
    run = SETTINGS["modular"]["runs"][wildcards.run]
    return job_settings(
        MODULAR_STAGE,
        SETTINGS["modular"],
        run=wildcards.run,
        kernel=run["kernel"],
        iters=run["iters"],
        method=run["method"],
        seed=int(wildcards.seed),
    )


def features(name):
    """Where an extraction's table (or another table of trained features) named ``name`` lies."""
    return f"{RESULTS}/features/{name}.parquet"


DATA = config["data"]["root"]
COMMON = {"scale": SCALE, "data_root": DATA}  # what a job may read beside its own values and its block
UCI121_DATASETS = list(manifest.collection_files("uci121"))
IMAGE_DATASETS = list(manifest.collection_files("images"))
# Where files come from is not a setting: a switch between a mirror and a download must
# recompute nothing whose files are verified. So the fetch jobs take it from the environment
# (which jobs inherit), set here from config.yaml or left as the user set it, not from params:.
MIRROR = config["data"]["mirror"] or os.environ.get("FACT_DATA_MIRROR") or None
DOWNLOAD_URL = config["data"]["download_url"] or os.environ.get("FACT_DATA_DOWNLOAD_URL") or None
for variable, value in (("FACT_DATA_MIRROR", MIRROR), ("FACT_DATA_DOWNLOAD_URL", DOWNLOAD_URL)):
    if value:
        os.environ[variable] = value
    else:
        os.environ.pop(variable, None)


def fetch_revision(collection):
    """params: of a fetch job: its status's revision while that still describes the files, else the next."""
    return lambda wildcards: manifest.fetch_revision(
        Path(DATA), collection, wildcards.dataset, None if MIRROR is None else Path(MIRROR), DOWNLOAD_URL
    )


def one_of(names):
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(name) for name in names)


def tabular_datasets():
    """The datasets Table 1 runs: the configured list, or the whole collection when empty."""
    tabular = SETTINGS["tabular"]
    if tabular["source"] == "sklearn":
        return tabular["datasets"] or ["iris", "wine", "breast_cancer", "digits"]
    unknown = [name for name in tabular["datasets"] if name not in UCI121_DATASETS]
    if unknown:
        raise ValueError(
            f"scales.{SCALE}.tabular.datasets names {unknown}, which are not in the UCI-121 collection "
            "(see fact/experiments/data/manifests/uci121.datasets)"
        )
    return tabular["datasets"] or UCI121_DATASETS


def tabular_fetched(wildcards):
    """A UCI-121 dataset's job waits for the fetch's verdict on that dataset."""
    if SETTINGS["tabular"]["source"] == "sklearn":
        return []
    return f"{DATA}/uci121/status/{wildcards.dataset}.json"


def tabular_settings(wildcards):
    """Everything one dataset's Table 1 job uses, as JSON for params:."""
    tabular = SETTINGS["tabular"]
    # not the thread count: it changes no result, and a change must not rerun the sweep; nor the
    # list of datasets that skip row normalisation: each job gets only its own normalisation choices
    normalise = [False] if wildcards.dataset in tabular["never_normalise"] else tabular["normalise"]
    return job_settings(TABULAR_STAGE, tabular, normalise=normalise, dataset=wildcards.dataset)


def fetch_verdict(dataset):
    """A fetched image dataset's training waits for the fetch's verdict on it; digits needs none."""
    return [] if dataset == "digits" else f"{DATA}/images/status/{dataset}.json"


# The experiments that train networks (fact.experiments.experiment_table): each one's training and
# extraction rule is made from its row in networks.smk, with these.


def checkpoint_pattern(experiment):
    """Where the checkpoint of one run of ``experiment`` lies, its wildcards in braces."""
    return f"{RESULTS}/nets/{experiment.name}/{experiment.run_name}.pt"


def checkpoints(experiment):
    """Every run's checkpoint, in the order of the experiment's runs."""
    block = SETTINGS[experiment.name]
    return [checkpoint_pattern(experiment).format(**run) for run in experiment.run_values(block)]


def train_settings(experiment):
    """params: of one run's training job (a function of its wildcards), as JSON."""
    block = SETTINGS[experiment.name]
    return lambda wildcards: as_json(experiment.train_settings(block, experiment.run_of(block, wildcards), COMMON))


def trained_with(experiment):
    """What each checkpoint's training job is given, as one JSON list in the checkpoints' order: the
    extraction refuses a checkpoint trained otherwise (one copied from another run, say)."""
    block = SETTINGS[experiment.name]
    return as_json([experiment.train_settings(block, run, COMMON) for run in experiment.run_values(block)])


def extract_settings(experiment):
    """params: of the experiment's extraction job, as JSON."""
    return as_json(experiment.extract_settings(SETTINGS[experiment.name], COMMON))


def extraction_outputs(name):
    """The files the extraction of the experiment ``name`` writes, by option name, in the table's order."""
    return {output: f"{RESULTS}/{path}" for output, path in EXPERIMENTS[name].output_files().items()}


def extraction_options(experiment):
    """The extraction's output options, --<name> <file> each, in the table's order."""
    return " ".join(f"--{name} {path}" for name, path in extraction_outputs(experiment.name).items())


def run_constraints(experiment):
    """Wildcard constraints admitting exactly the configured runs of ``experiment``."""
    return {
        wildcard: one_of(values) for wildcard, values in experiment.wildcard_values(SETTINGS[experiment.name]).items()
    }


def benchmark(log):
    """Where Snakemake records a compute job's wall time and peak memory: beside its log, under benchmarks/ (the
    measured cost of each kind of job, at each scale)."""
    return f"benchmarks/{log.removeprefix('logs/').removesuffix('.log')}.tsv"


def uses_gpu(experiment, stage):
    """The gpu resource of a job of ``stage``: one where its settings read a device that is not the CPU."""
    return int("device" in stage.fields() and SETTINGS[experiment.name]["device"] != "cpu")


def image_fetched(experiment):
    """A job whose run trains on an image dataset waits for the fetch's verdict on it."""
    if experiment.image_dataset is None:
        return []
    block = SETTINGS[experiment.name]
    return lambda wildcards: fetch_verdict({**block, **experiment.run_of(block, wildcards)}[experiment.image_dataset])


def scorecard_inputs():
    """The results the scorecard judges: those of this scale that the figures and Table 1 read (built
    when missing), and whatever another scale has already computed, read as it is (no rule of this
    scale makes those files). Both are recognised by the places fact.experiments.scorecard.places names."""
    read_here = [path for figure in FIGURE_TABLE.values() for path in figure.inputs]
    read_here += expand(f"{RESULTS}/tabular/{{dataset}}.parquet", dataset=tabular_datasets())
    patterns = [pattern for places in RESULT_PLACES.values() for pattern in places]
    this_scale = sorted(
        {path for path in read_here if any(fnmatch.fnmatch(path, f"{RESULTS}/{pattern}") for pattern in patterns)}
    )
    other_scales = [
        path
        for scale in config["scales"]
        if scale != SCALE
        for pattern in patterns
        for path in sorted(glob.glob(f"results/{scale}/{pattern}"))
    ]
    return this_scale + other_scales


def natural_order(name):
    """fig2 before fig10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def figure_names():
    """Every figure and table of this scale, by name (what figures/<name> may link to): the outputs
    under figures/<scale>/ of the rules defined so far, in natural order (fig2 before fig10)."""
    names = {Path(path).name for rule in workflow.rules for path in rule.output if str(path).startswith(f"{FIGURES}/")}
    return sorted(names, key=natural_order)


def no_such_figure(wildcards):
    """The input of any other figures/<name>: stops the DAG, listing the figures and tables there are."""
    shown = [name for name in FIGURE_NAMES if not name.endswith(".caption.rst")]
    raise WorkflowError(
        f"there is no figure or table figures/{wildcards.name}; those there are: "
        f"{', '.join(shown)} (and each figure's .caption.rst)"
    )


# Every figure: the function that draws it and the results it reads, in the order it takes them.
# This one table defines each figure's rule (figures.smk), and through them `rule all`, the
# figures/<name> links and the scorecard's inputs. The figures of the experiments that train
# networks are their rows' (fact.experiments.experiment_table), drawn from their extraction's files;
# the others are written here, each with the experiment that makes its results.
Figure = namedtuple("Figure", ["render", "inputs"])


OTHER_FIGURES = {
    # a schematic of the setting: a weight W, its input h_i, the loss gradient, FACT
    "fig1": Figure("fact.experiments.plots.fig1:render", []),
    # feature matrices learned on sparse parities, support marked
    "fig3": Figure("fact.experiments.plots.parity:render_fig3", parity_outputs("fig3")),
    # test accuracy against RFM iteration on a sparse parity, over seeds
    "fig4": Figure("fact.experiments.plots.parity:render_fig4", parity_outputs("fig4")),
    # grokking modular addition: feature matrices and accuracy over iterations
    "fig5": Figure("fact.experiments.plots.modular:render_fig5", modular_outputs("fig5")),
    # tau against k' at the final feature matrix, with its proportional fit
    "fig6": Figure("fact.experiments.plots.modular:render_fig6", modular_outputs("fig6")),
    # beyond the paper: FACT and the NFA against each layer's stationarity error
    "fig14": Figure("fact.experiments.plots.convergence:render_fig14", [features("convergence")]),
}


def figure_table():
    """Every figure, the networks' and the others, in natural order; a name given twice is an error."""
    figures = dict(OTHER_FIGURES)
    for experiment in EXPERIMENTS.values():
        for name, render in experiment.figures:
            if name in figures:
                raise WorkflowError(f"figure {name} is drawn twice: by {experiment.name} and by another row")
            figures[name] = Figure(render, list(extraction_outputs(experiment.name).values()))
    return {name: figures[name] for name in sorted(figures, key=natural_order)}


FIGURE_TABLE = figure_table()
