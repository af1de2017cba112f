"""Fit an RFM from an experiment's settings (Figures 3-6), scoring the test set at every iteration."""

from __future__ import annotations

import pandas as pd

from fact.experiments.jobs import resolve_device
from fact.kernel_machines.rfm import RFM


def fit_rfm_scoring_test(settings, method: dict, task: str, X, y, X_test, y_test):
    """Fit an RFM from an experiment's settings, scoring the test set at every iteration.

    ``settings`` is a stage's settings with the fields ``kernel`` (a Kernel), ``reg``,
    ``iters``, ``dtype`` and ``device``; ``method`` the RFM's update options. The test set
    rides in the validation slot only to be scored: the experiments show every iteration
    and use none of the selection. Returns (model, history) with the split named "test".
    """
    model = RFM(
        kernel=settings.kernel,
        reg=settings.reg,
        iters=settings.iters,
        task=task,
        dtype=settings.dtype,
        device=str(resolve_device(settings.device)),
        keep_matrices=True,
        **method,
    )
    model.fit(X, y, X_test, y_test)
    history: pd.DataFrame = model.history_.replace({"split": {"val": "test"}})
    return model, history
