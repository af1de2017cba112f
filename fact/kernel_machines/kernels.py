"""Kernels with a Mahalanobis feature matrix M, and exact input gradients of kernel predictors.

For a PSD matrix M (M = W^T W with W the RFM's linear features):

* ``laplace``:   K(x, z) = exp(-||x - z||_M / L)
* ``gaussian``:  K(x, z) = exp(-||x - z||_M^2 / (2 L^2))   (convention "2L^2", the RFM code's), or
                 K(x, z) = exp(-||x - z||_M^2 / L)          (convention "L", Mallinar et al.'s text);
                 the paper leaves it open; default "2L^2" (docs/paper-settings.md)
* ``quadratic``: K(x, z) = (x^T M z)^2          (inner product, k(t) = t^2; no bandwidth)
* ``exp_inner``: K(x, z) = exp(x^T M z)         (inner product, k(t) = e^t; no bandwidth)

with ||v||_M^2 = v^T M v. The predictor f(x) = sum_j alpha_j K(x, x_j) has the input gradient
(centres held fixed, i.e. the derivative in the first kernel argument)

    radial kernels:        grad f(x) = M sum_j w(x, x_j) (x - x_j) alpha_j^T,  w = dK/d(x) / (M (x - x_j))
    inner-product kernels: grad f(x) = M sum_j k'(x^T M x_j) x_j alpha_j^T

which is what the AGOP and the kernel FACT matrix are built from.

The Laplace kernel is not differentiable where x = x_j. There its gradient is set to zero,
the convention of the RFM reference code (S_ii := 0): squared distances
below a rounding threshold, relative to the points' norms, count as exact zeros, so a
point's gradient never picks up the huge 1/||x - x_j|| of a distance that is zero but for
rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

RADIAL = ("laplace", "gaussian")
INNER_PRODUCT = ("quadratic", "exp_inner")
KERNELS = RADIAL + INNER_PRODUCT
GAUSSIAN_CONVENTIONS = ("2L^2", "L")


@dataclass(frozen=True)
class Kernel:
    """A kernel family with its bandwidth (ignored by inner-product kernels)."""

    name: str = "laplace"
    bandwidth: float = 1.0
    gaussian_convention: str = "2L^2"

    def __post_init__(self):
        if self.name not in KERNELS:
            raise ValueError(f"unknown kernel {self.name!r}: use one of {list(KERNELS)}")
        if self.name in RADIAL and not self.bandwidth > 0:
            raise ValueError(f"the {self.name} kernel needs a bandwidth > 0, got {self.bandwidth}")
        if self.gaussian_convention not in GAUSSIAN_CONVENTIONS:
            raise ValueError(
                f"unknown gaussian_convention {self.gaussian_convention!r}: use one of {list(GAUSSIAN_CONVENTIONS)}"
            )

    @property
    def radial(self) -> bool:
        """Whether the kernel depends on the distance between points (Laplace, Gaussian)."""
        return self.name in RADIAL

    # ------------------------------------------------------------------ values
    def pair_statistic(self, X: torch.Tensor, Z: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        """What the kernel is a function of: M-distances (Laplace), squared M-distances
        (Gaussian) or x^T M z (inner products). Computed once per RFM iteration, it serves
        both the kernel values and the gradient weights."""
        if self.name == "laplace":
            return squared_distances(X, Z, M).sqrt_()
        return squared_distances(X, Z, M) if self.radial else X @ M @ Z.T

    def values(self, statistic: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        """Kernel values from :meth:`pair_statistic`; ``in_place`` overwrites the statistic
        (one n x m array instead of two, for large problems)."""
        out = statistic if in_place else statistic.clone()
        if self.name == "laplace":
            return out.div_(-self.bandwidth).exp_()
        if self.name == "gaussian":
            return out.div_(-self._gaussian_scale()).exp_()
        if self.name == "quadratic":
            return out.square_()
        return out.exp_()

    def weights(self, statistic: torch.Tensor, K: torch.Tensor | None = None) -> torch.Tensor:
        """Per-pair gradient weights from :meth:`pair_statistic` (and the kernel values, if at hand).

        Radial kernels: w with grad_x K(x, z) = w M (x - z). Inner-product kernels:
        k'(x^T M z), with grad_x K(x, z) = k' M z.
        """
        if K is None and self.name in ("laplace", "gaussian", "exp_inner"):
            K = self.values(statistic)
        if self.name == "laplace":
            # K / distance, with 0/0 at coinciding points defined as 0 (see the module docstring)
            return K.div(statistic).masked_fill_(statistic == 0, 0.0).div_(-self.bandwidth)
        if self.name == "gaussian":
            return K * (-2 / self._gaussian_scale())
        if self.name == "quadratic":
            return 2 * statistic
        return K

    def _gaussian_scale(self) -> float:
        return 2 * self.bandwidth**2 if self.gaussian_convention == "2L^2" else self.bandwidth

    def matrix(self, X: torch.Tensor, Z: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        """K(x_i, z_j) for all rows of X (n x d) and Z (m x d): an n x m matrix."""
        return self.values(self.pair_statistic(X, Z, M))

    def derivative_matrix(self, X: torch.Tensor, Z: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        """k'(x_i^T M z_j) for inner-product kernels (Proposition 5.1's K')."""
        if self.radial:
            raise ValueError(f"derivative_matrix is defined for inner-product kernels, not {self.name}")
        return self.weights(X @ M @ Z.T)

    # ------------------------------------------------------------------ gradients
    def weight_blocks(
        self,
        queries: torch.Tensor,
        centres: torch.Tensor,
        M: torch.Tensor,
        batch_size: int | None = None,
        weights: torch.Tensor | None = None,
    ):
        """(start, gradient weights of queries[start:start + batch_size] against the centres), block
        by block: rows of ``weights`` where given (q x n, from :meth:`weights`), else computed."""
        step = batch_size or len(queries)
        for start in range(0, len(queries), step):
            if weights is not None:
                yield start, weights[start : start + step]
            else:
                yield start, self.weights(self.pair_statistic(queries[start : start + step], centres, M))

    def predictor_gradients(
        self,
        queries: torch.Tensor,
        centres: torch.Tensor,
        alpha: torch.Tensor,
        M: torch.Tensor,
        batch_size: int | None = None,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """grad_x f at each query for f(x) = sum_j alpha_j K(x, x_j): shape (q, d, c).

        ``weights`` (q x n, from :meth:`weights`) may be passed when already computed, as
        in an RFM iteration whose queries are its centres. Memory: about n x d x c numbers
        for the products x_j alpha_j^T, plus batch_size x n weights and batch_size x d x c
        for the result.
        """
        n, d = centres.shape
        alpha = alpha.reshape(n, -1)
        c = alpha.shape[1]
        # Row j holds x_j alpha_j^T flattened: sum_j w_j x_j alpha_j^T is then one GEMM.
        centre_outer = (centres[:, :, None] * alpha[:, None, :]).reshape(n, d * c)
        pieces = []
        for start, w in self.weight_blocks(queries, centres, M, batch_size, weights):
            Q = queries[start : start + len(w)]
            G = (w @ centre_outer).reshape(len(Q), d, c)
            if self.radial:  # sum_j w_j (x - x_j) alpha_j^T = x (w alpha)^T - sum_j w_j x_j alpha_j^T
                G = Q[:, :, None] * (w @ alpha)[:, None, :] - G
            pieces.append(torch.einsum("de,bec->bdc", M, G))
        return torch.cat(pieces)


def squared_distances(X: torch.Tensor, Z: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """||x_i - z_j||_M^2 for all pairs, with rounding-level values set to exactly 0.

    One GEMM of the augmented rows [x M, |x|_M^2, 1] and [-2 z, 1, |z|_M^2] gives
    |x|^2 + |z|^2 - 2 x^T M z without an n x m temporary. The expansion loses about
    eps * (|x_i|^2 + |z_j|^2) to cancellation; a value below 64 eps times that sum, for its
    own pair, is that residue. Only the few entries under the bound of the largest norms
    are checked pair by pair, so a point of large norm does not zero the distances between
    points of small norm.
    """
    XM = X @ M
    x_norms = (XM * X).sum(dim=1)
    z_norms = ((Z @ M) * Z).sum(dim=1)
    ones_x, ones_z = torch.ones_like(x_norms)[:, None], torch.ones_like(z_norms)[:, None]
    sq = torch.cat([XM, x_norms[:, None], ones_x], dim=1) @ torch.cat([-2 * Z, ones_z, z_norms[:, None]], dim=1).T
    scale = 64 * torch.finfo(sq.dtype).eps
    bound = scale * (x_norms.abs().max() + z_norms.abs().max())
    step = max(1, _MASK_ELEMENTS // max(sq.shape[1], 1))  # row blocks: no n x m mask
    for start in range(0, len(sq), step):
        block = sq[start : start + step]
        rows, columns = (block <= bound).nonzero(as_tuple=True)
        residue = block[rows, columns] <= scale * (x_norms[start + rows].abs() + z_norms[columns].abs())
        block[rows[residue], columns[residue]] = 0.0
    return sq


_MASK_ELEMENTS = 2**24
