"""Train one deep linear network f(x) = W_L ... W_1 x on a Gaussian linear teacher (Figure 11).

    python -m fact.stages.train_deep_linear --settings '{...}' --out results/<scale>/nets/deep_linear/L3_seed0.pt
"""

from __future__ import annotations

import torch

from fact.data.synthetic import linear_teacher
from fact.io import save_torch
from fact.losses import NonFiniteLossError
from fact.nets import deep_linear
from fact.provenance import code_hash, git_sha
from fact.stages.common import fail, resolve_device, settings_parser, setup_logging
from fact.training import SGDSettings, UnreadableStateError, train_sgd


def main(argv: list[str] | None = None) -> None:
    parser = settings_parser(__doc__, "d, n, data_seed, depth, seed, train {...}, device, scale")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    log = setup_logging("train_deep_linear")
    s = args.settings
    device = resolve_device(s["device"])
    X, Y, _ = linear_teacher(s["d"], s["n"], s["data_seed"])
    torch.manual_seed(s["seed"])
    model = deep_linear(s["d"], s["depth"]).to(device)
    settings = SGDSettings(**s["train"])
    try:
        result = train_sgd(model, X.to(device), Y.to(device), settings, s["seed"], f"{args.out}.state",
                           keep_epochs=(settings.epochs,),
                           identity={"settings": s, "code": code_hash("fact.stages.train_deep_linear")})
    except (NonFiniteLossError, UnreadableStateError) as error:
        fail(log, str(error))
    log.info("depth %d: final mean batch loss %.3e", s["depth"], result["history"].train_loss.iloc[-1])
    save_torch({"settings": s, "checkpoints": result["checkpoints"], "history": result["history"].to_dict("records"),
                "converged": result["converged"], "git_sha": git_sha()}, args.out)


if __name__ == "__main__":
    main()
