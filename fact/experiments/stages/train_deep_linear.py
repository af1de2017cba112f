r"""Train one deep linear network f(x) = W_L ... W_1 x on a Gaussian linear teacher (Figure 11)::

    python -m fact.experiments.stages.train_deep_linear --settings '{...}' \
        --out results/<scale>/nets/deep_linear/L3_seed0.pt

The run's resumable state sits beside its output until the checkpoint is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fact.experiments.checkpoints import objective_record
from fact.experiments.data.synthetic import linear_teacher
from fact.experiments.io import save_torch
from fact.experiments.job_settings import to_json
from fact.experiments.jobs import fail, resolve_device, start_stage
from fact.experiments.models import deep_linear
from fact.experiments.provenance import code_hash, git_sha
from fact.experiments.training import LOSS, SGDSettings, UnreadableStateError, discard_state, train_sgd
from fact.features.errors import NonFiniteLossError


@dataclass(frozen=True)
class TrainDeepLinearSettings:
    """One training job (config.yaml: deep_linear), its depth and seed included."""

    d: int
    n: int
    data_seed: int
    depth: int
    seed: int
    train: SGDSettings
    device: str
    scale: str


def main(argv: list[str] | None = None) -> None:
    """Train one deep linear network (see the module docstring)."""
    args, log = start_stage("train_deep_linear", __doc__, TrainDeepLinearSettings, argv, files=("out",))
    s: TrainDeepLinearSettings = args.settings
    device = resolve_device(s.device)
    X, Y, _ = linear_teacher(s.d, s.n, s.data_seed)
    torch.manual_seed(s.seed)
    model = deep_linear(s.d, s.depth).to(device)
    try:
        result = train_sgd(
            model,
            X.to(device),
            Y.to(device),
            s.train,
            s.seed,
            f"{args.out}.state",
            keep_epochs=(s.train.epochs,),
            identity={"settings": to_json(s), "code": code_hash("fact.experiments.stages.train_deep_linear")},
        )
    except (NonFiniteLossError, UnreadableStateError) as error:
        fail(log, str(error))
    log.info("depth %d: final mean batch loss %.3e", s.depth, result["history"].train_loss.iloc[-1])
    save_torch(
        {
            "settings": to_json(s),
            "objective": objective_record(LOSS, s.train.weight_decay),
            "checkpoints": result["checkpoints"],
            "history": result["history"].to_dict("records"),
            "stationarity": result["stationarity"],
            "converged": result["converged"],
            "polish": result["polish"],
            "git_sha": git_sha(),
        },
        args.out,
    )
    discard_state(f"{args.out}.state")  # only now: a kill before the checkpoint is written loses nothing


if __name__ == "__main__":
    main()
