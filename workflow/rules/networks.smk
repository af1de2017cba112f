# Training networks and extracting their feature matrices.


rule fetch_images:
    """One image dataset (MNIST, CIFAR-10, or the offline mirror's partial copies), each file checksum-verified."""
    output:
        f"{DATA}/images/status/{{dataset}}.json",
    log:
        "logs/fetch/images/{dataset}.log",
    wildcard_constraints:
        dataset=one_of(IMAGE_DATASETS),
    conda:
        ENV
    params:
        revision=fetch_revision("images"),  # see fetch_uci121
        dest=lambda wildcards, output: str(Path(output[0]).parents[2]),  # the data folder
    shell:
        "python -m fact.experiments.data.fetch images {wildcards.dataset} --dest {params.dest:q} "
        "--revision {params.revision} 2> {log}"


# One training and one extraction rule per experiment of fact.experiments.experiment_table: a new
# experiment is a row there and a block in config.yaml.
for experiment in EXPERIMENTS.values():

    rule:
        name:
            f"train_{experiment.name}"
        input:
            fetched=image_fetched(experiment),
            code=code(experiment.train.module),
        output:
            checkpoint_pattern(experiment),
        log:
            f"logs/train_{experiment.name}/{SCALE}/{experiment.run_name}.log",
        benchmark:
            benchmark(f"logs/train_{experiment.name}/{SCALE}/{experiment.run_name}.log")
        wildcard_constraints:
            **run_constraints(experiment),
        conda:
            ENV
        resources:
            gpu=uses_gpu(experiment, experiment.train),
        params:
            # the shell command may name no loop variable: Snakemake evaluates it again when the job runs
            module=experiment.train.module,
            settings=train_settings(experiment),
        shell:
            "python -m {params.module} --settings {params.settings:q} --out {output} 2> {log}"

    rule:
        name:
            f"extract_{experiment.name}"
        input:
            checkpoints=checkpoints(experiment),
            code=code(experiment.extract.module),
        output:
            **extraction_outputs(experiment.name),
        log:
            f"logs/extract_{experiment.name}/{SCALE}.log",
        benchmark:
            benchmark(f"logs/extract_{experiment.name}/{SCALE}.log")
        conda:
            ENV
        resources:
            gpu=uses_gpu(experiment, experiment.extract),
        params:
            module=experiment.extract.module,
            settings=extract_settings(experiment),
            trained_with=trained_with(experiment),
            outputs=extraction_options(experiment),
        shell:
            "python -m {params.module} --checkpoints {input.checkpoints} --trained-with {params.trained_with:q} "
            "--settings {params.settings:q} {params.outputs} 2> {log}"
