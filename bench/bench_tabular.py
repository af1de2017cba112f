"""Time the Table 1 protocol: per dataset, for the whole UCI-121 sweep, and at miniboone's size.

    PYTHONPATH=. python bench/bench_tabular.py --mirror ../shared/data                 # every available dataset
    PYTHONPATH=. python bench/bench_tabular.py --mirror ../shared/data --datasets abalone letter
    PYTHONPATH=. python bench/bench_tabular.py --synthetic 130064 --device cuda        # the large-n path
    PYTHONPATH=. python bench/bench_tabular.py --mirror ../shared/data --datasets pendigits --low-memory

Each dataset runs the full protocol of config.yaml's paper scale (4 methods, 5 ridges x 2
normalisations x RFM iterations 0..4, then 4 folds), in one process, the same code as the
pipeline's per-dataset jobs. ``--synthetic n`` times the protocol on random data with
miniboone's shape (n points, 50 features, 2 classes, its own split of the same proportions),
which is what the low-memory path is for; ``--low-memory`` forces that path on any dataset, so
its accuracies can be set beside the normal path's. Prints a table and the sum.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from fact.experiments.data import uci121
from fact.experiments.data.protocol_splits import TabularDataset
from fact.experiments.stages.table1_dataset import protocol_from
from fact.experiments.table1_protocol import evaluate

ROOT = Path(__file__).resolve().parents[1]


def synthetic(n: int, d: int = 50, seed: int = 0) -> TabularDataset:
    """Two classes separated along a few directions, with the collection's split proportions."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] > 0).astype(np.int64)
    order = rng.permutation(n)
    folds = [(np.setdiff1d(order, part), part) for part in np.array_split(order, 4)]
    return TabularDataset(f"synthetic-{n}", X, y, 2, (order[: n // 2], order[n // 2 :]), folds, "synthetic")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, help="folder with uci121/<dataset>/ (e.g. ../shared/data)")
    parser.add_argument("--datasets", nargs="*", help="default: every dataset folder in the mirror")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[], help="sizes n of synthetic datasets to time")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--low-memory", action="store_true", help="force the RFM's one-array path everywhere")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    settings = yaml.safe_load((ROOT / "config.yaml").read_text())["scales"]["paper"]["tabular"]
    settings.update(device=args.device, dtype=args.dtype)
    datasets = []
    if args.mirror:
        folder = args.mirror / "uci121"
        names = args.datasets or sorted(p.name for p in folder.iterdir() if p.is_dir())
        datasets += [uci121.load(folder / name) for name in names]
    datasets += [synthetic(n) for n in args.synthetic]
    datasets.sort(key=lambda data: len(data.X))

    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if args.device == "auto"
        else args.device
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# {name}, torch {torch.__version__}, {args.dtype}\n")
    methods = list(settings["methods"])
    print(
        f"| dataset | n | d | classes | seconds | {' | '.join(methods)} (4-fold %) | solvers |\n"
        f"|---|---|---|---|---|{'---|' * len(methods)}---|"
    )
    total = 0.0
    for data in datasets:
        normalise = [False] if data.name in settings["never_normalise"] else settings["normalise"]
        protocol = protocol_from({**settings, "dataset": data.name, "normalise": normalise})
        if args.low_memory:
            protocol = dataclasses.replace(protocol, low_memory=True)
        start = time.perf_counter()
        shared_folds = {}
        tables = [
            evaluate(data, method, options, protocol, fold_cache=shared_folds)
            for method, options in settings["methods"].items()
        ]
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        total += seconds
        solvers = sorted({s for table in tables for s in table.solver})
        accuracies = " | ".join(f"{100 * table.accuracy.mean():.2f}" for table in tables)
        print(
            f"| {data.name} | {len(data.X)} | {data.X.shape[1]} | {data.n_classes} | {seconds:.1f} | {accuracies} | "
            f"{', '.join(solvers)} |",
            flush=True,
        )
    print(f"\n{len(datasets)} datasets: {total:.0f} s in all")


if __name__ == "__main__":
    main()
