"""The estimate of a plan's cost: the dry run read as Snakemake counts it, priced from measured job times."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fact.experiments import cost
from fact.experiments.cost import PlannedJob, estimate, planned_jobs
from fact.experiments.job_rates import RATES, Rate, benchmark_key, read_rates, record

ROOT = Path(__file__).resolve().parents[1]


def dry_run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def snakemake_counts(output: str) -> dict[str, int]:
    """Snakemake's own job table (its last one), by rule."""
    table = output[output.rindex("Job stats:") :]
    rows = re.findall(r"^(\S+)\s+(\d+)$", table, flags=re.MULTILINE)
    return {rule: int(count) for rule, count in rows if rule != "total"}


@pytest.mark.xdist_group("dry_runs")
def test_the_jobs_read_from_a_paper_scale_dry_run_are_those_snakemake_counts():
    output = dry_run("all", "--config", "scale=paper")
    jobs = planned_jobs(output)
    counted = {}
    for job in jobs:
        counted[job.rule] = counted.get(job.rule, 0) + 1
    assert counted == snakemake_counts(output)
    by_rule = {job.rule: job for job in jobs}
    # the paper scale's device is auto: its compute jobs ask a GPU, fetches and figures do not
    assert by_rule["train_mlp"].gpu and by_rule["tabular_dataset"].gpu and not by_rule["fig2"].gpu
    tabular = [job for job in jobs if job.rule == "tabular_dataset"]
    assert len({job.benchmark for job in tabular}) == 121
    assert all(benchmark_key(job.benchmark)[:2] == ("tabular_dataset", "paper") for job in tabular)
    assert by_rule["fetch_uci121"].benchmark is None


def rate(rule, job, wall, cpu=float("nan"), device="2-core CPU", gpu=False, scale="paper"):
    return Rate(rule, scale, job, device, gpu, wall, cpu, 100.0, "2026-12-07")


def planned(rule, job, gpu=False, threads=1, scale="paper"):
    return PlannedJob(rule, f"benchmarks/{rule}/{scale}/{job}.tsv", gpu, threads)


def test_a_job_is_priced_at_its_own_time_else_at_its_rules_mean_and_never_across_scales():
    rates = [
        rate("tabular_dataset", "iris", 10.0, cpu=18.0),
        rate("tabular_dataset", "wine", 30.0, cpu=50.0),
        rate("train_mlp", "mnist_seed0", 7200.0, scale="quick"),
    ]
    jobs = [
        planned("tabular_dataset", "iris"),
        planned("tabular_dataset", "letter"),
        planned("train_mlp", "mnist_seed0", gpu=True),
        PlannedJob("fig2", None, False, 1),
    ]
    tabular, mlp = estimate(jobs, rates)
    # CPU jobs count CPU time: iris its own 18 s, letter the mean of iris and wine
    assert (tabular.jobs, tabular.priced, tabular.measured) == (2, 2, 1)
    assert tabular.seconds == pytest.approx(18.0 + 34.0)
    assert (mlp.jobs, mlp.priced, mlp.seconds) == (1, 0, 0.0)  # measured at the quick scale only
    text = cost.report(jobs, [tabular, mlp], RATES)
    assert "train_mlp (1 of 1)" in text and "fig2 (1)" in text


def test_gpu_jobs_count_wall_hours_and_prefer_a_gpu_measurement():
    jobs = [planned("rfm_modular", "nfa_seed0", gpu=True), planned("rfm_modular", "nfa_seed1", gpu=True)]
    on_cpu = [rate("rfm_modular", "nfa_seed0", 600.0, cpu=1100.0)]
    (priced,) = estimate(jobs, on_cpu)
    assert priced.seconds == pytest.approx(1200.0)  # wall time, not CPU time
    assert "GPU jobs measured on a machine without a GPU" in cost.report(jobs, [priced], RATES)
    on_gpu = [*on_cpu, rate("rfm_modular", "nfa_seed2", 20.0, device="NVIDIA H100", gpu=True)]
    (priced,) = estimate(jobs, on_gpu)
    assert priced.seconds == pytest.approx(40.0) and priced.measured == 0 and priced.devices == {"NVIDIA H100"}
    assert "without a GPU" not in cost.report(jobs, [priced], RATES)


