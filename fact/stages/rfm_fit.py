"""Fit an RFM from an experiment's settings (Figures 3-6), scoring the test set at every iteration."""

from __future__ import annotations

import pandas as pd

from fact.rfm import RFM
from fact.stages.common import resolve_device


def fit_rfm_scoring_test(settings: dict, options: dict, task: str, X, y, X_test, y_test):
    """Fit an RFM from an experiment's settings, scoring the test set at every iteration.

    The test set rides in the validation slot only to be scored: the experiments show every
    iteration and use none of the selection. Returns (model, history) with the split
    named "test".
    """
    kernel = settings["kernel"]
    model = RFM(kernel=kernel["name"], bandwidth=kernel.get("bandwidth", 1.0),
                gaussian_convention=kernel.get("gaussian_convention", "2L^2"), reg=settings["reg"],
                iters=settings["iters"], task=task, dtype=settings["dtype"],
                device=str(resolve_device(settings["device"])), keep_matrices=True, **options)
    model.fit(X, y, X_test, y_test)
    history: pd.DataFrame = model.history_.replace({"split": {"val": "test"}})
    return model, history
