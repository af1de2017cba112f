# Table 1: fetch the UCI-121 collection, run the protocol per dataset, aggregate.


# The fetch needs the network (or a mirror on a shared disk), and aggregating the table takes
# seconds: both run where snakemake runs, never as cluster jobs.
localrules:
    fetch_uci121,
    fetch_images,
    table1,


rule fetch_uci121:
    """One dataset of the collection: its files from the mirror or the archive, each checksum-verified."""
    output:
        f"{DATA}/uci121/status/{{dataset}}.json",
    log:
        "logs/fetch/uci121/{dataset}.log",
    wildcard_constraints:
        dataset=one_of(UCI121_DATASETS),
    conda:
        ENV
    params:
        # Not the fetch code nor the source: the files are checked against the manifest whatever
        # fetched them. The revision goes up when a verified file is deleted or a failed one has
        # changed at the mirror (fact/experiments/data/manifest.py), which reruns this dataset alone.
        revision=fetch_revision("uci121"),
        dest=lambda wildcards, output: str(Path(output[0]).parents[2]),  # the data folder
    shell:
        "python -m fact.experiments.data.fetch uci121 {wildcards.dataset} --dest {params.dest:q} "
        "--revision {params.revision} 2> {log}"


rule tabular_dataset:
    """The Table 1 protocol on one dataset, every method (a cluster fans these out)."""
    input:
        fetched=tabular_fetched,
        code=code("fact.experiments.stages.table1_dataset"),
    output:
        f"{RESULTS}/tabular/{{dataset}}.parquet",
    log:
        f"logs/tabular_dataset/{SCALE}/{{dataset}}.log",
    benchmark:
        benchmark(f"logs/tabular_dataset/{SCALE}/{{dataset}}.log")
    wildcard_constraints:
        dataset=r"[A-Za-z0-9_.-]+",
    conda:
        ENV
    threads: SETTINGS["tabular"]["threads"]
    resources:
        gpu=1 if SETTINGS["tabular"]["device"] != "cpu" else 0,
    params:
        settings=tabular_settings,
    shell:
        "python -m fact.experiments.stages.table1_dataset --settings {params.settings:q} --table {output} 2> {log}"


rule table1:
    """Table 1 (Markdown, LaTeX, PDF) and a per-dataset comparison figure."""
    input:
        results=expand(f"{RESULTS}/tabular/{{dataset}}.parquet", dataset=tabular_datasets()),
        code=code("fact.experiments.stages.table1"),
    output:
        markdown=f"{FIGURES}/table1.md",
        latex=f"{FIGURES}/table1.tex",
        pdf=report(f"{FIGURES}/table1.pdf", caption=f"../../{FIGURES}/table1.caption.rst", category="3. Table 1"),
        scatter=report(
            f"{FIGURES}/table1_scatter.pdf",
            caption=f"../../{FIGURES}/table1_scatter.caption.rst",
            category="3. Table 1",
        ),
        pdf_caption=f"{FIGURES}/table1.caption.rst",
        scatter_caption=f"{FIGURES}/table1_scatter.caption.rst",
    log:
        f"logs/table1/{SCALE}.log",
    conda:
        ENV
    shell:
        "python -m fact.experiments.stages.table1 --inputs {input.results} --markdown {output.markdown} "
        "--latex {output.latex} --pdf {output.pdf} --scatter {output.scatter} 2> {log}"
