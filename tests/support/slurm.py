"""What the SLURM profile asks for each rule and attempt, and running Snakemake through it outside any job."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


PROFILE = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())


def through_the_profile(*args: str, latency_wait: int) -> list[str]:
    """Snakemake's command line through profiles/slurm, checking on its jobs from the first second."""
    return [
        *(sys.executable, "-m", "snakemake", "--workflow-profile", "profiles/slurm", *args),
        *("--slurm-init-seconds-before-status-checks", "1", "--latency-wait", str(latency_wait)),
    ]


def outside_any_job(*first_on_path: Path) -> dict[str, str]:
    """This environment as a login shell's, outside any SLURM job, with ``first_on_path`` and this
    interpreter's directory first on PATH (jobs run with this interpreter's packages)."""
    path = [*map(str, first_on_path), str(Path(sys.executable).parent), os.environ["PATH"]]
    env = dict(os.environ, PATH=os.pathsep.join(path))
    env.pop("SLURM_JOB_ID", None)
    return env


def expected(rule: str, attempt: int) -> tuple[str, int, int]:
    """Partition, runtime and memory the profile asks for on a try of a rule."""
    resources = {**PROFILE["default-resources"], **PROFILE["set-resources"].get(rule, {})}
    return (
        resources["slurm_partition"],
        eval(str(resources["runtime"]), {"attempt": attempt}),
        eval(str(resources["mem_mb"]), {"attempt": attempt}),
    )
