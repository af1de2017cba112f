"""What a plan will cost: Snakemake's dry run, priced from measured job times.

    python -m fact.experiments.cost [snakemake arguments]      e.g. all --config scale=paper
    python -m fact.experiments.cost record [--device "..."]     benchmarks/ into bench/job_rates.tsv

The first runs ``snakemake --dry-run`` with the arguments given, prints its table of jobs, and ends with
the estimate per rule: the jobs that ask a GPU in GPU-hours (their wall time), the others in CPU-hours
(their CPU time), each from the table of measured rates (fact.experiments.job_rates). A job measured
before is priced at its own time; another job of the same rule and scale at the mean of those measured;
a rule never measured at this scale is named, not guessed. Every number says on what it was measured.
Standard library only.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from fact.experiments.job_rates import BENCHMARKS, RATES, Rate, benchmark_key, read_rates, record, this_device

JOB_HEADER = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):$")
HOUR = 3600.0


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run: its rule, its benchmark file (None: not measured), its GPU and threads."""

    rule: str
    benchmark: str | None
    gpu: bool
    threads: int


def planned_jobs(dry_run: str) -> list[PlannedJob]:
    """The jobs a ``snakemake --dry-run`` printed, read from their blocks (``rule <name>:`` and its fields)."""
    jobs, current = [], None
    for line in dry_run.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            current = {"rule": header.group(1), "benchmark": None, "gpu": False, "threads": 1}
            jobs.append(current)
            continue
        field, _, value = line.strip().partition(": ")
        if current is None or not line.startswith("    "):
            continue
        if field == "benchmark":
            current["benchmark"] = value
        elif field == "threads":
            current["threads"] = int(value)
        elif field == "resources":
            gpus = re.search(r"\bgpu=(\d+)", value)
            current["gpu"] = bool(gpus and int(gpus.group(1)))
    return [PlannedJob(**job) for job in jobs]


@dataclass
class RuleCost:
    """The estimate of one rule's planned jobs."""

    rule: str
    gpu: bool
    jobs: int = 0
    measured: int = 0  # jobs priced at their own measured time
    priced: int = 0  # jobs priced at all (their own time or the rule's mean)
    seconds: float = 0.0  # GPU seconds for GPU jobs, CPU seconds for the others
    devices: frozenset[str] = frozenset()


def cost_of(rate: Rate, job: PlannedJob) -> float:
    """A job's seconds: wall time on its GPU, else CPU time (wall time by threads where that was not measured)."""
    if job.gpu or math.isnan(rate.cpu_s):
        return rate.wall_s * (1 if job.gpu else job.threads)
    return rate.cpu_s


def rates_for(job: PlannedJob, key: tuple[str, str, str], by_job: dict, by_rule: dict) -> tuple[list[Rate], bool]:
    """The rates that price ``job``, and whether they are its own: for a GPU job, a GPU's measurement of it, else of
    its rule, before a CPU's; for any job, its own measurement before its rule's mean (never another scale's)."""
    own, alike = by_job.get(key, []), by_rule.get(key[:2], [])
    tiers = [[r for r in own if r.gpu], [r for r in alike if r.gpu]] if job.gpu else []
    for rates in [*tiers, own, alike]:
        if rates:
            return rates, rates[0].job == key[2]
    return [], False


def estimate(jobs: list[PlannedJob], rates: list[Rate]) -> list[RuleCost]:
    """Each measurable rule's planned jobs priced from ``rates``, in the order of the rules' names."""
    by_job, by_rule = defaultdict(list), defaultdict(list)
    for rate in rates:
        by_job[rate.rule, rate.scale, rate.job].append(rate)
        by_rule[rate.rule, rate.scale].append(rate)
    costs: dict[str, RuleCost] = {}
    for job in sorted(jobs, key=lambda job: job.rule):
        if job.benchmark is None:
            continue
        cost = costs.setdefault(job.rule, RuleCost(job.rule, job.gpu))
        cost.jobs += 1
        priced, own = rates_for(job, benchmark_key(job.benchmark), by_job, by_rule)
        if priced:
            cost.measured += own
            cost.priced += 1
            cost.seconds += sum(cost_of(rate, job) for rate in priced) / len(priced)
            cost.devices |= {rate.device for rate in priced}
    return list(costs.values())


def hours(seconds: float) -> str:
    """Hours to three significant digits (0.00486, 0.42, 12.5), whole hours from 100."""
    value = seconds / HOUR
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def report(jobs: list[PlannedJob], costs: list[RuleCost], rates_path: Path) -> str:
    """The estimate as a table per rule, its totals, and what it leaves out."""
    lines = [f"Estimated cost of the plan, from the measured job times in {rates_path}:", ""]
    lines.append(f"{'rule':<22}{'jobs':>6}{'priced':>8}{'own time':>10}{'GPU-hours':>11}{'CPU-hours':>11}  measured on")
    for cost in costs:
        gpu_hours = hours(cost.seconds) if cost.gpu and cost.priced else "-"
        cpu_hours = hours(cost.seconds) if not cost.gpu and cost.priced else "-"
        where = ", ".join(sorted(cost.devices)) or "not measured at this scale"
        lines.append(
            f"{cost.rule:<22}{cost.jobs:>6}{cost.priced:>8}{cost.measured:>10}{gpu_hours:>11}{cpu_hours:>11}  {where}"
        )
    gpu = sum(cost.seconds for cost in costs if cost.gpu)
    cpu = sum(cost.seconds for cost in costs if not cost.gpu)
    lines.append(
        f"{'total':<22}{sum(c.jobs for c in costs):>6}{sum(c.priced for c in costs):>8}"
        f"{sum(c.measured for c in costs):>10}{hours(gpu):>11}{hours(cpu):>11}"
    )
    lines += ["", *left_out(jobs, costs)]
    return "\n".join(lines)


