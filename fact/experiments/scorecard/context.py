"""What a scorecard row's results were made from: the data, and the settings that differ from the paper's.

Both are read from the settings stored in the result files, never from config.yaml, so a row
describes the run it judges. Only settings the paper states are compared (docs/paper-settings.md, and the
reference code for Table 1); the ones it leaves open are chosen in config.yaml and shown in captions.
"""

from __future__ import annotations

from fact.experiments.scorecard.results import Experiment

# The paper's stated settings, by experiment: dotted key in the stored settings -> value.
PAPER_SETTINGS = {
    "tabular": {
        "source": "uci121",
        "kernel.name": "laplace",
        "kernel.bandwidth": 10.0,
        "iters": 4,
        "regs": [10, 1, 0.1, 0.01, 0.001],
        "agop_max_samples": 20000,
    },
    "fig7": {"model.width": 10, "train.polish": "none"},  # Adam alone in the paper
    "parity": {"d": 50, "kernel.name": "gaussian", "kernel.bandwidth": 5.0, "iters": 5},
    "modular": {"p": 61, "train_fraction": 0.5},
    "mlp": {
        "model.depth": 5,
        "train.epochs": 200,
        "train.momentum": 0.9,
        "train.final_lr_ratio": 0.0,
        "train.polish_steps": 0,
    },  # SGD alone in the paper
    "deep_linear": {"train.batch_size": 128},
}

DATASETS = {"sklearn": "scikit-learn's bundled sets", "uci121": "UCI-121"}


def lookup(settings: dict, dotted: str):
    """The value at a dotted path (``train.weight_decay``) of a settings dict, or None."""
    value = settings
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def same(ours, paper) -> bool:
    """Whether our value of a setting equals the paper's: numbers to 1e-12 (relative above 1), lists entry by entry."""
    if isinstance(paper, list) and isinstance(ours, list):
        return len(ours) == len(paper) and all(same(a, b) for a, b in zip(ours, paper))
    if isinstance(paper, (int, float)) and isinstance(ours, (int, float)) and not isinstance(ours, bool):
        return abs(ours - paper) <= 1e-12 * max(1.0, abs(paper))
    return ours == paper


def compared_settings(experiment: Experiment) -> list[dict]:
    """The settings the paper's values are compared with: the networks' training where there was one."""
    return experiment.trained_with or experiment.settings


def differences(kind: str, experiment: Experiment) -> str:
    """The settings of an experiment that differ from the paper's, in words."""
    found = []
    for key, paper in PAPER_SETTINGS.get(kind, {}).items():
        ours = sorted(
            {
                repr(v)
                for v in (lookup(s, key) for s in compared_settings(experiment))
                if v is not None and not same(v, paper)
            }
        )
        if ours:
            found.append(f"{key} = {' / '.join(ours)} (paper: {paper!r})")
    return "; ".join(found).replace("'", "") or "none of the paper's stated settings"


def data_used(kind: str, experiment: Experiment) -> str:
    """The data the experiment's results come from, in a few words."""
    table = experiment.table
    seeds = f"{table.seed.nunique()} seed(s)" if "seed" in table else ""
    if kind == "tabular":
        sources = sorted({DATASETS.get(s["source"], s["source"]) for s in experiment.settings})
        done = table[table.status == "ok"].dataset.nunique()
        return f"{', '.join(sources)}: {done} of {table.dataset.nunique()} datasets"
    if kind == "fig7":
        return f"exact population of the adversarial mixture, {seeds}"
    if kind == "parity":
        sizes = sorted({(row.experiment, row.k, row.n) for row in table[["experiment", "k", "n"]].itertuples()})
        return f"d = {table.d.iloc[0]}, " + ", ".join(f"{e} k = {k} n = {n}" for e, k, n in sizes) + f", {seeds}"
    if kind == "modular":
        return f"p = {table.p.iloc[0]}, runs {', '.join(sorted(table.run.unique()))}, {seeds}"
    if kind == "mlp":
        return f"{'; '.join(sorted(table.note.unique()))}; {seeds}"
    if kind == "deep_linear":
        config = experiment.trained_with[0] if experiment.trained_with else {}
        return (
            f"Gaussian linear teacher d = {config.get('d')}, n = {config.get('n')}; depths "
            f"{', '.join(str(d) for d in sorted(table.depth.unique()))}; {seeds}"
        )
    if kind == "transformer":
        config = experiment.trained_with[0]["data"] if experiment.trained_with else {}
        return (
            f"(a + b) mod {config.get('p')} on {config.get('train_fraction', 0):.0%} of the pairs; optimisers "
            f"{', '.join(sorted(table.optimiser.unique()))}; {seeds}"
        )
    if kind == "convergence":
        return f"{len(table)} layer states of {', '.join(sorted(table.architecture.unique()))}"
    if kind == "cnn":
        optimisers = ", ".join(sorted(table.optimiser.unique()))
        return f"{', '.join(sorted(table.dataset.unique()))}; optimisers {optimisers}; {seeds}"
    return seeds
