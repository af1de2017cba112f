"""Synthetic tasks built exactly from their definition, with every constant explicit."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

import torch


@dataclass(frozen=True)
class AdversarialQuadratic:
    """The adversarial data distribution of Section 6 (Theorem 6.1 / D.1, Figure 7), d = 4.

    The paper keeps its constants unknown (docs/paper-settings.md); this construction follows its recipe:

    * with probability ``hypercube_weight`` (the paper's p), x ~ Unif({-1, +1}^4); this
      component pins every off-diagonal coefficient of the fitted quadratic (a parity
      argument), in particular the x3 x4 term;
    * with probability 1 - p, x ~ Unif({-s, +s}^2 x {0}^2) with s = ``spike_scale`` (the
      paper's tau is 1/s): large along coordinates 1, 2 and silent along 3, 4;
    * target y = f*(x) = x^T A* x = ``epsilon`` x1 x2 + x3 x4, a homogeneous quadratic.

    Why it separates the relations: weight decay makes the fitted network the min-norm
    representation of A*, for which W^T W is proportional to |A*|^{2/3} (Lemma D.2), i.e.
    (eps^{2/3}, eps^{2/3}, 1, 1) up to scale on the diagonal: mass on coordinates 3, 4.
    The AGOP is 4 A* Sigma A* with Sigma = E[x x^T] = diag(p + (1-p) s^2, same, p, p), i.e.
    (eps^2 s^2, eps^2 s^2, p, p) up to scale: mass on coordinates 1, 2 once eps^2 s^2 >> p.

    Both components are finite, so the *population* is a finite multiset: every atom is
    repeated in proportion to its probability, and the empirical mean over
    :meth:`population` is the exact expectation under the mixture.
    """

    hypercube_weight: float = 0.02
    spike_scale: float = 10.0
    epsilon: float = 0.05
    max_atoms: int = 200_000

    d = 4

    def __post_init__(self):
        if not 0 < self.hypercube_weight < 1:
            raise ValueError(f"hypercube_weight must lie in (0, 1), got {self.hypercube_weight}")
        if not self.spike_scale > 0:
            raise ValueError(f"spike_scale must be > 0, got {self.spike_scale}")

    def target_matrix(self, dtype=torch.float64) -> torch.Tensor:
        """A* with f*(x) = x^T A* x."""
        A = torch.zeros(4, 4, dtype=dtype)
        A[0, 1] = A[1, 0] = self.epsilon / 2
        A[2, 3] = A[3, 2] = 0.5
        return A

    def second_moment(self, dtype=torch.float64) -> torch.Tensor:
        """Sigma = E[x x^T] under the mixture."""
        p, s = self.hypercube_weight, self.spike_scale
        return torch.diag(torch.tensor([p + (1 - p) * s**2] * 2 + [p] * 2, dtype=dtype))

    def multiplicities(self) -> tuple[int, int]:
        """Integer copies of each hypercube atom (16 atoms) and each spike atom (4 atoms)."""
        p = Fraction(self.hypercube_weight).limit_denominator(10_000)
        cube_atom, spike_atom = p / 16, (1 - p) / 4
        scale = cube_atom.denominator * spike_atom.denominator
        cube, spike = int(cube_atom * scale), int(spike_atom * scale)
        common = gcd(cube, spike)
        cube, spike = cube // common, spike // common
        if 16 * cube + 4 * spike > self.max_atoms:
            raise ValueError(
                f"hypercube_weight={self.hypercube_weight} needs {16 * cube + 4 * spike} atoms to represent the "
                f"population exactly (limit {self.max_atoms}); use a simpler fraction such as 0.02 or 1/50"
            )
        return cube, spike

    def population(self, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact population as (X, y): X of shape (N, 4), y of shape (N, 1)."""
        cube_copies, spike_copies = self.multiplicities()
        cube = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=4)), dtype=dtype)
        s = self.spike_scale
        spikes = torch.tensor([[a * s, b * s, 0.0, 0.0] for a in (-1, 1) for b in (-1, 1)], dtype=dtype)
        X = torch.cat([cube.repeat(cube_copies, 1), spikes.repeat(spike_copies, 1)])
        y = ((X @ self.target_matrix(dtype)) * X).sum(dim=1, keepdim=True)
        return X, y


def linear_teacher(d: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x ~ N(0, I_d), y = W* x with W* entries i.i.d. standard Gaussian.

    Returns (X, Y, W*) in float32; the seed fixes both W* and the sample.
    """
    generator = torch.Generator().manual_seed(seed)
    teacher = torch.randn(d, d, generator=generator)
    X = torch.randn(n, d, generator=generator)
    return X, X @ teacher.T, teacher
