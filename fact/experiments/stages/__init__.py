"""Entry points of the pipeline's rules: ``python -m fact.experiments.stages.<stage> --help``.

Each one reads its inputs, calls the library and writes its outputs atomically; the
experiment settings arrive as one JSON argument so the rule can pass them through
Snakemake's ``params:`` (a changed setting reruns exactly the jobs that use it).
"""
