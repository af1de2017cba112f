# Recursive Feature Machines: one job per task and seed.


rule rfm_parity:
    """NFA-RFM and FACT-RFM on one sparse-parity task (Figures 3 and 4)."""
    input:
        code=code("fact.experiments.stages.rfm_parity"),
    output:
        table=f"{RESULTS}/rfm/parity/{{experiment}}/k{{k}}_seed{{seed}}.parquet",
        matrices=f"{RESULTS}/rfm/parity/{{experiment}}/k{{k}}_seed{{seed}}.pt",
    log:
        f"logs/rfm_parity/{SCALE}/{{experiment}}_k{{k}}_seed{{seed}}.log",
    benchmark:
        benchmark(f"logs/rfm_parity/{SCALE}/{{experiment}}_k{{k}}_seed{{seed}}.log")
    wildcard_constraints:
        experiment="fig3|fig4",
        k=r"\d+",
        seed=r"\d+",
    conda:
        ENV
    resources:
        gpu=1 if SETTINGS["parity"]["device"] != "cpu" else 0,
    params:
        settings=parity_settings,
    shell:
        "python -m fact.experiments.stages.rfm_parity --settings {params.settings:q} "
        "--table {output.table} --matrices {output.matrices} 2> {log}"


rule rfm_modular:
    """One named RFM run on modular addition, followed over its iterations (Figures 5 and 6)."""
    input:
        code=code("fact.experiments.stages.rfm_modular"),
    output:
        table=f"{RESULTS}/rfm/modular/{{run}}_seed{{seed}}.parquet",
        matrices=f"{RESULTS}/rfm/modular/{{run}}_seed{{seed}}.pt",
    log:
        f"logs/rfm_modular/{SCALE}/{{run}}_seed{{seed}}.log",
    benchmark:
        benchmark(f"logs/rfm_modular/{SCALE}/{{run}}_seed{{seed}}.log")
    wildcard_constraints:
        run=one_of(SETTINGS["modular"]["runs"]),
        seed=r"\d+",
    conda:
        ENV
    resources:
        gpu=1 if SETTINGS["modular"]["device"] != "cpu" else 0,
    params:
        settings=modular_settings,
    shell:
        "python -m fact.experiments.stages.rfm_modular --settings {params.settings:q} "
        "--table {output.table} --matrices {output.matrices} 2> {log}"
