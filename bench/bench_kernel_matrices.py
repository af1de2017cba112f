"""The kernel AGOP and FACT matrix with many outputs (modular addition), against the per-point gradients.

An RFM iteration on modular addition (p = 61: n = 1,860 training pairs, d = 122 one-hot inputs, c = 61
outputs) needs the AGOP or the kernel FACT matrix of f(x) = sum_j alpha_j K_M(x, x_j). Forming every
gradient grad f(x_i) (d x c) costs n^2 d c operations; ``fact.kernel_machines.kernel_matrices`` forms neither: the FACT
matrix needs only W o (alpha alpha^T) times X (n^2 (c + d)), the AGOP (W^T W) o (alpha alpha^T) (n^3).
Both are timed here beside the gradient route they replace and beside the floor of one n x n x d GEMM,
with the same data, weights, threads and precision, and checked to agree.

    PYTHONPATH=. .venv/bin/python bench/bench_kernel_matrices.py --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from fact.experiments.data.modular import modular_addition
from fact.kernel_machines.kernel_matrices import kernel_agop, kernel_fact
from fact.kernel_machines.kernels import Kernel


def best_of(function, repeats: int) -> tuple[float, torch.Tensor]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def by_gradients(kernel: Kernel, X, alpha, M, weights, centre: bool):
    """The route replaced: every grad f(x_i), then their outer products (AGOP) or times alpha_i (FACT)."""
    G = kernel.predictor_gradients(X, X, alpha, M, weights=weights)  # (n, d, c)
    if centre is None:
        return torch.einsum("ndc,nc->nd", G, alpha).T @ X / len(X)
    if centre:
        G = G - G.mean(dim=0, keepdim=True)
    return torch.einsum("ndc,nec->de", G, G) / len(X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--p", type=int, default=61)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X = modular_addition(args.p, 0.5, 0)[0]
    X = X.double()
    n, d = X.shape
    alpha = torch.randn(n, args.p, generator=torch.Generator().manual_seed(0), dtype=X.dtype)
    M = torch.eye(d, dtype=X.dtype)
    kernel = Kernel("gaussian", 2.5)
    weights = kernel.weights(kernel.pair_statistic(X, X, M))
    floor, _ = best_of(lambda: weights @ X, args.repeats)
    print(
        f"CPU, {args.threads} threads, torch {torch.__version__}, float64, Gaussian kernel, "
        f"n = {n}, d = {d}, c = {args.p}; floor = one n x n x d GEMM, {floor * 1e3:.1f} ms"
    )
    print(
        "| matrix | gradients (s) | fact.kernel_machines.kernel_matrices (s) | speed-up | ours / floor "
        "| max relative difference |"
    )
    print("|---|---|---|---|---|---|")
    cases = {
        "FACT": (None, lambda: kernel_fact(X, alpha, M, kernel, weights=weights)),
        "AGOP, centred": (True, lambda: kernel_agop(X, alpha, M, kernel, centre=True, weights=weights)),
    }
    for name, (centre, ours) in cases.items():
        old_time, expected = best_of(
            lambda centre=centre: by_gradients(kernel, X, alpha, M, weights, centre), args.repeats
        )
        new_time, got = best_of(ours, args.repeats)
        difference = float((got - expected).abs().max() / expected.abs().max())
        print(
            f"| {name} | {old_time:.3f} | {new_time:.3f} | {old_time / new_time:.1f} | "
            f"{new_time / floor:.1f} | {difference:.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
