"""Measured job times: Snakemake's benchmark files gathered into one committed table, bench/job_rates.tsv.

Every compute rule records its job's wall time, CPU time and peak memory under
``benchmarks/<rule>/<scale>/<job>.tsv`` (``benchmarks/<rule>/<scale>.tsv`` for a rule with one job per
scale). ``python -m fact.experiments.cost record`` copies those measurements into the table, one row per
job and device, so that an estimate of a plan (fact.experiments.cost) reads times that were measured,
with where. Standard library only.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path

from fact.features.atomic import atomic_path

RATES = Path("bench/job_rates.tsv")
BENCHMARKS = Path("benchmarks")


@dataclass(frozen=True)
class Rate:
    """One job's measured cost on one device."""

    rule: str
    scale: str
    job: str  # the benchmark file's name within its rule and scale ("" for one job per scale)
    device: str  # the machine, in words ("2-core CPU", "NVIDIA H100 80GB HBM3")
    gpu: bool  # whether the machine had a GPU for the job to use
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    measured: str  # the day the benchmark file was written (ISO)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What a newer measurement replaces: the same job on the same device."""
        return self.rule, self.scale, self.job, self.device


def benchmark_key(path: str | Path) -> tuple[str, str, str]:
    """(rule, scale, job) of a benchmark file's path, relative to the benchmarks folder or starting with it."""
    parts = Path(path).with_suffix("").parts
    if parts and parts[0] == BENCHMARKS.name:
        parts = parts[1:]
    if len(parts) == 2:
        return parts[0], parts[1], ""
    if len(parts) < 2:
        raise ValueError(f"{path}: a benchmark file lies at benchmarks/<rule>/<scale>[/<job>].tsv")
    return parts[0], parts[1], "/".join(parts[2:])


def read_benchmark(path: Path) -> dict[str, float]:
    """The last measurement of a Snakemake benchmark file (one per repeat), by column."""
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path} holds no measurement: delete it, or rerun its job")
    row = rows[-1]
    numbers = {}
    for column in ("s", "max_rss", "cpu_time"):
        try:
            numbers[column] = float(row[column])
        except (KeyError, TypeError, ValueError):
            numbers[column] = float("nan")  # Snakemake writes NA where it could not measure
    return numbers


def this_device() -> tuple[str, bool]:
    """The machine in words, and whether it has a GPU (what nvidia-smi lists, else the CPU's core count)."""
    if shutil.which("nvidia-smi"):
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True
        )
        names = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
        if listing.returncode == 0 and names:
            return names[0], True
    return f"{os.cpu_count()}-core CPU", False


def measured(folder: Path, device: str, gpu: bool) -> list[Rate]:
    """A rate for every benchmark file under ``folder``."""
    rates = []
    for path in sorted(folder.rglob("*.tsv")):
        rule, scale, job = benchmark_key(path.relative_to(folder))
        numbers = read_benchmark(path)
        day = date.fromtimestamp(path.stat().st_mtime).isoformat()
        rates.append(Rate(rule, scale, job, device, gpu, numbers["s"], numbers["cpu_time"], numbers["max_rss"], day))
    return rates


def read_rates(path: Path = RATES) -> list[Rate]:
    """The table of measured rates (none if the file does not exist)."""
    if not path.exists():
        return []
    with path.open(newline="") as file:
        reader = csv.DictReader(file, delimiter="\t")
        missing = [field.name for field in fields(Rate) if field.name not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks the columns {missing}: restore it from git, or delete it and record anew")
        return [
            Rate(
                rule=row["rule"],
                scale=row["scale"],
                job=row["job"],
                device=row["device"],
                gpu=row["gpu"] == "yes",
                wall_s=float(row["wall_s"]),
                cpu_s=float(row["cpu_s"]),
                max_rss_mb=float(row["max_rss_mb"]),
                measured=row["measured"],
            )
            for row in reader
        ]


def write_rates(rates: list[Rate], path: Path = RATES) -> None:
    """The table, sorted, written to a temporary name and renamed into place."""
    with atomic_path(path) as partial, partial.open("w", newline="") as file:
        writer = csv.DictWriter(file, [field.name for field in fields(Rate)], delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for rate in sorted(rates, key=lambda rate: rate.key):
            row = asdict(rate)
            row["gpu"] = "yes" if rate.gpu else "no"
            writer.writerow(row)


def record(folder: Path, path: Path, device: str, gpu: bool, rules: set[str] | None = None) -> tuple[int, int]:
    """Merge the measurements under ``folder`` into the table at ``path``: (rows added, rows replaced). Where
    ``rules`` (the workflow's) are given, a folder of another rule is refused, not recorded."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: run jobs of the pipeline first (each writes its benchmark)")
    found = measured(folder, device, gpu)
    strangers = sorted({rate.rule for rate in found} - rules) if rules is not None else []
    if strangers:
        raise ValueError(
            f"{folder} holds times of {strangers}, which are no rules of this workflow (folders left by an older "
            "version?): move them out of the way, then record again"
        )
    new = {rate.key: rate for rate in found}
    old = {rate.key: rate for rate in read_rates(path)}
    write_rates(list({**old, **new}.values()), path)
    replaced = len(new.keys() & old.keys())
    return len(new) - replaced, replaced
