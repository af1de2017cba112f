"""The SLURM profile on a real cluster: jobs submitted by Snakemake through profiles/slurm run under
slurmd, and what the scheduler granted, cancelled and killed is read back with scontrol.

Start a one-node cluster with `.ci/slurm.sh start` (as .ci/run does); where none answers, these
tests skip and say so.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

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
# One test at a time on the one-node cluster (under pytest-xdist, these all go to one worker).
pytestmark = [
    pytest.mark.pipeline,
    pytest.mark.xdist_group("slurm_cluster"),
    pytest.mark.skipif(PROBLEM is not None, reason=f"no SLURM cluster: {PROBLEM}"),
]


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


def test_a_paper_scale_training_job_is_granted_a_gpu_and_stops_where_pytorch_sees_none(workdir):
    """The cluster's GPU is a pretend one (/dev/null): the job asks for it, is granted it, and, finding that
    PyTorch sees no GPU, stops at once saying why, instead of training on the CPU for the GPU's hours."""
    process = snakemake(workdir, "results/paper/nets/fig7/seed0.pt", "--retries", "0", "--config", "scale=paper")
    output = finish(process)

    assert process.returncode != 0, output[-4000:]
    (job,) = jobs(workdir)
    assert (job["rule"], job["JobState"], job["TresPerJob"]) == ("train_fig7", "FAILED", "gres:gpu:1"), job
    assert_granted_as_asked(job, attempt=1)
    log = (workdir / "logs" / "train_fig7" / "paper" / "seed0.log").read_text()
    assert re.search(r"this job was given a GPU \(SLURM_(JOB|STEP)_GPUS=0\) but PyTorch sees none", log), log[-2000:]


def test_table_1s_datasets_run_as_one_group_job(workdir):
    configure(workdir, {"scales": {"quick": {"tabular": {"datasets": ["iris", "wine"], "iters": 1}}}})
    process = snakemake(workdir, "figures/table1.md")
    output = finish(process)

    assert process.returncode == 0, output[-4000:]
    (job,) = [job for job in jobs(workdir) if "tabular_dataset" in job["rule"]]  # one submission for both
    assert job["JobState"] == "COMPLETED" and job["rule"].startswith("table1_datasets"), job
    for dataset in ("iris", "wine"):
        assert (workdir / "results" / "quick" / "tabular" / f"{dataset}.parquet").exists(), output[-4000:]
    assert (workdir / "figures" / "table1.md").exists()


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


def test_a_training_job_past_its_time_limit_is_retried_with_more_time_and_resumes(workdir):
    """A minute for the first try of a short MLP training, which is frozen (SIGSTOP) once it has saved
    some epochs, so that it is still at work when SLURM ends it (0-30 s past its limit) however fast this
    machine trains; the retry gets a minute more and goes on from the epoch the killed try saved."""
    training = {"seeds": [0], "keep_epochs": [0, 100], "train": {"epochs": 100, "polish_steps": 0}}
    configure(workdir, {"scales": {"quick": {"mlp": training}}})
    profile = workdir / "profiles" / "slurm" / "config.yaml"
    settings = yaml.safe_load(profile.read_text())
    settings["set-resources"]["train_mlp"]["runtime"] = "1 * attempt"
    profile.write_text(yaml.safe_dump(settings, sort_keys=False))
    log = workdir / "logs" / "train_mlp" / "quick" / "digits_seed0.log"

    process = snakemake(workdir, "results/quick/nets/mlp/digits_seed0.pt")
    try:
        wait_for_line(log, r"epoch 20/", timeout=120)
        freeze("fact.experiments.stages.train_mlp", workdir)
    except BaseException:
        process.kill()
        raise
    output = finish(process)

    assert process.returncode == 0, output[-4000:]
    assert "SLURM status is: 'TIMEOUT'" in output, output[-4000:]
    tries = jobs(workdir)
    assert [job["JobState"] for job in tries] == ["TIMEOUT", "COMPLETED"], tries
    assert [minutes(job["TimeLimit"]) for job in tries] == [1, 2], tries
    resumed = re.search(r"resuming from \S+ after epoch (\d+)", log.read_text())
    assert resumed and int(resumed.group(1)) >= 20, log.read_text()[:2000]
    assert (workdir / "results" / "quick" / "nets" / "mlp" / "digits_seed0.pt").exists()


def wait_for_line(log: Path, pattern: str, timeout: int) -> None:
    """Until ``log`` has a line matching ``pattern``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and re.search(pattern, log.read_text()):
            return
        time.sleep(0.2)
    tail = log.read_text()[-1000:] if log.exists() else "(no log)"
    pytest.fail(f"{log} did not match {pattern!r} within {timeout} s:\n{tail}")


def freeze(module: str, workdir: Path) -> None:
    """Stop (SIGSTOP) the process running ``module`` in ``workdir``: a job's work, on this one-node cluster."""
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            here = (entry / "cwd").resolve() == workdir.resolve()
        except OSError:  # not a process, or one that has ended
            continue
        if here and module.encode() in command:
            os.kill(int(entry.name), signal.SIGSTOP)
            return
    pytest.fail(f"no process runs {module} in {workdir}")
