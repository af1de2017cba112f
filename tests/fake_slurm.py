"""Stand-ins for SLURM's commands, enough for Snakemake's slurm executor to submit and watch jobs here.

    python fake_slurm.py <command> [arguments]     command: sbatch, sacct, sacctmgr, squeue, scontrol, sinfo, srun

The test puts one small wrapper per command on PATH. Every sbatch call is recorded, one JSON line
per job in $FAKE_SLURM_DIR/jobs.jsonl (its id, arguments and final state). With FAKE_SLURM_RUN=1
sbatch runs the job script at once, as a compute node would, and the job ends COMPLETED or FAILED
by its exit status; otherwise every job is recorded as FAILED without running, which shows what a
run would submit, retries included, in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ACCOUNT = "fact_tests"


def records() -> Path:
    return Path(os.environ["FAKE_SLURM_DIR"]) / "jobs.jsonl"


def submitted() -> list[dict]:
    path = records()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sbatch(arguments: list[str]) -> None:
    """Snakemake gives the job as --wrap=<command>, or as a script on stdin."""
    wrapped = [argument.removeprefix("--wrap=") for argument in arguments if argument.startswith("--wrap=")]
    script = wrapped[0] if wrapped else sys.stdin.read()
    job_id = 5001 + len(submitted())
    state = "FAILED"
    if os.environ.get("FAKE_SLURM_RUN") == "1":
        log = Path(os.environ["FAKE_SLURM_DIR"]) / f"job{job_id}.log"
        with log.open("w") as output:
            result = subprocess.run(["/bin/sh", "-s"], input=script, text=True, stdout=output, stderr=output,
                                    env=dict(os.environ, SLURM_JOB_ID=str(job_id)))
        state = "COMPLETED" if result.returncode == 0 else "FAILED"
    with records().open("a") as file:
        file.write(json.dumps({"id": job_id, "arguments": arguments, "state": state}) + "\n")
    print(job_id)


def sacct(arguments: list[str]) -> None:
    if any(argument.startswith("--format=JobIdRaw") for argument in arguments):
        for job in submitted():
            print(f"{job['id']}|{job['state']}")
    else:  # the account of the user's latest job
        print(ACCOUNT)


def srun(arguments: list[str]) -> None:
    """Run the command after srun's options, in this process."""
    command = arguments[next(i for i, argument in enumerate(arguments) if not argument.startswith("-")):]
    os.execvp(command[0], command)


COMMANDS = {
    "sbatch": sbatch,
    "sacct": sacct,
    "sacctmgr": lambda arguments: print(ACCOUNT),
    "squeue": lambda arguments: None,
    "scontrol": lambda arguments: print("MinJobAge = 300 sec") if "config" in arguments else None,
    "sinfo": lambda arguments: print("cpu*\ngpu"),
    "srun": srun,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
