"""A per-position autograd reference for the hooked pass's matrices."""

from __future__ import annotations

import torch
from torch.func import jacrev

from fact.features.losses import mse_per_sample


def positional_reference(model, layer, rows, forward_from_z, X, Y, weight_decay):
    """Every relation of ``layer`` by per-sample autograd, summed over positions: ``rows(x)`` gives
    the rows h (positions x d_in) that W multiplies and ``forward_from_z(z, x)`` the outputs from
    the layer's z (positions x d_out) for one sample."""
    W = layer.weight_matrix
    n = len(X)
    H = torch.stack([rows(x) for x in X])  # (n, positions, d_in)
    Z = H @ W.T
    J_z = torch.stack([jacrev(lambda z, x=x: forward_from_z(z, x))(z) for z, x in zip(Z, X)])  # (n, c, L, out)
    g_z = torch.stack(
        [
            torch.func.grad(lambda z, x=x, y=y: mse_per_sample(forward_from_z(z, x)[None], y[None])[0])(z)
            for z, x, y in zip(Z, X, Y)
        ]
    )  # (n, L, out)
    J_h, g_h = J_z @ W, g_z @ W
    C_z = J_z - J_z.mean(dim=0)  # each output's and position's Jacobian less its mean over the samples
    C_h = C_z @ W
    rows_h, rows_z = H.reshape(-1, H.shape[-1]), Z.reshape(-1, Z.shape[-1])
    return {
        "fact": -(g_h.reshape(-1, W.shape[1]).T @ rows_h) / (n * weight_decay),
        "bfact": -(g_z.reshape(-1, W.shape[0]).T @ rows_z) / (n * weight_decay),
        "agop": torch.einsum("ncli,nclj->ij", J_h, J_h) / n,
        "backward_agop": torch.einsum("ncli,nclj->ij", J_z, J_z) / n,
        "centred_agop": torch.einsum("ncli,nclj->ij", C_h, C_h) / n,
        "centred_backward_agop": torch.einsum("ncli,nclj->ij", C_z, C_z) / n,
        "enfa": g_h.reshape(-1, W.shape[1]).T @ g_h.reshape(-1, W.shape[1]) / n,
        "backward_enfa": g_z.reshape(-1, W.shape[0]).T @ g_z.reshape(-1, W.shape[0]) / n,
    }
