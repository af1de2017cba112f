# Figures and tables: they read results/ only.


rule fig7:
    """Figure 7: FACT versus AGOP^s on the adversarial quadratic network."""
    input:
        table=rules.extract_fig7.output.table,
        matrices=rules.extract_fig7.output.matrices,
        code=code("plots/__init__", "plots/style", "plots/fig7", "linalg", "io", "stages/figure"),
    output:
        report("figures/fig7.pdf", caption="../report/fig7.rst", category="Figures"),
    log:
        f"logs/fig7/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.stages.figure fig7 --inputs {input.table} {input.matrices} "
        "--out {output} 2> {log}"
