# Figures and tables: they read results/ only.

# Drawing a figure, judging the claims, writing the configuration out and copying a file take
# seconds: they run where Snakemake runs, never as cluster jobs.
localrules:
    config_used,
    fig1,
    fig2,
    fig3,
    fig4,
    fig5,
    fig6,
    fig7,
    fig8,
    fig9,
    fig10,
    fig11,
    fig12,
    fig13,
    convergence,
    fig14,
    scorecard,
    current_figure,
    unknown_figure,


rule fig7:
    """Figure 7: FACT versus AGOP^s on the adversarial quadratic network."""
    input:
        table=rules.extract_fig7.output.table,
        matrices=rules.extract_fig7.output.matrices,
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.fig7"),
    output:
        figure=report(f"{FIGURES}/fig7.pdf", caption=f"../../{FIGURES}/fig7.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig7.caption.rst",
    log:
        f"logs/fig7/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.fig7:render --inputs {input.table} {input.matrices} "
        "--out {output.figure} 2> {log}"


rule fig3:
    """Figure 3: feature matrices learned on sparse parities, support marked."""
    input:
        results=parity_outputs("fig3"),
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.parity"),
    output:
        figure=report(f"{FIGURES}/fig3.pdf", caption=f"../../{FIGURES}/fig3.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig3.caption.rst",
    log:
        f"logs/fig3/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.parity:render_fig3 --inputs {input.results} --out {output.figure} 2> {log}"


rule fig4:
    """Figure 4: test accuracy against RFM iteration on a sparse parity, over seeds."""
    input:
        results=parity_outputs("fig4"),
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.parity"),
    output:
        figure=report(f"{FIGURES}/fig4.pdf", caption=f"../../{FIGURES}/fig4.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig4.caption.rst",
    log:
        f"logs/fig4/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.parity:render_fig4 --inputs {input.results} --out {output.figure} 2> {log}"


rule fig5:
    """Figure 5: grokking modular addition, feature matrices and accuracy over iterations."""
    input:
        results=modular_outputs("fig5"),
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.modular"),
    output:
        figure=report(f"{FIGURES}/fig5.pdf", caption=f"../../{FIGURES}/fig5.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig5.caption.rst",
    log:
        f"logs/fig5/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.modular:render_fig5 --inputs {input.results} --out {output.figure} 2> {log}"


rule fig6:
    """Figure 6: tau against k' at the final feature matrix, with its proportional fit."""
    input:
        results=modular_outputs("fig6"),
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.modular"),
    output:
        figure=report(f"{FIGURES}/fig6.pdf", caption=f"../../{FIGURES}/fig6.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig6.caption.rst",
    log:
        f"logs/fig6/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.modular:render_fig6 --inputs {input.results} --out {output.figure} 2> {log}"


rule fig2:
    """Figure 2: FACT, NFA and eNFA against W^T W per layer at the end of training (MLPs)."""
    input:
        results=f"{RESULTS}/features/mlp.parquet",
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.mlp"),
    output:
        figure=report(f"{FIGURES}/fig2.pdf", caption=f"../../{FIGURES}/fig2.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig2.caption.rst",
    log:
        f"logs/fig2/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.mlp:render_fig2 --inputs {input.results} --out {output.figure} 2> {log}"


rule fig8:
    """Figure 8: the forward relations over training epochs (MLPs)."""
    input:
        results=f"{RESULTS}/features/mlp.parquet",
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.mlp"),
    output:
        figure=report(f"{FIGURES}/fig8.pdf", caption=f"../../{FIGURES}/fig8.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig8.caption.rst",
    log:
        f"logs/fig8/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.mlp:render_fig8 --inputs {input.results} --out {output.figure} 2> {log}"


rule fig9:
    """Figure 9: bFACT, backward AGOP and backward eNFA against W W^T per layer (MLPs)."""
    input:
        results=f"{RESULTS}/features/mlp.parquet",
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.mlp"),
    output:
        figure=report(f"{FIGURES}/fig9.pdf", caption=f"../../{FIGURES}/fig9.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig9.caption.rst",
    log:
        f"logs/fig9/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.mlp:render_fig9 --inputs {input.results} --out {output.figure} 2> {log}"


rule fig10:
    """Figure 10: the backward relations over training epochs (MLPs)."""
    input:
        results=f"{RESULTS}/features/mlp.parquet",
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.mlp"),
    output:
        figure=report(f"{FIGURES}/fig10.pdf", caption=f"../../{FIGURES}/fig10.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig10.caption.rst",
    log:
        f"logs/fig10/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.mlp:render_fig10 --inputs {input.results} --out {output.figure} 2> {log}"


rule fig11:
    """Figure 11: deep linear networks, the NFA's best power against 1/L, and FACT."""
    input:
        results=f"{RESULTS}/features/deep_linear.parquet",
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.deep_linear"),
    output:
        figure=report(f"{FIGURES}/fig11.pdf", caption=f"../../{FIGURES}/fig11.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig11.caption.rst",
    log:
        f"logs/fig11/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.deep_linear:render --inputs {input.results} --out {output.figure} 2> {log}"


rule fig12:
    """Figure 12: a transformer's every weight matrix against FACT, NFA and eNFA, with Adam-L2 and AdamW."""
    input:
        table=f"{RESULTS}/features/transformer.parquet",
        history=f"{RESULTS}/features/transformer_history.parquet",
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.decay_runs"),
    output:
        figure=report(f"{FIGURES}/fig12.pdf", caption=f"../../{FIGURES}/fig12.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig12.caption.rst",
    log:
        f"logs/fig12/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.decay_runs:render_fig12 --inputs {input.table} {input.history} "
        "--out {output.figure} 2> {log}"


rule fig13:
    """Figure 13: a CNN's convolutions and head against FACT, NFA and eNFA, with Adam-L2 and AdamW."""
    input:
        table=f"{RESULTS}/features/cnn.parquet",
        history=f"{RESULTS}/features/cnn_history.parquet",
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.decay_runs"),
    output:
        figure=report(f"{FIGURES}/fig13.pdf", caption=f"../../{FIGURES}/fig13.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig13.caption.rst",
    log:
        f"logs/fig13/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.decay_runs:render_fig13 --inputs {input.table} {input.history} "
        "--out {output.figure} 2> {log}"


rule convergence:
    """Every trained layer's FACT and NFA agreement beside its stationarity error, from every extraction table."""
    input:
        results=[f"{RESULTS}/features/{name}.parquet" for name in ("mlp", "deep_linear", "fig7", "transformer", "cnn")],
        code=code("fact.experiments.stages.convergence"),
    output:
        f"{RESULTS}/features/convergence.parquet",
    log:
        f"logs/convergence/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.convergence --inputs {input.results} --table {output} 2> {log}"


rule fig14:
    """Figure 14 (beyond the paper): FACT and the NFA against each layer's stationarity error, and FACT against tau."""
    input:
        results=rules.convergence.output[0],
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.convergence"),
    output:
        figure=report(f"{FIGURES}/fig14.pdf", caption=f"../../{FIGURES}/fig14.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig14.caption.rst",
    log:
        f"logs/fig14/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.convergence:render_fig14 --inputs {input.results} "
        "--out {output.figure} 2> {log}"


rule fig1:
    """Figure 1: a schematic of the setting (a weight W, its input h_i, the loss gradient, FACT)."""
    input:
        code=code("fact.experiments.stages.figure", "fact.experiments.plots.fig1"),
    output:
        figure=report(f"{FIGURES}/fig1.pdf", caption=f"../../{FIGURES}/fig1.caption.rst", category="2. Figures"),
        caption=f"{FIGURES}/fig1.caption.rst",
    log:
        f"logs/fig1/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.figure fact.experiments.plots.fig1:render --out {output.figure} 2> {log}"


rule scorecard:
    """The reproduction scorecard: each claim of the paper judged on the results of every scale run so far."""
    input:
        results=scorecard_inputs(),
        code=code("fact.experiments.stages.scorecard"),
    output:
        markdown=f"{FIGURES}/scorecard.md",
        html=report(f"{FIGURES}/scorecard.html", caption="../report/scorecard.rst", category="1. Scorecard"),
    log:
        f"logs/scorecard/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.scorecard --inputs {input.results} --markdown {output.markdown} "
        "--html {output.html} 2> {log}"


rule config_used:
    """The configuration the results of this scale were made with, as the report shows it."""
    output:
        report(f"{FIGURES}/config.yaml", caption="../report/config.rst", category="4. Configuration"),
    params:
        text=yaml.safe_dump(config, sort_keys=False),
    log:
        f"logs/config_used/{SCALE}.log",
    conda:
        ENV
    shell:
        "printf '%s' {params.text:q} > {output} 2> {log}"


FIGURE_NAMES = figure_names()  # every rule above is defined by now


rule current_figure:
    """figures/<name>: a link to figures/<scale>/<name> for the scale in use (each scale keeps its own).
    A link, not a copy, so that it can never differ from or outlive that file: when a failed job has
    it deleted, the link dangles, counts as missing, and the next run rebuilds the figure."""
    input:
        f"{FIGURES}/{{name}}",
    output:
        "figures/{name}",
    wildcard_constraints:
        name=one_of(FIGURE_NAMES),
    params:
        target=lambda wildcards: f"{SCALE}/{wildcards.name}",  # relative to figures/
    log:
        f"logs/current_figure/{SCALE}/{{name}}.log",
    conda:
        ENV
    shell:
        "ln -sf {params.target:q} {output:q} 2> {log}"


rule unknown_figure:
    """Any other figures/<name> asked for: stops the DAG with the list of those there are."""
    input:
        no_such_figure,
    output:
        "figures/{name}",
    wildcard_constraints:
        name=rf"(?!(?:{one_of(FIGURE_NAMES)})$)[^/]+",
    log:
        "logs/unknown_figure/{name}.log",
    conda:
        ENV
    shell:
        "false"
