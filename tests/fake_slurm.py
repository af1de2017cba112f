"""Stand-ins for SLURM's commands, enough for Snakemake's slurm executor to submit and watch jobs here.

    python fake_slurm.py <command> [arguments]     command: sbatch, sacct, sacctmgr, squeue, scontrol, sinfo

The test puts one small wrapper per command on PATH. Every sbatch call is recorded, one JSON line
per job in $FAKE_SLURM_DIR/jobs.jsonl (its id, arguments and state), and every job FAILED without
running: that shows what a run would submit, retries included, in seconds.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

ACCOUNT = "fact_tests"


def records() -> Path:
    return Path(os.environ["FAKE_SLURM_DIR"]) / "jobs.jsonl"


def submitted() -> list[dict]:
    path = records()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sbatch(arguments: list[str]) -> None:
    """Snakemake submits jobs concurrently: a lock keeps their ids distinct."""
    if not any(argument.startswith("--wrap=") for argument in arguments):
        sys.stdin.read()  # the job script: taken, so that the writer does not fail, and not run
    with (records().parent / "sbatch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _submit(arguments)


def _submit(arguments: list[str]) -> None:
    job_id = 5001 + len(submitted())
    with records().open("a") as file:
        file.write(json.dumps({"id": job_id, "arguments": arguments, "state": "FAILED"}) + "\n")
    print(job_id)


def job_states() -> None:
    """id|state per job, as `sacct --format=JobIdRaw,State` and `squeue --format=%i|%T` print them."""
    for job in submitted():
        print(f"{job['id']}|{job['state']}")


def sacct(arguments: list[str]) -> None:
    if any(argument.startswith("--format=JobIdRaw") for argument in arguments):
        job_states()
    else:  # the account of the user's latest job
        print(ACCOUNT)


COMMANDS = {
    "sbatch": sbatch,
    "sacct": sacct,
    "sacctmgr": lambda arguments: print(ACCOUNT),
    "squeue": lambda arguments: job_states() if "--format=%i|%T" in arguments else None,
    "scontrol": lambda arguments: print("MinJobAge = 300 sec") if "config" in arguments else None,
    "sinfo": lambda arguments: print("cpu*\ngpu"),
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
