"""The three data sums of the hooked pass, per weight matrix, accumulated batch by batch:

    G = sum_i grad_{z_i} loss_i h_i^T             (d_out x d_in)
    E = sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T  (d_out x d_out)
    B = sum_i J_i J_i^T, J_i = d f(x_i) / d z_i      (d_out x d_out)
    S = sum_i J_i, per output and position            (outputs * positions x d_out; for the centred AGOP only)

summed over every position of every sample. A batch's products are formed in the model's precision
(float64 products would double the cost of the largest ones, the Jacobian Gram) and added to float64
sums; B and E, Gram matrices, are formed from their upper triangle of blocks (``fact.features.linalg.gram``).
"""

from __future__ import annotations

import torch
from torch import nn

from fact.features.layer_views import MatrixView
from fact.features.linalg import gram


class Sums:
    """G, E and B of each matrix; a sum stays None until a batch contributes to it."""

    def __init__(self, names, centre: bool = False):
        self.of = {name: {"G": None, "E": None, "B": None, "S": None} for name in names}
        self.centre = centre  # also sum the Jacobians themselves, for the AGOP of centred gradients

    def add(
        self,
        name: str,
        view: MatrixView,
        module: nn.Module,
        h: torch.Tensor,
        z: torch.Tensor,
        loss_grad: torch.Tensor | None,
        jacobian: torch.Tensor | None,
    ) -> None:
        """Add one application of a matrix: its input rows ``h``, output ``z``, the loss gradient with
        respect to z (z's shape) and the Jacobians (directions, *z.shape), either possibly None."""
        h2 = h.reshape(-1, h.shape[-1]).to(z.dtype)
        if loss_grad is not None:
            g2 = _rows(view, module, loss_grad)  # (sample, position) x d_out, matching the rows of h
            self._add(name, "G", g2.T @ h2)
            self._add(name, "E", gram(g2))
        if jacobian is not None:
            rows = view.outputs(module, jacobian.reshape(-1, *z.shape[1:]))  # (directions * samples, ..., d_out)
            J2 = rows.reshape(-1, rows.shape[-1])
            self._add(name, "B", gram(J2))
            if self.centre:  # per output direction and position, summed over the samples
                per_sample = rows.reshape(jacobian.shape[0], len(z), -1, rows.shape[-1])
                self._add_sum(name, per_sample.sum(dim=1).reshape(-1, rows.shape[-1]))

    def _add_sum(self, name: str, value: torch.Tensor) -> None:
        """Add to S, whose rows are (output, position) pairs: every batch must have the same ones."""
        kept = self.of[name]["S"]
        if kept is not None and kept.shape != value.shape:
            raise ValueError(
                f"layer {name!r}: the centred AGOP centres each output and position across samples, but this "
                f"batch has {value.shape[0]} of them and earlier ones {kept.shape[0]}: give every sample the same "
                "length (pad), or leave centre_agop off"
            )
        self._add(name, "S", value)

    def _add(self, name: str, key: str, value: torch.Tensor) -> None:
        """In place: no float64 copy of the batch's product."""
        store = self.of[name]
        if store[key] is None:
            store[key] = value.to(torch.float64)
        else:
            store[key].add_(value)


def _rows(view: MatrixView, module: nn.Module, output_shaped: torch.Tensor) -> torch.Tensor:
    """A tensor shaped as the module's output as rows of d_out features."""
    rows = view.outputs(module, output_shaped)
    return rows.reshape(-1, rows.shape[-1])