def left_out(jobs: list[PlannedJob], costs: list[RuleCost]) -> list[str]:
    """What the totals do not hold, and which GPU-hours were measured without a GPU."""
    notes = []
    unpriced = [f"{cost.rule} ({cost.jobs - cost.priced} of {cost.jobs})" for cost in costs if cost.priced < cost.jobs]
    if unpriced:
        notes.append(
            f"Not priced, never measured at this scale: {', '.join(unpriced)}. Run such a job once (it writes "
            f"its time under {BENCHMARKS}/), then `python -m fact.experiments.cost record`."
        )
    untimed = defaultdict(int)
    for job in jobs:
        if job.benchmark is None:
            untimed[job.rule] += 1
    if untimed:
        listed = ", ".join(f"{rule} ({count})" for rule, count in untimed.items())
        notes.append(f"Left out, rules that record no time (fetches, figures, tables): {listed}.")
    on_cpu = [cost.rule for cost in costs if cost.gpu and cost.priced and "CPU" in " ".join(cost.devices)]
    if on_cpu:
        notes.append(
            f"GPU jobs measured on a machine without a GPU count that machine's hours: {', '.join(on_cpu)}. "
            "Record them on a GPU for GPU-hours."
        )
    return notes


def job_table(dry_run: str) -> str:
    """Snakemake's own table of the planned jobs (its last "Job stats"), or what it said instead."""
    lines = dry_run.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Job stats:")]
    if not starts:
        return "\n".join(line for line in lines if "Nothing to be done" in line)
    table = []
    for line in lines[starts[-1] :]:
        table.append(line)
        if line.startswith("total"):
            break
    return "\n".join(table)


def estimate_main(argv: list[str]) -> int:
    """Dry-run snakemake with ``argv`` and print its job table and the estimate."""
    parser = argparse.ArgumentParser(
        prog="python -m fact.experiments.cost",
        description="Snakemake's dry run of the given targets and options, priced from measured job times. "
        "Every other argument goes to snakemake (e.g. all --config scale=paper).",
        allow_abbrev=False,
    )
    parser.add_argument("--rates", type=Path, default=RATES, help=f"the table of measured times (default {RATES})")
    options, snakemake_args = parser.parse_known_args(argv)
    command = [sys.executable, "-m", "snakemake", "--dry-run", *snakemake_args]
    dry_run = subprocess.run(command, capture_output=True, text=True)
    output = dry_run.stdout + dry_run.stderr
    if dry_run.returncode != 0:
        print(output, file=sys.stderr)
        print(f"The dry run failed ({' '.join(command[1:])}): nothing to estimate.", file=sys.stderr)
        return dry_run.returncode
    jobs, table = planned_jobs(output), job_table(output)
    print(table)
    if not jobs and "total" in table:
        print("The dry run printed no job's details (--quiet?): run it without --quiet to estimate.", file=sys.stderr)
        return 2
    if jobs:
        try:
            rates = read_rates(options.rates)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print()
        print(report(jobs, estimate(jobs, rates), options.rates))
        if not rates:
            print(f"{options.rates} holds no measured time: every rule is unpriced.")
    return 0


def workflow_rules() -> set[str]:
    """The rules of the workflow in this folder, as Snakemake lists them."""
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], capture_output=True, text=True)
    if listed.returncode != 0:
        raise ValueError(f"snakemake --list-rules failed here (run record in the workflow's folder): {listed.stderr}")
    return set(listed.stdout.split())


def record_main(argv: list[str]) -> int:
    """Gather benchmark files into the table of measured times."""
    device, gpu = this_device()
    parser = argparse.ArgumentParser(
        prog="python -m fact.experiments.cost record",
        description="Copy the times of the jobs run here (Snakemake's benchmark files) into the table of rates.",
    )
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS, help=f"default {BENCHMARKS}/")
    parser.add_argument("--rates", type=Path, default=RATES, help=f"default {RATES}")
    parser.add_argument("--device", default=device, help=f"the machine, in words (here: {device!r})")
    options = parser.parse_args(argv)
    try:
        added, replaced = record(options.benchmarks, options.rates, options.device, gpu, workflow_rules())
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{options.rates}: {added} jobs added, {replaced} replaced, measured on {options.device}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: ``record`` and its options, or snakemake's arguments to estimate."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["record"]:
        return record_main(argv[1:])
    return estimate_main(argv)


if __name__ == "__main__":
    sys.exit(main())
