"""Train one ReLU MLP on an image dataset with minibatch SGD, keeping chosen epochs (Figures 2, 8-10).

    python -m fact.stages.train_mlp --settings '{...}' --out results/<scale>/nets/mlp/<dataset>_seed0.pt

A killed job leaves ``<out>.state`` behind; the rerun resumes from it and ends with the
same weights as an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fact.data.manifest import dataset_status
from fact.data.images import FETCHED, load
from fact.io import save_torch
from fact.losses import NonFiniteLossError
from fact.nets import mlp
from fact.provenance import code_hash, git_sha
from fact.stages.common import fail, resolve_device, settings_parser, setup_logging
from fact.training import SGDSettings, UnreadableStateError, train_sgd


def main(argv: list[str] | None = None) -> None:
    parser = settings_parser(__doc__, "dataset, split_seed, seed, model {width, depth, bias}, train {...}, keep_epochs, "
                                      "device, data_root, scale")
    parser.add_argument("--out", required=True, help="checkpoints to write (.pt)")
    args = parser.parse_args(argv)
    log = setup_logging("train_mlp")
    s = args.settings
    device = resolve_device(s["device"])
    if s["dataset"] in FETCHED:
        status = dataset_status(Path(s["data_root"]), "images", s["dataset"])
        if not status["available"]:
            fail(log, f"{s['dataset']} is unavailable: {status['reason']}")
    data = load(s["dataset"], s["split_seed"], s["data_root"])
    X = data.X_train.to(device)
    Y = torch.nn.functional.one_hot(data.y_train, data.n_classes).float().to(device)
    torch.manual_seed(s["seed"])
    model = mlp(data.d, s["model"]["width"], data.n_classes, s["model"]["depth"], s["model"]["bias"]).to(device)
    settings = SGDSettings(**s["train"])
    log.info("%s: %d training points of dimension %d on %s (%s)", data.name, len(X), data.d, device, data.note)
    try:
        result = train_sgd(model, X, Y, settings, s["seed"], f"{args.out}.state", tuple(s["keep_epochs"]),
                           identity={"settings": s, "code": code_hash("fact.stages.train_mlp")})
    except (NonFiniteLossError, UnreadableStateError) as error:
        fail(log, str(error))
    with torch.no_grad():
        predictions = model(data.X_test.to(device)).argmax(1).cpu()
    test_accuracy = float((predictions == data.y_test).float().mean())
    final_loss = result["history"].train_loss.iloc[-1]
    log.info("final mean batch loss %.3e (threshold %.1e: %s), test accuracy %.4f", final_loss,
             settings.loss_threshold, "converged" if result["converged"] else "NOT converged", test_accuracy)
    save_torch({"settings": s, "checkpoints": result["checkpoints"], "history": result["history"].to_dict("records"),
                "converged": result["converged"], "test_accuracy": test_accuracy, "note": data.note,
                "git_sha": git_sha()}, args.out)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
