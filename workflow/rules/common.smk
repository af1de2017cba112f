# Helpers shared by the stage files. Only the standard library (and three fact modules that use
# nothing else) is imported here, so building the DAG never loads torch.
import fnmatch
import glob
import json
import os
import re
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import yaml
from snakemake.exceptions import WorkflowError

# All use the standard library only: the files and checksums of fetched datasets, the import
# closure of the stages' modules, and where results lie (for the scorecard).
from fact.experiments import provenance
from fact.experiments.data import manifest
from fact.experiments.scorecard.places import RESULT_PLACES

SCALE = config["scale"]
SETTINGS = config["scales"][SCALE]
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


def job_settings(block, keys, **job):
    """What one job uses, as JSON for params: (so a change reruns exactly the jobs that use it): the
    named keys of its config block, the job's own values (its wildcards), and the scale. Every stage's
    settings are built here; the keys are named, so a new config key reaches no job by accident."""
    return as_json({**{key: block[key] for key in keys}, **job, "scale": SCALE})


def code(*modules):
    """The source files a job runs, as its inputs, so that editing one reruns the job: the modules
    named and every fact module they import, found by reading their imports (fact.experiments.provenance)."""
    files = {path for module in modules for path in provenance.source_files(module)}
    return sorted(str(path.relative_to(provenance.PACKAGE_ROOT.parent)) for path in files)


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
        SETTINGS["parity"],
        ("d", "n_test", "device", "dtype", "kernel", "reg", "iters", "methods"),
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
        SETTINGS["modular"],
        ("p", "train_fraction", "device", "dtype", "reg", "pairs"),
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
    return job_settings(
        tabular,
        (
            "source",
            "split_seed",
            "device",
            "dtype",
            "kernel",
            "regs",
            "iters",
            "fold_features",
            "agop_max_samples",
            "methods",
        ),
        normalise=normalise,
        dataset=wildcards.dataset,
        data_root=DATA,
    )


def fig7_settings(wildcards):
    """Everything one Figure 7 training job uses, its seed included, as JSON for params:."""
    return job_settings(SETTINGS["fig7"], ("data", "model", "train", "device"), seed=int(wildcards.seed))


# Each experiment's trained networks: the checkpoint of one run, the training settings of one run
# (a function of its wildcards), and its runs, as wildcard values.
CHECKPOINT_PATTERNS = {
    "fig7": f"{RESULTS}/nets/fig7/seed{{seed}}.pt",
    "mlp": f"{RESULTS}/nets/mlp/{{dataset}}_seed{{seed}}.pt",
    "deep_linear": f"{RESULTS}/nets/deep_linear/L{{depth}}_seed{{seed}}.pt",
    "transformer": f"{RESULTS}/nets/transformer/{{optimiser}}_seed{{seed}}.pt",
    "cnn": f"{RESULTS}/nets/cnn/{{optimiser}}_seed{{seed}}.pt",
}


def runs(experiment):
    """The wildcard values of every run an experiment trains, in the order of its checkpoints."""
    block = SETTINGS[experiment]
    if experiment == "mlp":
        return [{"dataset": dataset, "seed": seed} for dataset in block["datasets"] for seed in block["seeds"]]
    if experiment == "deep_linear":
        return [{"depth": depth, "seed": seed} for depth in block["depths"] for seed in block["seeds"]]
    if experiment in ("transformer", "cnn"):
        return [{"optimiser": optimiser, "seed": seed} for optimiser in block["runs"] for seed in block["seeds"]]
    return [{"seed": seed} for seed in block["seeds"]]


def checkpoints(experiment):
    return [CHECKPOINT_PATTERNS[experiment].format(**run) for run in runs(experiment)]


def trained_with(experiment):
    """What each checkpoint's training job is given, as one JSON list in the checkpoints' order: the
    extraction refuses a checkpoint trained otherwise (one copied from another run, say)."""
    settings_of = {
        "fig7": fig7_settings,
        "mlp": mlp_settings,
        "deep_linear": deep_linear_settings,
        "transformer": decay_run_settings("transformer"),
        "cnn": decay_run_settings("cnn"),
    }[experiment]
    return as_json([json.loads(settings_of(SimpleNamespace(**run))) for run in runs(experiment)])


def mlp_settings(wildcards):
    """Everything one MLP training job uses, as JSON for params:."""
    return job_settings(
        SETTINGS["mlp"],
        ("split_seed", "device", "model", "train", "keep_epochs"),
        dataset=wildcards.dataset,
        seed=int(wildcards.seed),
        data_root=DATA,
    )


def fetch_verdict(dataset):
    """A fetched image dataset's training waits for the fetch's verdict on it; digits needs none."""
    return [] if dataset == "digits" else f"{DATA}/images/status/{dataset}.json"


def image_fetched(wildcards):
    return fetch_verdict(wildcards.dataset)


