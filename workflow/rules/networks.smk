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


rule train_fig7:
    """Train one quadratic network on the adversarial population (Figure 7)."""
    input:
        code=code("fact.experiments.stages.train_fig7"),
    output:
        CHECKPOINT_PATTERNS["fig7"],
    log:
        f"logs/train_fig7/{SCALE}/seed{{seed}}.log",
    wildcard_constraints:
        seed=r"\d+",
    conda:
        ENV
    resources:
        gpu=1 if SETTINGS["fig7"]["device"] != "cpu" else 0,
    params:
        settings=fig7_settings,
    shell:
        "python -m fact.experiments.stages.train_fig7 --settings {params.settings:q} --out {output} 2> {log}"


rule extract_fig7:
    """W^T W, FACT, AGOP^s and eNFA of every Figure 7 network, to one tidy table."""
    input:
        checkpoints=checkpoints("fig7"),
        code=code("fact.experiments.stages.extract_fig7"),
    output:
        table=features("fig7"),
        matrices=f"{RESULTS}/features/fig7_matrices.pt",
    log:
        f"logs/extract_fig7/{SCALE}.log",
    conda:
        ENV
    params:
        settings=job_settings(SETTINGS["fig7"], ("powers",)),
        trained_with=trained_with("fig7"),
    shell:
        "python -m fact.experiments.stages.extract_fig7 --checkpoints {input.checkpoints} --trained-with {params.trained_with:q} "
        "--settings {params.settings:q} --table {output.table} --matrices {output.matrices} 2> {log}"


rule train_mlp:
    """Train one 5-layer ReLU MLP on one image dataset (Figures 2, 8-10); resumes if killed."""
    input:
        fetched=image_fetched,
        code=code("fact.experiments.stages.train_mlp"),
    output:
        CHECKPOINT_PATTERNS["mlp"],
    log:
        f"logs/train_mlp/{SCALE}/{{dataset}}_seed{{seed}}.log",
    wildcard_constraints:
        dataset=one_of(SETTINGS["mlp"]["datasets"]),
        seed=r"\d+",
    conda:
        ENV
    resources:
        gpu=1 if SETTINGS["mlp"]["device"] != "cpu" else 0,
    params:
        settings=mlp_settings,
    shell:
        "python -m fact.experiments.stages.train_mlp --settings {params.settings:q} --out {output} 2> {log}"


rule extract_mlp:
    """Agreement of every kept epoch and layer with FACT, NFA and eNFA, to one tidy table."""
    input:
        checkpoints=checkpoints("mlp"),
        code=code("fact.experiments.stages.extract_mlp"),
    output:
        features("mlp"),
    log:
        f"logs/extract_mlp/{SCALE}.log",
    conda:
        ENV
    resources:
        gpu=1 if SETTINGS["mlp"]["device"] != "cpu" else 0,
    params:
        settings=job_settings(SETTINGS["mlp"], ("powers", "batch_size", "device"), data_root=DATA),
        trained_with=trained_with("mlp"),
    shell:
        "python -m fact.experiments.stages.extract_mlp --checkpoints {input.checkpoints} --trained-with {params.trained_with:q} "
        "--settings {params.settings:q} "
        "--table {output} 2> {log}"


rule train_deep_linear:
    """Train one deep linear network of depth L on the Gaussian teacher (Figure 11)."""
    input:
        code=code("fact.experiments.stages.train_deep_linear"),
    output:
        CHECKPOINT_PATTERNS["deep_linear"],
    log:
        f"logs/train_deep_linear/{SCALE}/L{{depth}}_seed{{seed}}.log",
    wildcard_constraints:
        depth=r"\d+",
        seed=r"\d+",
    conda:
        ENV
    resources:
        gpu=1 if SETTINGS["deep_linear"]["device"] != "cpu" else 0,
    params:
        settings=deep_linear_settings,
    shell:
        "python -m fact.experiments.stages.train_deep_linear --settings {params.settings:q} --out {output} 2> {log}"


rule extract_deep_linear:
    """W_l^T W_l against AGOP^s over a grid of s, and against FACT, for every depth and seed."""
    input:
        checkpoints=checkpoints("deep_linear"),
        code=code("fact.experiments.stages.extract_deep_linear"),
    output:
        features("deep_linear"),
    log:
        f"logs/extract_deep_linear/{SCALE}.log",
    conda:
        ENV
    params:
        settings=job_settings(SETTINGS["deep_linear"], ("powers",)),
        trained_with=trained_with("deep_linear"),
    shell:
        "python -m fact.experiments.stages.extract_deep_linear --checkpoints {input.checkpoints} "
        "--trained-with {params.trained_with:q} "
        "--settings {params.settings:q} --table {output} 2> {log}"


rule train_transformer:
    """Train the one-block transformer on modular addition with one optimiser (Figure 12)."""
    input:
        code=code("fact.experiments.stages.train_transformer"),
    output:
        CHECKPOINT_PATTERNS["transformer"],
    log:
        f"logs/train_transformer/{SCALE}/{{optimiser}}_seed{{seed}}.log",
    wildcard_constraints:
        optimiser="adam_l2|adamw",
        seed=r"\d+",
    conda:
        ENV
    resources:
        gpu=1 if SETTINGS["transformer"]["device"] != "cpu" else 0,
    params:
        settings=decay_run_settings("transformer"),
    shell:
        "python -m fact.experiments.stages.train_transformer --settings {params.settings:q} --out {output} 2> {log}"


rule train_cnn:
    """Train the small CNN on an image dataset with one optimiser (Figure 13)."""
    input:
        fetched=fetch_verdict(SETTINGS["cnn"]["dataset"]),
        code=code("fact.experiments.stages.train_cnn"),
    output:
        CHECKPOINT_PATTERNS["cnn"],
    log:
        f"logs/train_cnn/{SCALE}/{{optimiser}}_seed{{seed}}.log",
    wildcard_constraints:
        optimiser="adam_l2|adamw",
        seed=r"\d+",
    conda:
        ENV
    resources:
        gpu=1 if SETTINGS["cnn"]["device"] != "cpu" else 0,
    params:
        settings=decay_run_settings("cnn"),
    shell:
        "python -m fact.experiments.stages.train_cnn --settings {params.settings:q} --out {output} 2> {log}"


rule extract_decay_runs:
    """The decay runs of one architecture, the transformer (Figure 12) or the CNN (Figure 13): FACT, NFA
    and eNFA agreement of every weight matrix at every kept step, to one tidy table, beside their
    accuracy history."""
    input:
        checkpoints=lambda wildcards: checkpoints(wildcards.family),
        code=code("fact.experiments.stages.extract_decay_runs"),
    output:
        table=features("{family}"),
        history=features("{family}_history"),
    log:
        f"logs/extract_decay_runs/{SCALE}/{{family}}.log",
    wildcard_constraints:
        family=one_of(DECAY_RUN_KEYS),
    conda:
        ENV
    resources:
        gpu=lambda wildcards: 1 if SETTINGS[wildcards.family]["device"] != "cpu" else 0,
    params:
        settings=lambda wildcards: job_settings(
            SETTINGS[wildcards.family], ("powers", "batch_size", "agop_probes", "device")
        ),
        trained_with=lambda wildcards: trained_with(wildcards.family),
    shell:
        "python -m fact.experiments.stages.extract_decay_runs --checkpoints {input.checkpoints} "
        "--trained-with {params.trained_with:q} --settings {params.settings:q} "
        "--table {output.table} --history {output.history} 2> {log}"
