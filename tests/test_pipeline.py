"""The Snakemake pipeline end to end, on a temporary copy with Figure 7 at quick scale and one seed.

Shows that a second call does nothing, that a changed setting or source file reruns
exactly the jobs that use it, and that a bad config names the offending key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import copy_workflow
from tests.support.pipeline import edit_config, snakemake

pytestmark = pytest.mark.pipeline


def planned_jobs(workdir: Path, *args: str, env: dict | None = None) -> set[str]:
    """Names of the rules a dry run would execute."""
    result = snakemake(workdir, "-n", *args, env=env)
    return set(re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, flags=re.M))


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("pipeline")
    copy_workflow(workdir)

    edit_config(workdir, lambda c: c["scales"]["quick"]["fig7"].update(seeds=[0]))
    snakemake(workdir, "figures/fig7.pdf")
    return workdir


def test_builds_figure_7_and_its_tidy_table(workflow_copy):
    assert (workflow_copy / "figures/fig7.pdf").stat().st_size > 10_000
    table = pd.read_parquet(workflow_copy / "results/quick/features/fig7.parquet")
    assert {
        "exp",
        "dataset",
        "run",
        "seed",
        "epoch",
        "layer",
        "relation",
        "power",
        "pearson",
        "cosine",
        "stationarity_error",
    } <= set(table.columns)
    hidden = table[(table.layer == "hidden") & (table.side == "forward")]
    assert hidden[hidden.relation == "fact"].cosine.min() >= 0.99
    nfa = hidden[hidden.relation == "nfa"].set_index("power").cosine
    assert nfa[0.5] <= 0.5 and nfa[1.0] <= 0.5
    assert (workflow_copy / "logs/train_fig7/quick/seed0.log").read_text().count("adam step") >= 1
    # each compute job's measured wall time and memory, beside its log
    measured = pd.read_csv(workflow_copy / "benchmarks/train_fig7/quick/seed0.tsv", sep="\t")
    assert len(measured) == 1 and measured.s.iloc[0] > 0 and measured.max_rss.iloc[0] > 0


def test_a_dry_run_is_priced_from_the_times_its_jobs_recorded(workflow_copy):
    """`record` gathers the benchmark files of the jobs run; the estimate of a plan that reruns them prices
    each at its own time (quick scale: every job on the CPU, so CPU-hours of CPU time)."""
    rates = workflow_copy / "rates.tsv"
    command = [sys.executable, "-m", "fact.experiments.cost"]
    recorded = subprocess.run(
        [*command, "record", "--rates", str(rates)], cwd=workflow_copy, capture_output=True, text=True
    )
    assert recorded.returncode == 0, recorded.stderr
    measured = pd.read_csv(workflow_copy / "benchmarks/train_fig7/quick/seed0.tsv", sep="\t").cpu_time.iloc[0]
    plan = subprocess.run(
        [*command, "--rates", str(rates), "--forceall", "figures/fig7.pdf"],
        cwd=workflow_copy,
        capture_output=True,
        text=True,
    )
    assert plan.returncode == 0, plan.stderr
    estimate = plan.stdout[plan.stdout.index("Estimated cost") :]
    row = next(line.split() for line in estimate.splitlines() if line.startswith("train_fig7 "))
    # rule, jobs, priced, own time, GPU-hours, CPU-hours, measured on
    assert row[1:5] == ["1", "1", "1", "-"]
    assert float(row[5]) == pytest.approx(measured / 3600, rel=0.01)
    assert "Job stats:" in plan.stdout and "Left out, rules that record no time" in plan.stdout


def test_the_report_shows_each_figure_with_the_caption_its_results_give(workflow_copy):
    snakemake(workflow_copy, "--report", "report.html", "figures/fig7.pdf")
    page = (workflow_copy / "report.html").read_text()
    assert "fig7.pdf" in page
    # the report sorts figures by their first label as text: Figure 7's is its place in natural order
    assert '"labels": {"#": "07", "figure": "fig7"}' in page
    caption = (workflow_copy / "figures/quick/fig7.caption.rst").read_text()
    assert "Scale: quick" in caption and "width 10" in caption and "seeds 0." in caption  # one seed in this copy
    assert caption.split("\n\n")[1].strip()[:120] in page


def test_builds_table_1_offline_at_quick_scale(workflow_copy):
    original = (workflow_copy / "config.yaml").read_text()
    try:
        edit_config(workflow_copy, lambda c: c["scales"]["quick"]["tabular"].update(datasets=["iris", "wine"], iters=1))
        snakemake(workflow_copy, "figures/table1.md")
        text = (workflow_copy / "figures/table1.md").read_text()
        assert "| Laplace kernel regression |" in text and "83.71" in text and "scikit-learn's bundled sets" in text
        # the caption states the settings used (iters: 1), read from the results, not typed in
        assert "RFM iterations 0-1 (best kept)" in text and "ridge in {10, 1, 0.1, 0.01, 0.001}" in text
        assert "Laplace kernel with bandwidth 10" in text
        for name in ("table1.tex", "table1.pdf", "table1_scatter.pdf"):
            assert (workflow_copy / "figures/quick" / name).stat().st_size > 1000
        assert planned_jobs(workflow_copy, "figures/table1.md") == set()
        # a dataset added: its job and the aggregation run, the others stay
        edit_config(
            workflow_copy, lambda c: c["scales"]["quick"]["tabular"].update(datasets=["iris", "wine", "digits"])
        )
        result = snakemake(workflow_copy, "-n", "figures/table1.md")
        assert set(re.findall(r"^tabular_dataset\s+(\d+)$", result.stdout, flags=re.M)) == {"1"}
    finally:
        (workflow_copy / "config.yaml").write_text(original)


def test_a_second_call_does_nothing(workflow_copy):
    assert planned_jobs(workflow_copy, "figures/fig7.pdf") == set()


def test_a_changed_setting_reruns_only_the_jobs_that_use_it(workflow_copy):
    original = (workflow_copy / "config.yaml").read_text()
    try:
        edit_config(workflow_copy, lambda c: c["scales"]["quick"]["fig7"].update(powers=[0.5, 1.0]))
        assert planned_jobs(workflow_copy, "figures/fig7.pdf") == {"extract_fig7", "fig7", "current_figure"}
        edit_config(workflow_copy, lambda c: c["scales"]["quick"]["fig7"]["train"].update(lr=0.02))
        assert planned_jobs(workflow_copy, "figures/fig7.pdf") == {
            "train_fig7",
            "extract_fig7",
            "fig7",
            "current_figure",
        }
        (workflow_copy / "config.yaml").write_text(original)
        # the other scale's settings are another experiment: nothing to redo here
        edit_config(workflow_copy, lambda c: c["scales"]["paper"]["fig7"]["train"].update(steps=123))
        assert planned_jobs(workflow_copy, "figures/fig7.pdf") == set()
    finally:
        (workflow_copy / "config.yaml").write_text(original)


def test_a_changed_source_file_reruns_only_the_jobs_that_run_it(workflow_copy):
    # the lists of source files come from the stages' imports: fact/features/linalg.py is used through
    # fact/features/matrices.py
    # by the extraction and the figure, not by the training
    expected = {
        "fact/experiments/plots/fig7.py": {"fig7", "current_figure"},
        "fact/features/linalg.py": {"extract_fig7", "fig7", "current_figure"},
        "fact/experiments/models.py": {"train_fig7", "extract_fig7", "fig7", "current_figure"},
        "fact/experiments/plots/parity.py": set(),  # another figure's plotting module
        "fact/kernel_machines/rfm.py": set(),
    }  # not imported by any stage of Figure 7
    for source, jobs in expected.items():
        path = workflow_copy / source
        original = path.read_text()
        try:
            path.write_text(original + "\n# an edit\n")
            assert planned_jobs(workflow_copy, "figures/fig7.pdf") == jobs, source
        finally:
            path.write_text(original)
        # newer but unchanged: Snakemake compares checksums, so nothing reruns
        assert planned_jobs(workflow_copy, "figures/fig7.pdf") == set(), source


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.update(scale="huge"), r"'huge' is not one of \['quick', 'paper'\]"),
        (lambda c: c["scales"]["quick"]["fig7"]["train"].update(learning_rate=0.1), r"'learning_rate' was unexpected"),
        (
            lambda c: c["scales"]["quick"]["fig7"]["data"].update(hypercube_weight=1.5),
            r"1\.5 is greater than or equal to the maximum",
        ),
        (
            lambda c: c["scales"]["quick"]["modular"].update(fig5=["nfa", "fact_gem"]),
            r"modular\.fig5 names \['fact_gem'\]",
        ),
        (
            lambda c: c["scales"]["quick"]["tabular"].update(fold_features="both"),
            r"'both' is not one of \['validation', 'refit'\]",
        ),
        (
            lambda c: c["scales"]["quick"]["parity"]["fig3"].update(sizes=[{"k": 3, "n": 100}, {"k": 3, "n": 200}]),
            r"parity\.fig3\.sizes lists k = \[3\] more than once",
        ),
        (
            lambda c: c["scales"]["paper"]["mlp"].update(keep_epochs=[0, 100, 250]),
            r"scales\.paper\.mlp\.keep_epochs has \[250\], beyond the 200 epochs",
        ),
        (
            lambda c: c["scales"]["quick"]["tabular"].update(datasets=["iris", "irs"]),
            r"'irs' is not one of \['iris', 'wine', 'breast_cancer', 'digits'\]",
        ),
        (
            lambda c: c["scales"]["quick"]["fig7"]["data"].update(epsilon=float("nan")),
            r"scales\.quick\.fig7\.data\.epsilon is nan: give a finite number",
        ),
        (
            lambda c: c["scales"]["quick"]["fig7"]["train"].update(lr=float("nan")),
            r"scales\.quick\.fig7\.train\.lr is nan",
        ),
        (lambda c: c["scales"]["quick"]["parity"].update(reg=float("inf")), r"scales\.quick\.parity\.reg is inf"),
        (
            lambda c: c["scales"]["quick"]["fig7"]["train"].update(lr="1e-1"),
            r"scales\.quick\.fig7\.train\.lr is the text '1e-1': .*write 1\.0e-1",
        ),
        (
            lambda c: c["scales"]["quick"]["mlp"]["train"].update(converged_below=5),
            r"5 is greater than the maximum of 1",
        ),
        (
            lambda c: c["scales"]["quick"]["deep_linear"].update(depths=[2.0, 3]),
            r"scales\.quick\.deep_linear\.depths\.0 is 2\.0: write 2, a whole number",
        ),
        (
            lambda c: c["scales"]["quick"]["cnn"].update(dataset="mnistt"),
            r"'mnistt' is not one of \['digits', 'mnist', 'cifar10', 'mnist_test', 'cifar10_jpeg'\]",
        ),
        (
            lambda c: c["scales"]["quick"]["transformer"]["model"].update(width=64, heads=5),
            r"scales\.quick\.transformer\.model\.width is 64, not a multiple of its 5 heads",
        ),
        (
            lambda c: c["scales"]["quick"]["mlp"]["model"].update(width=100_000_000),
            r"scales\.quick\.mlp\.model\.width 100000000 .* needs at least [\d,.]+ GiB .* more than the 4,096\.0 GiB",
        ),
    ],
)
def test_a_bad_config_names_the_key(workflow_copy, change, message):
    original = (workflow_copy / "config.yaml").read_text()
    try:
        edit_config(workflow_copy, change)
        result = snakemake(workflow_copy, "-n", "figures/fig7.pdf", check=False)
        assert result.returncode != 0
        assert re.search(message, result.stdout + result.stderr), result.stdout[-3000:] + result.stderr[-3000:]
    finally:
        (workflow_copy / "config.yaml").write_text(original)


def test_nested_settings_on_the_command_line_are_explained(workflow_copy):
    result = snakemake(workflow_copy, "-n", "--config", "scales={quick: {parity: {reg: 0.1}}}", check=False)
    assert result.returncode != 0 and "--configfile" in result.stdout + result.stderr


def test_a_bad_setting_in_a_configfile_gets_no_hint_about_the_command_line(workflow_copy, tmp_path):
    settings = tmp_path / "my_settings.yaml"
    settings.write_text("scales:\n  quick:\n    parity:\n      reg: -1\n")
    result = snakemake(workflow_copy, "-n", "figures/fig7.pdf", "--configfile", str(settings), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "-1 is less than the minimum of 0" in output
    assert "cannot be given with --config" not in output


def test_a_figure_that_does_not_exist_lists_those_that_do(workflow_copy):
    result = snakemake(workflow_copy, "-n", "figures/fig99.pdf", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert re.search(
        r"there is no figure or table figures/fig99\.pdf; those there are: config\.yaml, fig1\.pdf, "
        r"fig2\.pdf, .*fig13\.pdf, fig14\.pdf, scorecard\.html",
        output,
    ), output[-2000:]


def test_a_target_of_an_unconfigured_k_names_the_configured_ones(workflow_copy):
    result = snakemake(workflow_copy, "-n", "results/quick/rfm/parity/fig3/k5_seed0.parquet", check=False)
    assert result.returncode != 0
    assert (
        "k = 5 is not configured for fig3: scales.quick.parity.fig3 has k = [2, 3, 4]" in result.stdout + result.stderr
    )


def test_each_scale_keeps_its_own_figures(workflow_copy):
    original = (workflow_copy / "config.yaml").read_text()
    figures = workflow_copy / "figures"
    quick = (figures / "quick/fig7.pdf").read_bytes()
    try:
        # the paper scale's Figure 7 made cheap: the quick settings with other powers
        edit_config(
            workflow_copy,
            lambda c: c["scales"].update(
                paper={**c["scales"]["paper"], "fig7": {**c["scales"]["quick"]["fig7"], "seeds": [0], "powers": [0.5]}}
            ),
        )
        snakemake(workflow_copy, "figures/fig7.pdf", "--config", "scale=paper")
        paper = (figures / "paper/fig7.pdf").read_bytes()
        assert paper != quick and (figures / "fig7.pdf").read_bytes() == paper
        assert (figures / "quick/fig7.pdf").read_bytes() == quick
        # back to the quick scale: only the copy is redone, and the paper scale's figure stays
        assert planned_jobs(workflow_copy, "figures/fig7.pdf") == {"current_figure"}
        snakemake(workflow_copy, "figures/fig7.pdf")
        assert (figures / "fig7.pdf").read_bytes() == quick and (figures / "paper/fig7.pdf").read_bytes() == paper
    finally:
        (workflow_copy / "config.yaml").write_text(original)


def test_a_failed_figure_job_leaves_no_figure_reported_up_to_date(workflow_copy, tmp_path):
    figures = workflow_copy / "figures"
    settings = tmp_path / "two_powers.yaml"
    settings.write_text("scales:\n  quick:\n    fig7:\n      powers: [0.5, 1.0]\n")
    in_the_way = figures / "quick/.fig7.pdf.tmp"  # a folder where the figure job writes: it fails there
    try:
        in_the_way.mkdir()
        failed = snakemake(workflow_copy, "figures/fig7.pdf", "--configfile", str(settings), check=False)
        assert failed.returncode != 0 and not (figures / "quick/fig7.pdf").exists()
        in_the_way.rmdir()
        # the figure of the old settings is neither kept nor reported up to date: it is rebuilt
        assert {"fig7", "current_figure"} <= planned_jobs(
            workflow_copy, "figures/fig7.pdf", "--configfile", str(settings)
        )
        assert "fig7" in planned_jobs(workflow_copy, "all", "--configfile", str(settings))
        snakemake(workflow_copy, "figures/fig7.pdf", "--configfile", str(settings))
        assert (figures / "fig7.pdf").read_bytes() == (figures / "quick/fig7.pdf").read_bytes()
        table = pd.read_parquet(workflow_copy / "results/quick/features/fig7.parquet")
        assert sorted(table[table.relation == "nfa"].power.unique()) == [0.5, 1.0]
        assert planned_jobs(workflow_copy, "figures/fig7.pdf", "--configfile", str(settings)) == set()
    finally:
        if in_the_way.exists():
            in_the_way.rmdir()
        snakemake(workflow_copy, "figures/fig7.pdf")  # back to the settings of the other tests


def test_a_checkpoint_from_another_run_stops_the_extraction_naming_what_differs(workflow_copy):
    from fact.experiments.io import load_torch, save_torch

    path = workflow_copy / "results/quick/nets/fig7/seed0.pt"
    original = path.read_bytes()
    try:
        foreign = load_torch(path)
        foreign["settings"]["model"]["width"] = 5  # as if trained with model.width: 5 and copied here
        save_torch(foreign, path)
        result = snakemake(workflow_copy, "figures/fig7.pdf", check=False)
        assert result.returncode != 0
        log = (workflow_copy / "logs/extract_fig7/quick.log").read_text()
        assert (
            "results/quick/nets/fig7/seed0.pt was trained with other settings than its training job has now "
            "(model.width is 5 in the file, 10 here): delete it and rerun"
        ) in log
    finally:
        path.write_bytes(original)
        snakemake(workflow_copy, "figures/fig7.pdf")


# ---------------------------------------------------------------- fetching UCI-121 datasets

TOY_DATASETS = ("toy", "toy2", "toy3")


def planned_outputs(workdir: Path, *args: str, env: dict | None = None) -> set[str]:
    """The output files a dry run would make."""
    result = snakemake(workdir, "-n", *args, env=env)
    return set(re.findall(r"^\s+output: (\S+)", result.stdout + result.stderr, flags=re.M))


@pytest.fixture
def fetch_workflow(tmp_path) -> Path:
    """A copy of the workflow whose UCI-121 manifest holds three toy datasets, run at paper scale."""
    from tests.support.mirror import _manifests_for, make_toy_mirror

    workdir = tmp_path / "workflow"
    copy_workflow(workdir)
    published = make_toy_mirror(tmp_path / "published", TOY_DATASETS)
    manifests = _manifests_for(tmp_path, published)
    for name in ("uci121.sha256", "uci121.datasets"):
        shutil.copy(manifests / name, workdir / "fact/experiments/data/manifests" / name)
    edit_config(
        workdir,
        lambda c: c["scales"]["paper"]["tabular"].update(
            datasets=list(TOY_DATASETS), regs=[0.1], normalise=[True], iters=1, device="cpu"
        ),
    )
    return workdir


def without_mirror() -> dict:
    return {key: value for key, value in os.environ.items() if key != "FACT_DATA_MIRROR"}


TABLES = [f"results/paper/tabular/{name}.parquet" for name in TOY_DATASETS]


def test_the_fetch_downloads_without_a_mirror_and_a_switch_of_source_recomputes_nothing(fetch_workflow, tmp_path):
    from tests.support.mirror import corrupt, make_toy_mirror, serve_uci121_archive

    served = make_toy_mirror(tmp_path / "served-copy", TOY_DATASETS)
    corrupt(served / "uci121/toy2/toy2_R.dat")
    (served / "uci121/toy3/conxuntos_kfold.dat").unlink()
    folder = tmp_path / "www"
    folder.mkdir()
    serve_uci121_archive(folder, served)
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port = int(re.search(r"port (\d+)", server.stdout.readline()).group(1))
        edit_config(fetch_workflow, lambda c: c["data"].update(download_url=f"http://127.0.0.1:{port}"))
        snakemake(fetch_workflow, *TABLES, "--config", "scale=paper", env=without_mirror())
    finally:
        server.terminate()
    status = {
        name: json.loads((fetch_workflow / f"data/uci121/status/{name}.json").read_text()) for name in TOY_DATASETS
    }
    assert status["toy"]["available"] and status["toy"]["source"] == f"download http://127.0.0.1:{port}"
    assert "uci121/toy2/toy2_R.dat: checksum mismatch" in status["toy2"]["reason"]
    assert "uci121/toy3/conxuntos_kfold.dat: file missing" in status["toy3"]["reason"]
    assert (pd.read_parquet(fetch_workflow / TABLES[0]).status == "ok").all()
    assert (pd.read_parquet(fetch_workflow / TABLES[1]).status == "unavailable").all()
    assert planned_outputs(fetch_workflow, *TABLES, "--config", "scale=paper", env=without_mirror()) == set()

    # the same files from a mirror: the verified dataset recomputes nothing, in either direction
    mirror = make_toy_mirror(tmp_path / "mirror", TOY_DATASETS)
    with_mirror = dict(without_mirror(), FACT_DATA_MIRROR=str(mirror))
    assert planned_outputs(fetch_workflow, TABLES[0], "--config", "scale=paper", env=with_mirror) == set()
    # the datasets that failed are fetched again from the new source, and only they are recomputed
    assert planned_outputs(fetch_workflow, *TABLES, "--config", "scale=paper", env=with_mirror) == {
        "data/uci121/status/toy2.json",
        "data/uci121/status/toy3.json",
        TABLES[1],
        TABLES[2],
    }
    snakemake(fetch_workflow, *TABLES, "--config", "scale=paper", env=with_mirror)
    assert (pd.read_parquet(fetch_workflow / TABLES[1]).status == "ok").all()
    assert planned_outputs(fetch_workflow, *TABLES, "--config", "scale=paper", env=without_mirror()) == set()


def test_a_repaired_mirror_file_or_a_deleted_verified_file_reruns_only_its_dataset(fetch_workflow, tmp_path):
    from tests.support.mirror import corrupt, make_toy_mirror

    mirror = make_toy_mirror(tmp_path / "mirror", TOY_DATASETS)
    data_file = mirror / "uci121/toy2/toy2_R.dat"
    original = data_file.read_text()
    corrupt(data_file)
    env = dict(without_mirror(), FACT_DATA_MIRROR=str(mirror))
    run = ("--config", "scale=paper")
    snakemake(fetch_workflow, *TABLES, *run, env=env)
    assert (pd.read_parquet(fetch_workflow / TABLES[1]).status == "unavailable").all()
    assert planned_outputs(fetch_workflow, *TABLES, *run, env=env) == set()  # nothing changed: nothing to do

    data_file.write_text(original)  # repaired at the mirror
    assert planned_outputs(fetch_workflow, *TABLES, *run, env=env) == {"data/uci121/status/toy2.json", TABLES[1]}
    snakemake(fetch_workflow, *TABLES, *run, env=env)
    assert (pd.read_parquet(fetch_workflow / TABLES[1]).status == "ok").all()
    assert planned_outputs(fetch_workflow, *TABLES, *run, env=env) == set()

    (fetch_workflow / "data/uci121/toy3/conxuntos.dat").unlink()  # a verified file deleted
    assert planned_outputs(fetch_workflow, *TABLES, *run, env=env) == {"data/uci121/status/toy3.json", TABLES[2]}
    snakemake(fetch_workflow, *TABLES, *run, env=env)
    assert (fetch_workflow / "data/uci121/toy3/conxuntos.dat").is_file()
    assert planned_outputs(fetch_workflow, *TABLES, *run, env=env) == set()


def planned_wildcards(workdir: Path, rule: str, *args: str) -> set[str]:
    """The wildcards of every job of ``rule`` a dry run plans."""
    output = snakemake(workdir, "-n", *args).stdout
    jobs = re.findall(rf"^rule {rule}:\n(?:    .*\n)*?    wildcards: (.*)$", output, flags=re.M)
    return set(jobs)


def test_the_offline_paper_scale_fetches_only_what_a_mirror_holds(workflow_copy):
    paper = ("all", "--config", "scale=paper")
    assert planned_wildcards(workflow_copy, "fetch_images", *paper) == {
        "dataset=mnist", "dataset=cifar10", "dataset=cifar10_jpeg"
    }  # fmt: skip
    offline = ("all", "--configfile", "workflow/paper_from_mirror.yaml", "--config", "scale=paper")
    assert planned_wildcards(workflow_copy, "fetch_images", *offline) == {"dataset=mnist_test", "dataset=cifar10_jpeg"}