def deep_linear_settings(wildcards):
    """Everything one deep-linear training job uses, as JSON for params:."""
    return job_settings(
        SETTINGS["deep_linear"],
        ("d", "n", "data_seed", "device", "train"),
        depth=int(wildcards.depth),
        seed=int(wildcards.seed),
    )


# The decay runs (Figures 12 and 13): a transformer and a CNN, each trained with Adam-L2 and with
# AdamW. What a training job of each architecture uses from its block, beside its optimiser's run.
DECAY_RUN_KEYS = {
    "transformer": ("data", "model", "checkpoints", "device"),
    "cnn": ("dataset", "split_seed", "model", "checkpoints", "device"),
}


def decay_run_settings(architecture):
    """params: of one decay run's training job: the architecture's block, and its optimiser's run."""

    def settings(wildcards):
        block = SETTINGS[architecture]
        run = block["runs"][wildcards.optimiser]
        train = {
            **block["train"],
            "optimiser": wildcards.optimiser,
            "lr": run["lr"],
            "weight_decay": run["weight_decay"],
        }
        fetched = {"data_root": DATA} if architecture == "cnn" else {}  # the CNN's images may be fetched
        return as_json(
            {
                **{key: block[key] for key in DECAY_RUN_KEYS[architecture]},
                "train": train,
                "seed": int(wildcards.seed),
                **fetched,
                "scale": SCALE,
            }
        )

    return settings


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


def figure_names():
    """Every figure and table of this scale, by name (what figures/<name> may link to): the outputs
    under figures/<scale>/ of the rules defined so far, in natural order (fig2 before fig10)."""
    names = {Path(path).name for rule in workflow.rules for path in rule.output if str(path).startswith(f"{FIGURES}/")}
    return sorted(names, key=lambda name: [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)])


def no_such_figure(wildcards):
    """The input of any other figures/<name>: stops the DAG, listing the figures and tables there are."""
    shown = [name for name in FIGURE_NAMES if not name.endswith(".caption.rst")]
    raise WorkflowError(
        f"there is no figure or table figures/{wildcards.name}; those there are: "
        f"{', '.join(shown)} (and each figure's .caption.rst)"
    )


# Every figure: the function that draws it and the results it reads, in the order it takes them.
# This one table defines each figure's rule (figures.smk), and through them `rule all`, the
# figures/<name> links and the scorecard's inputs: a new figure is a row here, its plotting
# function and the experiment that makes its results.
Figure = namedtuple("Figure", ["render", "inputs"])


FIGURE_TABLE = {
    # a schematic of the setting: a weight W, its input h_i, the loss gradient, FACT
    "fig1": Figure("fact.experiments.plots.fig1:render", []),
    # FACT, NFA and eNFA against W^T W per layer at the end of training (MLPs)
    "fig2": Figure("fact.experiments.plots.mlp:render_fig2", [features("mlp")]),
    # feature matrices learned on sparse parities, support marked
    "fig3": Figure("fact.experiments.plots.parity:render_fig3", parity_outputs("fig3")),
    # test accuracy against RFM iteration on a sparse parity, over seeds
    "fig4": Figure("fact.experiments.plots.parity:render_fig4", parity_outputs("fig4")),
    # grokking modular addition: feature matrices and accuracy over iterations
    "fig5": Figure("fact.experiments.plots.modular:render_fig5", modular_outputs("fig5")),
    # tau against k' at the final feature matrix, with its proportional fit
    "fig6": Figure("fact.experiments.plots.modular:render_fig6", modular_outputs("fig6")),
    # FACT against AGOP^s on the adversarial quadratic network
    "fig7": Figure("fact.experiments.plots.fig7:render", [features("fig7"), f"{RESULTS}/features/fig7_matrices.pt"]),
    # the forward relations over training epochs (MLPs)
    "fig8": Figure("fact.experiments.plots.mlp:render_fig8", [features("mlp")]),
    # bFACT, backward AGOP and backward eNFA against W W^T per layer (MLPs)
    "fig9": Figure("fact.experiments.plots.mlp:render_fig9", [features("mlp")]),
    # the backward relations over training epochs (MLPs)
    "fig10": Figure("fact.experiments.plots.mlp:render_fig10", [features("mlp")]),
    # deep linear networks: the NFA's best power against 1/L, and FACT
    "fig11": Figure("fact.experiments.plots.deep_linear:render", [features("deep_linear")]),
    # beyond the paper: a transformer's and a CNN's weight matrices under Adam-L2 and AdamW
    "fig12": Figure(
        "fact.experiments.plots.decay_runs:render_fig12", [features("transformer"), features("transformer_history")]
    ),
    "fig13": Figure("fact.experiments.plots.decay_runs:render_fig13", [features("cnn"), features("cnn_history")]),
    # beyond the paper: FACT and the NFA against each layer's stationarity error
    "fig14": Figure("fact.experiments.plots.convergence:render_fig14", [features("convergence")]),
}
