"""What an RFM learns: class labels as one-hot targets, two labels as one 0/1 target, or real values.

A task says how labels become the regression targets the kernel machine fits, how outputs become
labels again, which metrics it is scored by, and which of them chooses the iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Task:
    """A task: its name, whether its labels are classes, and its selection metric."""

    name: str
    categorical: bool  # labels are classes (targets built from class indices)
    selection: str  # the validation metric that chooses the iteration: the highest accuracy, the lowest mse

    def targets(self, index: torch.Tensor, n_classes: int) -> torch.Tensor:
        """Regression targets from class indices: one-hot, or one 0/1 column for a binary task."""
        if self.name == "binary":
            return index.reshape(-1, 1)
        return torch.nn.functional.one_hot(index, n_classes)

    def label_index(self, outputs: torch.Tensor) -> torch.Tensor:
        """The class index of each output row: above 0.5 for a binary task, else the largest output."""
        if self.name == "binary":
            return (outputs[:, 0] > 0.5).long()
        return outputs.argmax(1)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """mse (summed over outputs, averaged over points), and accuracy for class labels."""
        metrics = {"mse": float(((outputs - targets) ** 2).sum(dim=1).mean())}
        if self.categorical:
            metrics["accuracy"] = float((self.label_index(outputs) == self.label_index(targets)).double().mean())
        return metrics

    def best(self, scores) -> int:
        """The iteration with the best validation score (a Series indexed by iteration); ties go to the
        earliest: the least feature learning that does as well."""
        return int(scores.idxmax() if self.selection == "accuracy" else scores.idxmin())


TASKS = {
    task.name: task
    for task in (
        Task("classification", True, "accuracy"),
        Task("binary", True, "accuracy"),
        Task("regression", False, "mse"),
    )
}


def guessed_task(labels: np.ndarray) -> str:
    """task="auto" for a plain RFM: classification for 1-D integer or string labels, else regression."""
    categorical = labels.ndim == 1 and not np.issubdtype(labels.dtype, np.floating)
    return "classification" if categorical else "regression"
