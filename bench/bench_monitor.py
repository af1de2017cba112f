"""What the FACT monitor costs a training run: the run's time with it over the time without it.

A 5-layer MLP (784 inputs, 10 outputs, the paper's MNIST shape at a chosen width) trained by SGD with
momentum and weight decay on random data in batches, for ``--steps`` steps; the monitor records every
1% and every 10% of the steps (100 and 10 records) on ``--samples`` fixed samples, with FACT and bFACT
only and with the sketched NFA and eNFA too. The floor is a run that, at each record, does only the one
forward and backward pass over those samples that any FACT record needs. Runs alternate (without, with,
without, ...) and each ratio is a run's time over the mean of the plain runs beside it, so that the
machine's drift stays out.

    PYTHONPATH=. python bench/bench_monitor.py --steps 5000 --width 256 --samples 1024
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from fact.features.monitor import Monitor

WEIGHT_DECAY = 1e-4


def mlp(width: int, device: str) -> nn.Module:
    torch.manual_seed(0)
    sizes = [784, width, width, width, width, 10]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).to(device)


class Floor:
    """What any record must cost: one forward and backward pass over the monitor's samples."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, every: int):
        self.model, self.inputs, self.targets, self.every, self.count = model, inputs, targets, every, 0

    def step(self, optimizer) -> None:
        self.count += 1
        if self.count % self.every == 0:
            self.record()

    def record(self) -> None:
        loss = nn.functional.mse_loss(self.model(self.inputs), self.targets, reduction="sum")
        torch.autograd.grad(loss, list(self.model.parameters()))


def training(args, samples: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.optim.Optimizer]:
    """The model, ``samples`` random inputs and targets, and the optimizer that every measurement starts from."""
    model = mlp(args.width, args.device)
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(samples, 784, generator=generator).to(args.device)
    Y = torch.randn(len(X), 10, generator=generator).to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=WEIGHT_DECAY)
    return model, X, Y, optimizer


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, Y: torch.Tensor) -> None:
    optimizer.zero_grad()
    nn.functional.mse_loss(model(X), Y).backward()
    optimizer.step()


def recorder(kind: str, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, every: int):
    """The floor's pass alone ("floor"), or a monitor of FACT and bFACT ("fact"), of them with Spearman's
    correlation too ("spearman"), and of the NFA and eNFA too ("nfa")."""
    if kind == "floor":
        return Floor(model, inputs, targets, every)
    measures = {"measures": ("pearson", "spearman", "cosine", "relative_error")} if kind == "spearman" else {}
    return Monitor(model, inputs, targets, "mse", WEIGHT_DECAY, every=every, nfa=kind == "nfa", **measures)


GOALS = {"a record of FACT, bFACT": 3.0, "a record with NFA, eNFA": 8.0}  # at most this many floor's passes


def run(args, every: int | None = None, kind: str = "fact") -> float:
    """Seconds of one training run, its ``kind`` of record taken every ``every`` steps (None: no records)."""
    model, X, Y, optimizer = training(args, args.batch_size * 50)
    monitor = None if every is None else recorder(kind, model, X[: args.samples], Y[: args.samples], every)
    _synchronise(args.device)
    start = time.perf_counter()
    for step in range(args.steps):
        first = (step * args.batch_size) % len(X)
        training_step(model, optimizer, X[first : first + args.batch_size], Y[first : first + args.batch_size])
        if monitor is not None:
            monitor.step(optimizer)
    _synchronise(args.device)
    return time.perf_counter() - start


def record_costs(args, repeats: int = 10) -> dict[str, float]:
    """Median seconds of one training step, of one record of each kind, and of the floor's pass alone:
    ratios that the machine's drift between whole runs leaves alone."""
    model, X, Y, optimizer = training(args, args.samples)
    actions = {
        "a training step": lambda: training_step(model, optimizer, X[: args.batch_size], Y[: args.batch_size]),
        "the floor's pass": recorder("floor", model, X, Y, every=1).record,
        "a record of FACT, bFACT": recorder("fact", model, X, Y, every=1).record,
        "a record of FACT, bFACT with Spearman's": recorder("spearman", model, X, Y, every=1).record,
        "a record with NFA, eNFA": recorder("nfa", model, X, Y, every=1).record,
    }
    costs = {}
    for name, action in actions.items():
        seconds = []
        for _ in range(repeats):
            _synchronise(args.device)
            start = time.perf_counter()
            action()
            _synchronise(args.device)
            seconds.append(time.perf_counter() - start)
        costs[name] = statistics.median(seconds)
    return costs


def _synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--records-only", action="store_true", help="only the table of one record's cost")
    args = parser.parse_args()
    if not args.records_only:
        whole_runs(args)
    print_record_costs(args)


def whole_runs(args) -> None:
    """The table of whole runs with records against the plain run's time, alternated and repeated."""
    kinds = (("floor: the pass alone", "floor"), ("FACT, bFACT", "fact"), ("+ NFA, eNFA (8 probes)", "nfa"))
    settings = [
        (f"every {share}%, {what}", args.steps * share // 100, kind) for share in (1, 10) for what, kind in kinds
    ]
    ratios = {name: [] for name, _, _ in settings}
    plain = [run(args)]
    for _ in range(args.repeats):
        for name, every, kind in settings:
            seconds = run(args, every, kind)
            plain.append(run(args))
            ratios[name].append(seconds / statistics.mean(plain[-2:]))
    print(f"{args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads; width {args.width}, "
          f"{args.steps} steps of {args.batch_size}, monitor on {args.samples} samples")  # fmt: skip
    print(f"| run | ratio to the plain run (median of {args.repeats}) |\n|---|---|")
    print(f"| plain ({statistics.median(plain):.1f} s) | 1.000 |")
    for name, values in ratios.items():
        print(f"| {name} | {statistics.median(values):.3f} |")


def print_record_costs(args) -> None:
    """The table of one record's cost against the floor's pass, with the goals where there is one."""
    costs = record_costs(args)
    floor, step = costs["the floor's pass"], costs["a training step"]
    print(
        "\n| one ... | ms (median of 10) | ratio to the floor's pass | goal | a run recording every 1% of the steps |"
        "\n|---|---|---|---|---|"
    )
    for name, seconds in costs.items():
        goal = f"≤ {GOALS[name]:g}" if name in GOALS else ""
        every_percent = "" if name == "a training step" else f"{1 + seconds / (100 * step):.3f}"  # one per 100 steps
        print(f"| {name} | {1000 * seconds:.2f} | {seconds / floor:.2f} | {goal} | {every_percent} |")


if __name__ == "__main__":
    main()
