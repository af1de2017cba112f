"""The SLURM profile on a real cluster: jobs submitted by Snakemake through profiles/slurm run under
slurmd, and what the scheduler granted, cancelled and killed is read back with scontrol.

Start a one-node cluster with `.ci/slurm.sh start` (as .ci/run does); where none answers, these
tests skip and say so.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import torch
import yaml

from fact.experiments.data import images
from fact.experiments.models import mlp
from fact.experiments.training import SGDSettings, train_sgd
from tests.conftest import copy_workflow
from tests.support.pipeline import edit_config
from tests.support.slurm import expected, outside_any_job, through_the_profile


def cluster_problem() -> str | None:
    """Why no cluster can take the tests' jobs here, or None."""
    if shutil.which("sinfo") is None:
        return "SLURM is not installed (.ci/slurm.sh start installs and starts a one-node cluster)"
    try:
        answer = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "slurmctld does not answer (sinfo timed out); start a cluster with .ci/slurm.sh start"
    if answer.returncode != 0:
        return f"sinfo failed: {answer.stderr.strip()}"
    states = dict(line.replace("*", "").split() for line in answer.stdout.splitlines())
    if not {"cpu", "gpu"} <= states.keys():
        return f"the cluster lacks the profile's partitions cpu and gpu (it has {sorted(states)})"
    if not any(state.startswith(("idle", "mix", "alloc")) for state in states.values()):
        return f"no node can take jobs (states {states})"
    return None


PROBLEM = cluster_problem()
pytestmark = [pytest.mark.pipeline, pytest.mark.skipif(PROBLEM is not None, reason=f"no SLURM cluster: {PROBLEM}")]


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A copy of the workflow with one seed for Figure 7; jobs of earlier tests are left out of `jobs`.
    Whatever a test leaves queued or running is cancelled, so that a failure cannot hold the node."""
    workdir = copy_workflow(tmp_path / "workflow")
    configure(workdir, {"scales": {"quick": {"fig7": {"seeds": [0]}}}})
    yield workdir
    left = [job["JobId"] for job in jobs(workdir) if job["JobState"] in ("PENDING", "RUNNING")]
    if left:
        subprocess.run(["scancel", *left], timeout=30)


def configure(workdir: Path, overrides: dict) -> None:
    """Merge ``overrides`` into the copy's config.yaml."""
    edit_config(workdir, lambda config: merge(config, overrides))


def merge(into: dict, overrides: dict) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def snakemake(workdir: Path, *args: str) -> subprocess.Popen:
    """Snakemake through the profile, in the background; its jobs run with this interpreter's environment."""
    command = through_the_profile(*args, latency_wait=5)
    return subprocess.Popen(
        command, cwd=workdir, env=outside_any_job(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen, timeout: int = 600) -> str:
    """Wait for Snakemake; return its output. Past ``timeout`` it is interrupted (cancelling its jobs)."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        pytest.fail(f"Snakemake did not finish within {timeout} s:\n{output[-4000:]}")
    return output


def jobs(workdir: Path) -> list[dict]:
    """Every job the cluster still shows whose working directory is ``workdir``, oldest first, with its
    rule (from the comment Snakemake gives it) and scontrol's fields."""
    listing = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=30).stdout
    found = []
    for line in listing.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        rule = re.match(r"rule_([a-z0-9_]+?)(?:_wildcards_.*)?$", fields.get("Comment", ""))
        if fields.get("WorkDir") == str(workdir) and rule:
            found.append({**fields, "rule": rule.group(1)})
    return sorted(found, key=lambda job: int(job["JobId"]))


def minutes(limit: str) -> int:
    """scontrol's TimeLimit ([days-]hours:minutes:seconds) in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, _ = map(int, clock.split(":"))
    return int(days or 0) * 1440 + hours * 60 + mins


def wait_for_job(workdir: Path, rule: str, state: str, timeout: int = 120) -> dict:
    """The first job of ``rule`` once it is in ``state``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in jobs(workdir):
            if job["rule"] == rule and job["JobState"] == state:
                return job
        time.sleep(0.2)
    pytest.fail(
        f"no {rule} job reached {state} within {timeout} s; jobs: {[(j['rule'], j['JobState']) for j in jobs(workdir)]}"
    )


