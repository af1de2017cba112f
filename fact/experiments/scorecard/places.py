"""Where the pipeline writes each experiment's results under ``results/<scale>/``, as glob patterns.

The scorecard recognises its input files by these places, and the workflow finds another scale's
results with them; standard library only, so the workflow can read it while building the DAG.
"""

RESULT_PLACES: dict[str, tuple[str, ...]] = {
    "tabular": ("tabular/*.parquet",),  # Table 1, one dataset each
    "fig7": ("features/fig7.parquet",),  # Figure 7
    "mlp": ("features/mlp.parquet",),  # Figures 2 and 8-10
    "deep_linear": ("features/deep_linear.parquet",),  # Figure 11
    "parity": ("rfm/parity/*/*.parquet",),  # Figures 3-4: <figure>/k<k>_seed<s>
    "modular": ("rfm/modular/*.parquet", "rfm/modular/*.pt"),  # Figures 5-6: <run>_seed<s>
    "transformer": ("features/transformer.parquet",),  # Figure 12 (beyond the paper)
    "cnn": ("features/cnn.parquet",),  # Figure 13 (beyond the paper)
    "convergence": ("features/convergence.parquet",),  # Figure 14 (beyond the paper)
}
