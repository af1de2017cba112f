"""One RFM fit at miniboone's fold size on the low-memory path: time and peak memory.

    PYTHONPATH=. python bench/bench_large_n.py --n 97548 --device cuda

miniboone (130,064 points, 50 features, 2 classes) is the collection's largest dataset; a
fold fit sees three quarters of it, 97,548 points, whose float32 kernel matrix alone is 38 GB.
Four such arrays (the normal path) fit on no single GPU; the low-memory path keeps one, the
kernel matrix, factorised in its own storage. This times one FACT-RFM' fit of that size (one
feature update, then the final solve) on random data of miniboone's shape and reports the
peak memory in units of that one array.
"""

from __future__ import annotations

import argparse
import time

import torch

from fact.kernel_machines.rfm import RFM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=97_548)
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--iters", type=int, default=1)
    parser.add_argument("--update", default="fact_geom")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(args.n, args.d, generator=generator)
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] > 0).long()
    X_val = torch.randn(2000, args.d, generator=generator)
    y_val = (X_val[:, 0] + 0.5 * X_val[:, 1] * X_val[:, 2] > 0).long()
    cuda = args.device.startswith("cuda")
    if cuda:
        print(
            f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, "
            f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB"
        )
        torch.cuda.reset_peak_memory_stats()
    model = RFM(
        kernel="laplace",
        bandwidth=10.0,
        reg=1e-3,
        update=args.update,
        iters=args.iters,
        task="classification",
        dtype="float32",
        device=args.device,
        low_memory="auto",
    )
    start = time.perf_counter()
    model.fit(X, y, X_val, y_val)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    one_array = args.n * args.n * 4
    print(
        f"n = {args.n}, d = {args.d}, {args.update}, {args.iters} update(s): {seconds:.1f} s, "
        f"low-memory path: {model.low_memory_}, solvers: {model.solvers_}"
    )
    if cuda:
        peak = torch.cuda.max_memory_allocated()
        print(
            f"peak GPU memory {peak / 2**30:.1f} GiB = {peak / one_array:.2f} x the {one_array / 2**30:.1f} GiB "
            "kernel matrix"
        )
    print(model.history_.to_string())


if __name__ == "__main__":
    main()
