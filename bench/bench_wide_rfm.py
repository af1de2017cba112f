"""RFM updates with fewer points than features (n << d, e.g. 50 samples of 20,000 genes), at rank n against
the dense d x d route they replace, in one run.

With n points the AGOP and the kernel FACT matrix have rank at most n (fact.kernel_machines.updates): the
updates take their powers from n-column factors (d n^2 work and one d x d product) instead of a d x d
eigendecomposition or SVD (about 10 d^3). Both routes are timed on the same predictor, threads and precision,
checked to agree, and set beside the floor of one d x d x n product (forming M's action on the data).

    PYTHONPATH=. .venv/bin/python bench/bench_wide_rfm.py --n 50 --d 2000 4000 8000
"""

from __future__ import annotations

import argparse
import time

import torch

from fact.features.linalg import gram_power, psd_sqrt_of_gram, sym_power
from fact.features.metrics import relative_error
from fact.kernel_machines.kernel_matrices import kernel_agop_parts, kernel_fact_factors
from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.updates import fact_geom_update, fact_update, nfa_update


def seconds(function) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def routes(X, alpha, M, kernel):
    """{update: (rank-n route, dense route)} as functions of nothing."""
    agop = kernel_agop_parts(X, alpha, M, kernel, False, None, None, None, None)
    F = kernel_fact_factors(X, alpha, M, kernel, "1/n", None, None)
    A, C = agop
    U, V = F
    return {
        "nfa": (lambda: nfa_update(agop, 0.5), lambda: sym_power(A @ C @ A.T, 0.5)),
        "fact": (lambda: fact_update(F), lambda: psd_sqrt_of_gram(U @ V.T)),
        "fact_geom": (lambda: fact_geom_update(F, M), lambda: gram_power(U @ V.T @ M, 0.25)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--d", type=int, nargs="+", default=[2000, 4000])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.dtype}, n = {args.n}")
    print("| d | update | rank n (s) | dense (s) | dense / rank n | floor: d x d x n product (s) | agree |")
    print("|---|---|---|---|---|---|---|")
    for d in args.d:
        generator = torch.Generator().manual_seed(0)
        X = torch.randn(args.n, d, generator=generator, dtype=dtype) / d**0.5
        alpha = torch.randn(args.n, 2, generator=generator, dtype=dtype)
        M = torch.eye(d, dtype=dtype)
        floor, _ = seconds(lambda M=M, X=X: M @ X.T)
        for update, (low_rank, dense) in routes(X, alpha, M, Kernel("laplace", 1.0)).items():
            fast, expected = seconds(low_rank)
            slow, reference = seconds(dense)
            agree = relative_error(expected.double(), reference.double())
            print(f"| {d:,} | {update} | {fast:.2f} | {slow:.2f} | {slow / fast:.0f} | {floor:.3f} | {agree:.1e} |")


if __name__ == "__main__":
    main()