def wait_for_submission(workdir: Path, job_id: str, timeout: int = 60) -> None:
    """Until Snakemake's log says it submitted ``job_id``: it cancels on an interrupt only the jobs it has
    registered, and slurmd can start a job before sbatch's answer is read."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = (workdir / ".snakemake" / "log").glob("*.snakemake.log")
        if any(f"submitted with SLURM jobid {job_id} " in log.read_text() for log in logs):
            return
        time.sleep(0.2)
    pytest.fail(f"Snakemake's log does not say it submitted SLURM job {job_id} within {timeout} s")


def assert_granted_as_asked(job: dict, attempt: int) -> None:
    partition, runtime, mem_mb = expected(job["rule"], attempt)
    assert (job["Partition"], minutes(job["TimeLimit"]), job["MinMemoryNode"]) == (partition, runtime, f"{mem_mb}M"), (
        job
    )


def test_a_quick_figure_runs_under_slurmd_with_the_profiles_partition_time_and_memory(workdir):
    output = finish(snakemake(workdir, "figures/fig7.pdf"))

    assert (workdir / "figures" / "fig7.pdf").exists(), output[-4000:]
    ran = jobs(workdir)
    assert [job["rule"] for job in ran] == ["train_fig7", "extract_fig7"], output[-4000:]  # the figure ran here
    node = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True).stdout.split()[0]
    for job in ran:
        assert (job["JobState"], job["BatchHost"]) == ("COMPLETED", node), job
        assert_granted_as_asked(job, attempt=1)
        assert "gpu" not in job.get("TresPerJob", ""), "quick scale runs on the CPU: no job may hold a GPU"


def test_a_paper_scale_training_job_is_granted_a_gpu(workdir):
    # far more steps than the test waits for, so that the job is still running when it is read back
    configure(workdir, {"scales": {"paper": {"fig7": {"train": {"steps": 100_000_000}}}}})
    process = snakemake(workdir, "results/paper/nets/fig7/seed0.pt", "--config", "scale=paper")
    try:
        job = wait_for_job(workdir, "train_fig7", "RUNNING")
    finally:
        # Killed, not interrupted: Snakemake once ignored an interrupt sent as slurmd started the job, and
        # both went on running. The fixture cancels the job.
        process.kill()
        process.communicate(timeout=60)

    assert job["TresPerJob"] == "gres:gpu:1", job
    assert_granted_as_asked(job, attempt=1)


def test_a_cancelled_training_job_is_reported_and_retried_with_more_time_and_memory(workdir):
    process = snakemake(workdir, "results/quick/nets/fig7/seed0.pt")
    first = wait_for_job(workdir, "train_fig7", "RUNNING")
    wait_for_submission(workdir, first["JobId"])
    subprocess.run(["scancel", first["JobId"]], check=True, timeout=30)
    output = finish(process)

    assert process.returncode == 0, output[-4000:]
    assert f"SLURM-job '{first['JobId']}' failed, SLURM status is: 'CANCELLED'" in output, output[-4000:]
    tries = jobs(workdir)
    assert [job["JobState"] for job in tries] == ["CANCELLED", "COMPLETED"], tries
    assert_granted_as_asked(tries[1], attempt=2)
    assert (workdir / "results" / "quick" / "nets" / "fig7" / "seed0.pt").exists()


def epochs_lasting(seconds: float, config: dict) -> int:
    """How many epochs of the quick MLP training take about ``seconds`` here, timed on 100 of them after
    a warm-up, each saving its resumable state as in the job."""
    block = config["scales"]["quick"]["mlp"]
    data = images.load("digits", block["split_seed"])
    Y = torch.nn.functional.one_hot(data.y_train, data.n_classes).float()
    shape = block["model"]
    train = {key: value for key, value in block["train"].items() if key in SGDSettings.__dataclass_fields__}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the job, whose rule has one thread
    try:
        for epochs in (5, 100):  # the first call pays for what runs once per process
            model = mlp(data.d, shape["width"], data.n_classes, shape["depth"], shape["bias"])
            with tempfile.TemporaryDirectory() as scratch:
                start = time.perf_counter()
                train_sgd(
                    model, data.X_train, Y, SGDSettings(**{**train, "epochs": epochs}), 0, Path(scratch) / "state"
                )
                elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return int(seconds * 100 / elapsed)


def test_a_training_job_past_its_time_limit_is_retried_with_more_time_and_resumes(workdir):
    """One minute for the first try of an MLP training sized to about 110 s (SLURM ends a job up to 30 s
    past its limit, and the timing here is rough, erring long: the job also starts a process and loads its
    data); each retry gets a minute more and goes on from the epoch the killed try saved."""
    epochs = epochs_lasting(110, yaml.safe_load((workdir / "config.yaml").read_text()))
    configure(
        workdir,
        {
            "scales": {
                "quick": {
                    "mlp": {"seeds": [0], "keep_epochs": [0, epochs], "train": {"epochs": epochs, "polish_steps": 0}}
                }
            }
        },
    )
    profile = workdir / "profiles" / "slurm" / "config.yaml"
    settings = yaml.safe_load(profile.read_text())
    settings["set-resources"]["train_mlp"]["runtime"] = "1 * attempt"
    profile.write_text(yaml.safe_dump(settings, sort_keys=False))

    output = finish(snakemake(workdir, "results/quick/nets/mlp/digits_seed0.pt"), timeout=900)

    assert "SLURM status is: 'TIMEOUT'" in output, output[-4000:]
    tries = jobs(workdir)
    assert tries[0]["JobState"] == "TIMEOUT" and tries[-1]["JobState"] == "COMPLETED", tries
    assert [minutes(job["TimeLimit"]) for job in tries] == list(range(1, len(tries) + 1)), tries
    log = (workdir / "logs" / "train_mlp" / "quick" / "digits_seed0.log").read_text()
    assert re.search(r"resuming from \S+ after epoch [1-9]", log), f"{epochs} epochs: {tries}\n{log[:2000]}"
    assert (workdir / "results" / "quick" / "nets" / "mlp" / "digits_seed0.pt").exists()
