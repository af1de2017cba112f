"""Fit an RFM from an experiment's settings (Figures 3-6), scoring the test set at every iteration."""

from __future__ import annotations

from fact.experiments.jobs import resolve_device
from fact.kernel_machines.rfm import RFM


def fit_rfm_scoring_test(settings, method: dict, task: str, X, y, X_test, y_test):
    """Fit an RFM from an experiment's settings, scoring the test set at every iteration.

    ``settings`` is a stage's settings with the fields ``kernel`` (a Kernel), ``reg``,
    ``iters``, ``dtype`` and ``device``; ``method`` the RFM's update options. The test set is
    scored at every iteration and chooses nothing: the experiments show every iteration.
    Returns (model, history), the test set's rows under the split "test".
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
    model.fit(X, y, X_test=X_test, y_test=y_test)
    return model, model.history_
