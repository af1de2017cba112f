"""Where the pipeline writes each experiment's results under ``results/<scale>/``, as glob patterns.

The scorecard recognises its input files by these places, and the workflow finds another scale's
results with them; standard library only, so the workflow can read it while building the DAG. The
networks' tables are where their experiments' rows (fact.experiments.experiment_table) put them.
"""

from fact.experiments.experiment_table import EXPERIMENTS

RESULT_PLACES: dict[str, tuple[str, ...]] = {
    "tabular": ("tabular/*.parquet",),  # Table 1, one dataset each
    "parity": ("rfm/parity/*/*.parquet",),  # Figures 3-4: <figure>/k<k>_seed<s>
    "modular": ("rfm/modular/*.parquet", "rfm/modular/*.pt"),  # Figures 5-6: <run>_seed<s>
    # Figures 2, 7, 8-10, 11, and beyond the paper 12 and 13: each network experiment's extraction table
    **{name: (experiment.output_files()["table"],) for name, experiment in EXPERIMENTS.items()},
    "convergence": ("features/convergence.parquet",),  # Figure 14 (beyond the paper)
}
