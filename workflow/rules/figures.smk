# Figures and tables: they read results/ only.


# Judging the claims and writing the configuration out take seconds: they run where Snakemake
# runs, never as cluster jobs (the figures' rules say so themselves).
localrules:
    config_used,
    convergence,
    scorecard,
    current_figure,
    unknown_figure,


# One rule per row of FIGURE_TABLE (common.smk), named as the figure. The report sorts its entries by their
# first label, as text: the position, zero-padded, keeps Figure 2 before Figure 10.
for position, (figure_name, figure) in enumerate(FIGURE_TABLE.items(), start=1):

    rule:
        name:
            figure_name
        input:
            results=figure.inputs,
            code=code("fact.experiments.stages.figure", figure.render.partition(":")[0]),
        output:
            figure=report(
                f"{FIGURES}/{figure_name}.pdf",
                caption=f"../../{FIGURES}/{figure_name}.caption.rst",
                category="2. Figures",
                labels={"#": f"{position:02d}", "figure": figure_name},
            ),
            caption=f"{FIGURES}/{figure_name}.caption.rst",
        log:
            f"logs/{figure_name}/{SCALE}.log",
        localrule: True
        conda:
            ENV
        params:
            render=figure.render,
        shell:
            "python -m fact.experiments.stages.figure {params.render} --inputs {input.results} --out {output.figure} "
            "2> {log}"


rule convergence:
    """Every trained layer's FACT and NFA agreement beside its stationarity error, from every extraction table."""
    input:
        results=[extraction_outputs(name)["table"] for name in EXPERIMENTS],
        code=code("fact.experiments.stages.convergence"),
    output:
        features("convergence"),
    log:
        f"logs/convergence/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.convergence --inputs {input.results} --table {output} 2> {log}"


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
    log:
        f"logs/config_used/{SCALE}.log",
    conda:
        ENV
    params:
        text=yaml.safe_dump(config, sort_keys=False),
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
    log:
        f"logs/current_figure/{SCALE}/{{name}}.log",
    wildcard_constraints:
        name=one_of(FIGURE_NAMES),
    conda:
        ENV
    params:
        target=lambda wildcards: f"{SCALE}/{wildcards.name}",  # relative to figures/
    shell:
        "ln -sf {params.target:q} {output:q} 2> {log}"


rule unknown_figure:
    """Any other figures/<name> asked for: stops the DAG with the list of those there are."""
    input:
        no_such_figure,
    output:
        "figures/{name}",
    log:
        "logs/unknown_figure/{name}.log",
    wildcard_constraints:
        name=rf"(?!(?:{one_of(FIGURE_NAMES)})$)[^/]+",
    conda:
        ENV
    shell:
        "false"
