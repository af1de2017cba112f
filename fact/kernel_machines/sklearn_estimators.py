"""The RFM as scikit-learn's classifier and regressor: the same estimator, recognised as such by
scikit-learn (stratified folds and accuracy for a classifier, R^2 and several outputs for a regressor)."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from fact.kernel_machines.rfm import RFM


class RFMClassifier(ClassifierMixin, RFM):
    """An RFM for class labels, recognised as a classifier by scikit-learn (stratified CV, accuracy score).

    Targets are one-hot and predictions the argmax; ``task="binary"`` fits two classes with one
    0/1 output instead. Parameters as ``RFM``; ``task`` is "auto" (= "classification") or "binary".
    """

    _TASKS = ("auto", "classification", "binary")
    _AUTO_TASK = "classification"

    def decision_function(self, X) -> np.ndarray:
        """Scores per class (n x classes); with two classes, as scikit-learn's classifiers do, one
        score per point (n,), positive for ``classes_[1]``."""
        scores = super().decision_function(X)
        if len(self.classes_) != 2:
            return scores
        return scores[:, 0] - 0.5 if self._task_.name == "binary" else scores[:, 1] - scores[:, 0]


class RFMRegressor(RegressorMixin, RFM):
    """An RFM for real-valued targets (one or several outputs), recognised as a regressor by scikit-learn
    (R^2 score). Parameters as ``RFM``; ``task`` is "auto" (= "regression")."""

    _TASKS = ("auto", "regression")
    _AUTO_TASK = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may have several columns: one output each
        return tags
