"""Every shell command of the README and the docs (their ```bash blocks) runs as written: Snakemake's as dry runs
in a copy of the workflow, so a command Snakemake cannot parse fails here; make's as ``make -n``; torchrun's on
the library page's own script. The few that need what no test machine has say what checks them instead."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fact.experiments.job_rates import RATES
from tests.conftest import copy_workflow
from tests.support.pages import PAGES, ROOT, commands, fenced_blocks

pytestmark = pytest.mark.pipeline

COMMANDS = [(page.relative_to(ROOT), command) for page in PAGES for command in commands(page)]

NOT_RUN = {  # a command no test machine can run as written, and what checks it instead
    "source": "a shell builtin that changes the calling shell; make creates .venv/bin/activate",
    "conda": "conda is not installed where the tests run; environment.yml is compared with pyproject.toml below",
    "srun": "needs a SLURM allocation; the torchrun command it wraps runs here",
}
REPORT = "needs every figure built; tests/test_pipeline.py builds Figure 7 and makes its report"


def words(command: str) -> tuple[dict, list[str]]:
    """The environment settings and the arguments of ``command`` (the first of an ``&&`` chain)."""
    argv = shlex.split(command.split("&&")[0])
    settings = {}
    while argv and re.fullmatch(r"[A-Z_]+=\S*", argv[0]):
        key, _, value = argv.pop(0).partition("=")
        settings[key] = value
    return settings, argv


def test_the_pages_have_commands_to_check_and_every_kind_is_known():
    programs = {words(command)[1][0] for _, command in COMMANDS}
    assert {"snakemake", "make", "torchrun", "python"} <= programs
    assert programs <= {"snakemake", "make", "torchrun", "python", *NOT_RUN}, programs


def test_a_plain_block_holds_no_command_the_tests_would_miss():
    unmarked = [
        (page.name, text.split("\n")[0])
        for page in PAGES
        for language, text in fenced_blocks(page)
        if language == "" and re.match(r"\s*(snakemake|make|torchrun|conda|srun|source|pip)\b", text)
    ]
    assert not unmarked, f"mark these blocks ```bash so that their commands are checked: {unmarked}"


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    """A copy of the workflow with the files the docs' commands name: the settings file of the pipeline page and
    the library page's distributed script."""
    workdir = copy_workflow(tmp_path_factory.mktemp("docs_commands"))
    for page in PAGES:
        for language, text in fenced_blocks(page):
            if language == "yaml" and text.startswith("# "):  # a file the page shows whole, named on its first line
                (workdir / text.split("\n")[0][2:].strip()).write_text(text)
    (workdir / RATES).parent.mkdir()
    shutil.copy(ROOT / RATES, workdir / RATES)  # the measured job times the cost estimate reads
    library = [text for language, text in fenced_blocks(ROOT / "docs/library.md") if "dist.init_process_group" in text]
    (workdir / "analysis.py").write_text(library[0])
    return workdir


def run(argv: list[str], cwd: Path, settings: dict) -> subprocess.CompletedProcess:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the venv's snakemake and torchrun
    environment = {**os.environ, "PATH": path, **settings}
    return subprocess.run(argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("page, command", COMMANDS, ids=[f"{page}: {command}" for page, command in COMMANDS])
def test_a_docs_command_runs_as_written(page, command, workflow):
    settings, argv = words(command)
    if argv[0] in NOT_RUN:
        pytest.skip(NOT_RUN[argv[0]])
    if argv[0] == "snakemake" and "--report" in argv:
        pytest.skip(REPORT)
    if argv[0] == "snakemake":
        result = run([*argv, "--dry-run"], workflow, settings)
        assert result.returncode == 0 and "This was a dry-run" in result.stdout, result.stdout + result.stderr
    elif argv[0] == "python":  # python -m fact...: the cost estimate and the publisher, in the workflow copy
        result = run(argv, workflow, settings)
        if "record" in argv:  # the copy has run no job to record: tests/test_pipeline.py records real ones
            assert result.returncode == 2 and "run jobs of the pipeline first" in result.stderr, result.stderr
        elif "fact.experiments.publish" in argv:  # nor computed results to publish: tests/test_pipeline.py does
            assert result.returncode == 1 and "holds no result the scorecard reads" in result.stderr, result.stderr
        else:
            assert result.returncode == 0 and "Estimated cost of the plan" in result.stdout, (
                result.stdout + result.stderr
            )
    elif argv[0] == "make":
        result = run(["make", "-n", *argv[1:]], ROOT, settings)
        assert result.returncode == 0, result.stderr
    else:  # torchrun, on the library page's script: two processes sum what one would
        result = run(argv, workflow, settings)
        assert result.returncode == 0 and result.stdout.split()[0] == "256", result.stdout + result.stderr


def test_the_conda_environment_holds_what_pip_installs():
    conda_names = {"torch": "pytorch", "matplotlib": "matplotlib-base", "snakemake": "snakemake-minimal"}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = {re.split(r"[<>=]", entry)[0] for entry in environment["dependencies"]}
    project = (ROOT / "pyproject.toml").read_text()
    wanted = re.findall(r'^\s*"([A-Za-z0-9_.-]+)[<>=\[]', project.split("[project.optional-dependencies]")[0], re.M)
    for extra in ("pipeline", "test"):
        block = re.search(rf"^{extra} = \[(.*?)\]$", project, flags=re.S | re.M).group(1)
        wanted += re.findall(r'"([A-Za-z0-9_.-]+)[<>=\[]', block)
    missing = sorted(name for name in wanted if conda_names.get(name, name) not in listed)
    assert not missing, f"environment.yml lacks {missing}, which pyproject.toml installs"
