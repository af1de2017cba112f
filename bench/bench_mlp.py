"""Time one training epoch of the paper-scale MLP and extrapolate the budget of Figures 2 and 8-10.

    PYTHONPATH=. python bench/bench_mlp.py --device cuda          # on a GPU
    PYTHONPATH=. python bench/bench_mlp.py --n 6000               # a CPU sample (extrapolated to n)

Random data of MNIST's and CIFAR-10's shapes (60,000 x 784 and 50,000 x 3072), the config's
paper-scale model and batch size, the same training loop as the pipeline (fact.experiments.training).
The estimate multiplies the epoch time by epochs x seeds, per dataset, and adds the
extraction of the kept epochs, timed once per dataset.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from fact.experiments.models import mlp
from fact.experiments.training import SGDSettings, train_sgd
from fact.features.matrices import feature_matrices

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"mnist": (60_000, 784), "cifar10": (50_000, 3072)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, help="time on this many points and scale up linearly (CPU samples)")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())["scales"]["paper"]["mlp"]
    device = torch.device(args.device)
    train = config["train"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"# {name}, torch {torch.__version__}; width {config['model']['width']}, depth {config['model']['depth']}, "
        f"batch {train['batch_size']}, {train['epochs']} epochs, {len(config['seeds'])} seeds, "
        f"{len(config['keep_epochs'])} kept epochs\n"
    )
    print("| data | epoch (s) | extraction of one checkpoint (s) | estimate for all seeds (h) |\n|---|---|---|---|")
    total = 0.0
    for dataset, (n, d) in SHAPES.items():
        sample = min(n, args.n or n)
        X = torch.rand(sample, d, device=device)
        Y = torch.nn.functional.one_hot(torch.randint(0, 10, (sample,), device=device), 10).float()
        model = mlp(d, config["model"]["width"], 10, config["model"]["depth"], config["model"]["bias"]).to(device)
        settings = SGDSettings(**{**train, "epochs": 2})
        state = Path(f"/tmp/bench_mlp_{dataset}.state")
        state.unlink(missing_ok=True)
        train_sgd(model, X, Y, settings, 0, state, stop_after=1)  # warm-up epoch
        state.unlink(missing_ok=True)
        start = time.perf_counter()
        train_sgd(model, X, Y, SGDSettings(**{**train, "epochs": 1}), 0, state)
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch = (time.perf_counter() - start) * n / sample
        start = time.perf_counter()
        feature_matrices(
            model.double(), X.double(), Y.double(), "mse", train["weight_decay"], batch_size=config["batch_size"]
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        extraction = (time.perf_counter() - start) * n / sample
        hours = len(config["seeds"]) * (train["epochs"] * epoch + len(config["keep_epochs"]) * extraction) / 3600
        total += hours
        print(f"| {dataset} ({n} x {d}) | {epoch:.2f} | {extraction:.2f} | {hours:.2f} |", flush=True)
    print(f"\nFigures 2, 8, 9, 10 at paper scale: about {total:.2f} device-hours (goal: under 5 on one H100)")


if __name__ == "__main__":
    main()