def test_a_cpu_job_without_a_measured_cpu_time_counts_its_wall_time_by_its_threads():
    (priced,) = estimate(
        [planned("rfm_parity", "fig3_k2_seed0", threads=4)], [rate("rfm_parity", "fig3_k2_seed0", 5.0)]
    )
    assert priced.seconds == pytest.approx(20.0)


def write_benchmark(path: Path, seconds: float, cpu: str = "12.5") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
    path.write_text(f"{header}\n{seconds}\t0:00:17\t375.6\t885.2\t249.4\t302.8\t53.8\t68.7\t81.0\t{cpu}\n")


def test_record_gathers_benchmark_files_and_a_newer_measurement_replaces_the_old(tmp_path):
    folder, table = tmp_path / "benchmarks", tmp_path / "rates.tsv"
    write_benchmark(folder / "train_fig7/paper/seed0.tsv", 17.5)
    write_benchmark(folder / "extract_fig7/paper.tsv", 3.0, cpu="NA")
    assert record(folder, table, "2-core CPU", gpu=False) == (2, 0)
    rates = {(r.rule, r.scale, r.job): r for r in read_rates(table)}
    assert rates["train_fig7", "paper", "seed0"].wall_s == 17.5
    assert rates["train_fig7", "paper", "seed0"].cpu_s == 12.5
    assert rates["extract_fig7", "paper", ""].cpu_s != rates["extract_fig7", "paper", ""].cpu_s  # NA: not measured
    write_benchmark(folder / "train_fig7/paper/seed0.tsv", 20.0)
    assert record(folder, table, "2-core CPU", gpu=False) == (0, 2)
    assert record(folder, table, "NVIDIA H100", gpu=True) == (2, 0)  # another device: its own rows
    rows = read_rates(table)
    assert len(rows) == 4 and {r.wall_s for r in rows if r.job == "seed0"} == {20.0}


def test_record_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="run jobs of the pipeline first"):
        record(tmp_path / "none", tmp_path / "rates.tsv", "2-core CPU", gpu=False)
    (tmp_path / "benchmarks/train_fig7/paper").mkdir(parents=True)
    (tmp_path / "benchmarks/train_fig7/paper/seed0.tsv").write_text("s\tcpu_time\n")
    with pytest.raises(ValueError, match="holds no measurement"):
        record(tmp_path / "benchmarks", tmp_path / "rates.tsv", "2-core CPU", gpu=False)
    (tmp_path / "benchmarks/train_fig7/paper/seed0.tsv").write_text("s\tcpu_time\tmax_rss\n1.0\t1.0\t5.0\n")
    with pytest.raises(ValueError, match=r"holds times of \['train_fig7'\], which are no rules of this workflow"):
        record(tmp_path / "benchmarks", tmp_path / "rates.tsv", "2-core CPU", gpu=False, rules={"train_mlp"})
    assert not (tmp_path / "rates.tsv").exists()
    with pytest.raises(ValueError, match="benchmarks/<rule>/<scale>"):
        benchmark_key("benchmarks/loose.tsv")


@pytest.mark.xdist_group("dry_runs")
def test_the_committed_rates_name_rules_and_scales_of_this_workflow():
    rules = set(
        subprocess.run(
            [sys.executable, "-m", "snakemake", "--list-rules"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    rates = read_rates(ROOT / RATES)
    assert rates, f"{RATES} holds no measured times"
    assert {rate.rule for rate in rates} <= rules
    assert {rate.scale for rate in rates} <= {"quick", "paper"}


@pytest.mark.xdist_group("dry_runs")
def test_the_command_refuses_what_it_cannot_price_and_says_what_to_change(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    plan = ["--forceall", "figures/fig7.pdf"]
    assert cost.main(["--quiet", "rules", *plan]) == 2
    assert "run it without --quiet" in capsys.readouterr().err
    broken = tmp_path / "rates.tsv"
    broken.write_text("rule\tseconds\ntrain_fig7\t3\n")
    assert cost.main(["--rates", str(broken), *plan]) == 2
    assert "lacks the columns" in capsys.readouterr().err
    assert cost.main(["--rates", str(tmp_path / "none.tsv"), *plan]) == 0
    assert "holds no measured time: every rule is unpriced" in capsys.readouterr().out
    assert cost.main(["figures/no_such_figure.pdf"]) != 0
    assert "nothing to estimate" in capsys.readouterr().err
