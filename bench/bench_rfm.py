"""RFM fit time against xrfm 0.4.5 and against this machine's dense linear-algebra floor.

Same data, threads and precision for all three: n points in d = 20 dimensions, a scalar
regression target, Laplace kernel (bandwidth 10), NFA update (AGOP^{1/2}), 5 iterations,
ridge 1e-3, float32. The floor is what any exact RFM must do per iteration, timed with
torch alone: the kernel GEMM X M X^T, a Cholesky factorisation and solve, and (between
iterations) the gradient GEMM (n x n) @ (n x d).

xrfm lives in its own environment so it never becomes a dependency:

    python3 -m venv /tmp/xrfm-venv
    /tmp/xrfm-venv/bin/pip install torch==2.13.0 xrfm==0.4.5
    PYTHONPATH=. .venv/bin/python bench/bench_rfm.py --peer-python /tmp/xrfm-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

D, ITERS, BANDWIDTH, REG, N_VAL = 20, 5, 10.0, 1e-3, 500


DEVICE = torch.device("cpu")


def data(n: int):
    generator = torch.Generator().manual_seed(n)
    X = torch.randn(n + N_VAL, D, generator=generator)
    y = (torch.sin(X[:, 0] * X[:, 1]) + X[:, 2] ** 2)[:, None]
    X, y = X.to(DEVICE), y.to(DEVICE)
    return X[:n], y[:n], X[n:], y[n:]


def synchronise() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def best_of(function, repeats: int) -> float:
    if DEVICE.type == "cuda":
        function()  # warm-up: CUDA context, cuBLAS/cuSOLVER handles
    times = []
    for _ in range(repeats):
        synchronise()
        start = time.perf_counter()
        function()
        synchronise()
        times.append(time.perf_counter() - start)
    return min(times)


def time_ours(n: int, repeats: int) -> float:
    from fact.kernel_machines.rfm import RFM

    X, y, Xv, yv = data(n)
    model = RFM(
        kernel="laplace",
        bandwidth=BANDWIDTH,
        reg=REG,
        update="nfa",
        power=0.5,
        iters=ITERS,
        task="regression",
        dtype="float32",
        device=str(DEVICE),
    )
    return best_of(lambda: model.fit(X, y, Xv, yv), repeats)


def time_floor(n: int, repeats: int) -> float:
    X, y, _, _ = data(n)
    M = torch.eye(D, device=DEVICE)
    rhs = torch.randn(n, D, device=DEVICE)

    def run():
        for iteration in range(ITERS + 1):
            K = X @ M @ X.T
            K.diagonal().add_(1.0)  # keeps the factorisation well defined; same cost as the kernel's
            factor = torch.linalg.cholesky(K)
            torch.cholesky_solve(y, factor)
            if iteration < ITERS:
                K @ rhs

    return best_of(run, repeats)


def time_xrfm(n: int, repeats: int) -> float:
    from xrfm.rfm_src.recursive_feature_machine import RFM as XRFM

    X, y, Xv, yv = data(n)

    def run():
        model = XRFM(
            kernel="laplace",
            iters=ITERS,
            bandwidth=BANDWIDTH,
            agop_power=0.5,
            device=DEVICE,
            verbose=False,
            solver="cholesky",
            tuning_metric="mse",
        )
        model.fit((X, y), (Xv, yv), reg=REG, early_stop_rfm=False, verbose=False)

    return best_of(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--peer-python", help="interpreter with xrfm 0.4.5 installed")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--run", choices=["xrfm"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.run == "xrfm":
        print(json.dumps({n: time_xrfm(n, args.repeats) for n in args.sizes}))
        return

    peer = {}
    if args.peer_python:
        command = [
            args.peer_python,
            __file__,
            "--run",
            "xrfm",
            "--repeats",
            str(args.repeats),
            "--device",
            args.device,
            "--threads",
            str(args.threads),
            "--sizes",
            *map(str, args.sizes),
        ]
        peer = {
            int(k): v
            for k, v in json.loads(
                subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            ).items()
        }
    where = torch.cuda.get_device_name() if DEVICE.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"{where}, torch {torch.__version__}, d = {D}, {ITERS} iterations, Laplace, NFA, float32")
    print("| n | floor (s) | fact.kernel_machines.rfm (s) | fact / floor | xrfm 0.4.5 (s) | xrfm / fact |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        floor, ours = time_floor(n, args.repeats), time_ours(n, args.repeats)
        theirs = peer.get(n)
        tail = f"{theirs:.2f} | {theirs / ours:.2f}" if theirs else "- | -"
        print(f"| {n} | {floor:.2f} | {ours:.2f} | {ours / floor:.2f} | {tail} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
