"""Cost of one `fact.features.matrices.feature_matrices` pass against the training floor.

The floor is one epoch of plain training steps (forward, backward of the mean loss,
no optimiser) over the same data in the same batches: every relation needs at least a
forward and a backward pass. The ratio says what computing all relations for all layers
costs in units of that epoch; the AGOP's backward pass is vectorised over the model's
outputs, so it costs roughly (1 + outputs) backward passes, and with k random output
probes (``agop_probes``) roughly (1 + k). FACT and bFACT of every weight from the gradient
of the mean loss (``fact.features.weights``) need one forward and one backward pass: about one epoch.

Goals: FACT and bFACT of every weight within 1.2 epochs; all relations within (1 + outputs)/2
epochs; the sketched AGOP with k probes within (1 + k)/2 epochs.

Beside each time ratio stands the ratio of floating-point operations (matrix products, counted by
``torch.utils.flop_counter``): where the two agree, the pass runs at the hardware's rate and only less
arithmetic can make it faster. With targets, the loss gradient is one more backward direction (FACT
and eNFA need it at every layer), so "all relations" with k probes does the arithmetic of k + 1.

    python bench/bench_matrices.py --device cuda --n 60000 --width 1024 --probes 4
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fact.features.losses import mse_per_sample
from fact.features.matrices import feature_matrices
from fact.features.weights import weight_matrices


def mlp(d_in: int, width: int, depth: int, d_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    sizes = [d_in] + [width] * (depth - 1) + [d_out]
    for index, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if index < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def floating_point_operations(function) -> int:
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops()


def seconds(function, device) -> float:
    synchronise(device)
    start = time.perf_counter()
    function()
    synchronise(device)
    return time.perf_counter() - start


def ratio_to_floor(function, floor, device, repeats: int) -> tuple[float, float]:
    """Median seconds of ``function`` and median of its time over the floor's.

    The floor runs right before each repeat, so a change in the machine's speed during the
    run (other work, clock changes) touches both sides of each ratio alike.
    """
    function()  # warm-up
    pairs = [(seconds(floor, device), seconds(function, device)) for _ in range(repeats)]
    return statistics.median(t for _, t in pairs), statistics.median(t / f for f, t in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d-in", type=int, default=784)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--outputs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--probes", type=int, default=4, help="random output directions of the sketched AGOP")
    parser.add_argument("--repeats", type=int, default=7, help="timings per pass, each beside one of the floor")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    model = mlp(args.d_in, args.width, args.depth, args.outputs).to(device)
    X = torch.randn(args.n, args.d_in, device=device)
    Y = torch.randn(args.n, args.outputs, device=device)

    def training_epoch():
        for start in range(0, args.n, args.batch_size):
            model.zero_grad(set_to_none=True)
            mse_per_sample(
                model(X[start : start + args.batch_size]), Y[start : start + args.batch_size]
            ).mean().backward()

    def fact_only():
        feature_matrices(model, X, Y, "mse", 1e-4, batch_size=args.batch_size, jacobian=False)

    def everything():
        feature_matrices(model, X, Y, "mse", 1e-4, batch_size=args.batch_size, jacobian=True)

    def sketched():
        feature_matrices(model, X, Y, "mse", 1e-4, batch_size=args.batch_size, agop_probes=args.probes)

    def agop_alone():
        feature_matrices(model, X, batch_size=args.batch_size)

    def sketched_agop_alone():
        feature_matrices(model, X, batch_size=args.batch_size, agop_probes=args.probes)

    def every_weight():
        weight_matrices(model, X, Y, "mse", 1e-4, batch_size=args.batch_size)

    passes = [
        ("FACT, bFACT of every weight (fact.features.weights)", every_weight, "1.2"),
        ("FACT, bFACT, eNFA (no Jacobian)", fact_only, ""),
        ("all relations incl. exact AGOP", everything, f"{(1 + args.outputs) / 2:.1f}"),
        ("exact AGOP alone (no targets)", agop_alone, f"{(1 + args.outputs) / 2:.1f}"),
        (f"all relations, AGOP from {args.probes} probes", sketched, ""),
        (f"AGOP alone from {args.probes} probes (no targets)", sketched_agop_alone, f"{(1 + args.probes) / 2:.1f}"),
    ]
    training_epoch()  # warm-up
    floor = statistics.median(seconds(training_epoch, device) for _ in range(args.repeats))
    floor_operations = floating_point_operations(training_epoch)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"device: {name}; MLP depth {args.depth}, width {args.width}, {args.d_in} -> {args.outputs}; "
        f"n = {args.n}, batch {args.batch_size}, float32, TF32 off"
    )
    print(
        "| pass | seconds (median) | x training epoch (median of paired ratios) | goal "
        "| x epoch's floating-point operations |"
    )
    print("|---|---|---|---|---|")
    print(f"| training epoch (floor) | {floor:.3f} | 1.00 | | 1.00 ({floor_operations / 1e9:.1f} GFLOP) |")
    for label, function, goal in passes:
        median, ratio = ratio_to_floor(function, training_epoch, device, args.repeats)
        operations = floating_point_operations(function)
        print(f"| {label} | {median:.3f} | {ratio:.2f} | {goal} | {operations / floor_operations:.2f} |")


if __name__ == "__main__":
    main()
