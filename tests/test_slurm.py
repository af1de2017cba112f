"""The SLURM profile against stand-ins for sbatch, sacct, squeue, scontrol, sacctmgr, and sinfo
(tests/fake_slurm.py), where every job must fail at once: what the paper scale submits, retries
included, in seconds. tests/test_slurm_cluster.py runs jobs on a real cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_workflow
from tests.support.slurm import PROFILE, ROOT, expected, outside_any_job, through_the_profile

pytestmark = pytest.mark.pipeline

GROUPS = {entry.split("=")[1] for entry in PROFILE["groups"]}  # the profile's groups of small jobs

GPU_RULES = {
    "train_fig7",
    "train_mlp",
    "extract_mlp",
    "train_deep_linear",
    "rfm_parity",
    "rfm_modular",
    "tabular_dataset",
    "train_transformer",
    "train_cnn",
    "extract_transformer",
    "extract_cnn",
}
LOCAL_RULES = {
    "fetch_uci121",
    "fetch_images",
    "table1",
    "scorecard",
    "current_figure",
    *(f"fig{n}" for n in range(1, 14)),
}


@pytest.fixture
def cluster(tmp_path) -> Path:
    """A copy of the workflow and a bin/ of SLURM stand-ins; returns the copy."""
    workdir = tmp_path / "workflow"
    copy_workflow(workdir)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("sbatch", "sacct", "sacctmgr", "squeue", "scontrol", "sinfo"):
        wrapper = bin_dir / command
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests" / "fake_slurm.py"}" {command} "$@"\n')
        wrapper.chmod(0o755)
    (tmp_path / "slurm").mkdir()
    return workdir


def submit(workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run the pipeline through the SLURM profile; return the result and the sbatch calls, each
    with its rule and options parsed."""
    state = workdir.parent / "slurm"
    result = subprocess.run(
        through_the_profile(*args, latency_wait=2),
        cwd=workdir,
        env=dict(outside_any_job(workdir.parent / "bin"), FAKE_SLURM_DIR=str(state)),
        capture_output=True,
        text=True,
        timeout=900,
    )
    jobs = []
    records = state / "jobs.jsonl"
    for line in records.read_text().splitlines() if records.exists() else []:
        arguments = json.loads(line)["arguments"]
        line_text = " ".join(arguments)
        name = re.search(r"--comment rule_([a-z0-9_]+?)(?:_wildcards_\S*)? ", line_text + " ").group(1)
        group = next((group for group in GROUPS if name.startswith(f"{group}_")), None)
        jobs.append(
            {
                "rule": name.removeprefix(f"{group}_") if group else name,
                "group": group,
                "members": len(re.findall(r"'[a-z0-9_]+:[^']*'", line_text.split("--target-jobs")[-1])) if group else 1,
                "line": line_text,
                "partition": option(line_text, r"-p\s+'?([\w-]+)'?"),
                "runtime": int(option(line_text, r"-t\s+'?(\d+)'?")),
                "mem_mb": int(option(line_text, r"--mem\s+(\d+)")),
                "gpus": option(line_text, r"--gpus=(\d+)"),
            }
        )
    return result, jobs


def option(line: str, pattern: str) -> str | None:
    match = re.search(pattern, line)
    return match.group(1) if match else None


def test_at_paper_scale_compute_jobs_ask_for_a_gpu_and_more_time_and_memory_on_each_retry(cluster, tmp_path):
    if not os.environ.get("FACT_DATA_MIRROR"):
        pytest.skip("the fetch of the paper's datasets needs FACT_DATA_MIRROR (the offline mirror) here")
    small = {
        "scales": {
            "paper": {
                "fig7": {"seeds": [0]},
                "parity": {"fig3": {"seeds": [0], "sizes": [{"k": 2, "n": 1000}]}, "fig4": {"seeds": [0]}},
                "modular": {"seeds": [0]},
                "tabular": {"datasets": ["iris", "wine"]},
                "mlp": {"datasets": ["mnist"], "seeds": [0]},
                "deep_linear": {"depths": [2], "seeds": [0]},
                "transformer": {"seeds": [0]},
                "cnn": {"seeds": [0]},
            }
        }
    }
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(small))

    paper = ("--config", "scale=paper", "--configfile", str(tmp_path / "small.yaml"))
    # The fetches first (local rules, submitting nothing), so that every compute job is submitted at once:
    # the plugin waits longer between status checks after each check that finds no job succeeded.
    fetched, none = submit(cluster, "all", *paper, "--until", "fetch_uci121", "fetch_images")
    assert fetched.returncode == 0 and not none, fetched.stderr[-4000:]
    # Every job "fails" without running: what would be submitted, with each retry, in seconds.
    result, jobs = submit(cluster, "all", *paper, "--keep-going")

    assert result.returncode != 0  # every submitted job failed, by design of this test
    submitted = {job["rule"] for job in jobs}
    # the extractions wait for training
    assert GPU_RULES - {"extract_mlp", "extract_transformer", "extract_cnn"} <= submitted, result.stderr[-4000:]
    assert not submitted & LOCAL_RULES
    tries = PROFILE["retries"] + 1
    for rule in submitted:
        calls = [job for job in jobs if job["rule"] == rule]
        per_job = len(calls) // len(
            {re.sub(r"--job-name \S+ ", "", job["line"]).split("--comment ")[1].split()[0] for job in calls}
        )
        assert per_job == tries, f"{rule}: {per_job} submissions per job, expected {tries}\n{result.stderr[-3000:]}"
        attempts = sorted({(job["runtime"] // job["members"], job["mem_mb"]) for job in calls})  # a group: in series
        assert attempts == [expected(rule, attempt)[1:] for attempt in range(1, tries + 1)], rule
        assert all(job["partition"] == expected(rule, 1)[0] for job in calls), rule
        assert all((job["gpus"] == "1") == (rule in GPU_RULES) for job in calls), rule


def test_table_1s_small_jobs_go_to_the_cluster_in_groups_each_asking_one_gpu(cluster):
    settings = {"scales": {"quick": {"tabular": {"device": "auto"}}}}  # each dataset's job asks for a GPU
    (cluster / "gpu.yaml").write_text(yaml.safe_dump(settings))
    result, jobs = submit(cluster, "figures/table1.md", "--configfile", "gpu.yaml", "--retries", "0", "--keep-going")

    assert result.returncode != 0  # every submitted job failed, by design of this test
    (group,) = jobs  # the four datasets of the quick scale, one submission
    assert (group["rule"], group["group"], group["members"]) == ("tabular_dataset", "table1_datasets", 4), group
    assert group["gpus"] == "1" and group["partition"] == "gpu", group["line"]
    partition, runtime, mem_mb = expected("tabular_dataset", 1)
    assert (group["runtime"], group["mem_mb"]) == (4 * runtime, mem_mb)  # one after another on the one GPU
