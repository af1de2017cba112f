"""Under torch.distributed, each rank sums over its shard and the sums are all-reduced: two CPU
processes on the gloo backend (started by torchrun) give what one process gives from all the data, in
feature_matrices, weight_matrices and the monitor (whose table rank 0 alone writes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from fact.experiments.models import TinyTransformer
from fact.features.matrices import feature_matrices
from fact.features.metrics import relative_error
from fact.features.monitor import Monitor
from fact.features.weights import weight_matrices

WEIGHT_DECAY = 1e-2
RELATIONS = ("fact", "bfact", "enfa", "agop", "backward_agop", "centred_agop")

# What every rank runs: the same model and data, its own shard (every world-th sample).
RANK_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    sys.path.insert(0, sys.argv[3])
    from tests.test_distributed import everything
    from fact.features.monitor import Monitor
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    result = everything(int(sys.argv[1]), shard=(rank, world))
    model, inputs, targets = torch.nn.Linear(3, 2).double(), torch.randn(4, 3).double(), torch.randn(4, 2).double()
    Monitor(model, inputs, targets, "mse", 0.1, path=f"{sys.argv[2]}.rank{rank}.parquet").record()
    if rank == 0:
        torch.save(result, sys.argv[2])
    dist.destroy_process_group()
    """
)


def models_and_data(seed: int):
    """An MLP on real-valued targets and a transformer on tokens, in float64, with their data."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mlp = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    X, Y = torch.randn(30, 5, generator=generator, dtype=torch.float64), torch.randn(30, 3, generator=generator)
    transformer = TinyTransformer(7, 3, 8, 2, 16).double()
    tokens, labels = torch.randint(0, 7, (22, 3), generator=generator), torch.randint(0, 7, (22,), generator=generator)
    return [("mlp", mlp, X, Y.double(), "mse"), ("transformer", transformer, tokens, labels, "ce")]


def everything(seed: int, shard: tuple[int, int] = (0, 1)) -> dict:
    """Every relation of every layer, and FACT of every weight, on this rank's shard of the data."""
    rank, world = shard
    result = {}
    for name, model, inputs, targets, loss in models_and_data(seed):
        inputs, targets = inputs[rank::world], targets[rank::world]
        layers = feature_matrices(model, inputs, targets, loss, WEIGHT_DECAY, batch_size=4, centre_agop=True)
        result[name] = {layer: {"n": m.n, **{r: getattr(m, r) for r in RELATIONS}} for layer, m in layers.items()}
        weights = weight_matrices(model, inputs, targets, loss, WEIGHT_DECAY, batch_size=4)
        result[name + " weights"] = {
            w: {"fact": m.fact, "stationarity": m.stationarity_error} for w, m in weights.items()
        }
        monitor = Monitor(model, inputs, targets, loss, WEIGHT_DECAY, nfa=True, agop_probes=None, batch_size=4)
        rows = monitor.record()
        result[name + " monitor"] = {
            f"{row.layer} {row.relation} {row.power}": {"pearson": row.pearson, "stationarity": row.stationarity_error}
            for row in rows.itertuples()
        }
    return result


def test_two_ranks_give_what_one_process_gives(fresh_seed, tmp_path):
    script, out = tmp_path / "rank.py", tmp_path / "result.pt"
    script.write_text(RANK_SCRIPT)
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(script),
        str(fresh_seed),
        str(out),
        root,
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "result.pt.rank0.parquet").exists() and not (tmp_path / "result.pt.rank1.parquet").exists()
    together, alone = torch.load(out), everything(fresh_seed)
    assert together.keys() == alone.keys()
    for part, matrices in alone.items():
        assert together[part].keys() == matrices.keys(), part
        for layer, values in matrices.items():
            for what, expected in values.items():
                got = together[part][layer][what]
                if isinstance(expected, torch.Tensor):  # on the AGOP's scale: the last layer's centred one is 0
                    scale = expected.norm() + values.get("agop", expected).norm()
                    assert (got - expected).norm() <= 1e-12 * scale, f"seed={fresh_seed} {part} {layer} {what}"
                else:
                    assert got == pytest.approx(expected, rel=1e-12), f"seed={fresh_seed} {part} {layer} {what}"


def test_a_shard_alone_is_not_the_whole(fresh_seed):
    """The comparison above can fail: half the data gives other matrices."""
    half, whole = everything(fresh_seed, shard=(0, 2)), everything(fresh_seed)
    assert relative_error(half["mlp"]["0"]["fact"], whole["mlp"]["0"]["fact"]) > 1e-3


# Every rank runs each case; each must refuse on every rank (no hang, no C++ abort), naming what differs.
MISMATCH_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    sys.path.insert(0, sys.argv[2])
    from fact.features.matrices import feature_matrices
    from fact.features.monitor import Monitor
    from fact.features.weights import weight_matrices
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    X, Y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)

    def model(width=4, moved=False):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.Tanh(), torch.nn.Linear(width, 2)).double()
        if moved:
            with torch.no_grad():
                m[0].weight[0, 0] += 1e-3
        return m

    cases = {
        "lambda": lambda: feature_matrices(model(), X, Y, "mse", 0.1 if rank else 0.2),
        "weights": lambda: weight_matrices(model(moved=rank == 1), X, Y, "mse", 0.1),
        "shapes": lambda: feature_matrices(model(width=5 if rank else 4), X, Y, "mse", 0.1),
        "every": lambda: Monitor(model(), X, Y, "mse", 0.1, every=10 if rank else 20),
        "no samples": lambda: weight_matrices(model(), X[:0] if rank else X, Y[:0] if rank else Y, "mse", 0.1),
    }
    messages = {}
    for name, case in cases.items():
        try:
            case()
            messages[name] = "accepted"
        except ValueError as error:
            messages[name] = str(error)
    torch.save(messages, f"{sys.argv[1]}.rank{rank}")
    dist.destroy_process_group()
    """
)


def test_ranks_that_would_sum_different_things_are_refused_on_every_rank(tmp_path):
    script, out = tmp_path / "mismatch.py", tmp_path / "messages"
    script.write_text(MISMATCH_SCRIPT)
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    run = subprocess.run([*command, str(script), str(out), root], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    for rank in (0, 1):
        messages = torch.load(f"{out}.rank{rank}")
        assert "the ranks differ in weight_decay (weight_decay: rank 0 0.2, rank 1 0.1)" in messages["lambda"]
        assert "the ranks differ in weights" in messages["weights"]
        assert "the ranks differ in matrices" in messages["shapes"] and "(0, 5)" not in messages["shapes"]
        assert "Monitor: the ranks differ in every (every: rank 0 20, rank 1 10)" in messages["every"]
        assert "ranks [1] hold no samples; give each rank's shard at least one sample" in messages["no samples"]
