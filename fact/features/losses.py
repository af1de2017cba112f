"""Per-sample losses (the loss_i of FACT's objective): the squared error in its three conventions (the mean over
outputs, the sum, half the sum), the cross-entropy, and a causal language model's mean over positions."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Loss = str | LossFn


def _without_trailing_ones(shape: torch.Size) -> tuple[int, ...]:
    shape = tuple(shape)
    while len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def mse_per_sample(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """torch's MSELoss for each sample: the mean over outputs of the squared error.

    Targets have the outputs' shape; only trailing dimensions of size one may differ
    (targets of shape (n,) for outputs of shape (n, 1)). Any other shape, a transposed
    one included, is refused rather than reshaped.
    """
    if targets.shape != outputs.shape:
        if _without_trailing_ones(targets.shape) != _without_trailing_ones(outputs.shape):
            raise ValueError(
                f"squared-error loss: targets of shape {tuple(targets.shape)} do not match outputs of shape "
                f"{tuple(outputs.shape)}; give targets of the outputs' shape, one row per sample"
            )
        targets = targets.reshape(outputs.shape)
    return ((outputs - targets) ** 2).reshape(outputs.shape[0], -1).mean(dim=1)


def sse_per_sample(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The squared error of each sample summed over outputs, ||f - y||^2: c times "mse" for c outputs."""
    return mse_per_sample(outputs, targets) * outputs[0].numel()


def half_sse_per_sample(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Half the squared error of each sample summed over outputs, (1/2) ||f - y||^2, the textbooks' and many
    papers' convention: c/2 times "mse" for c outputs."""
    return sse_per_sample(outputs, targets) / 2


def ce_per_sample(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each sample; targets are class indices or class probabilities."""
    return F.cross_entropy(outputs, targets, reduction="none")


class CausalLMLoss:
    """A causal language model's loss as the per-sample losses of FACT's objective: the mean, over every labelled
    position of every sample, of the next token's cross-entropy, as transformers' ``*ForCausalLM`` models (and so
    the ``Trainer``) compute it. Labels are the sequence itself, shifted by one inside (position t predicts label
    t + 1), with ``ignore_index`` (-100) where no loss is taken (a prompt, padding).

    The objective averages over positions, not samples: sample i's share is the sum of its positions' losses
    times n / T, T the labelled positions of all ``labels`` (the monitor's samples), so that (1/n) sum_i loss_i
    is the mean over positions.
    """

    def __init__(self, labels: torch.Tensor, ignore_index: int = -100):
        if not isinstance(labels, torch.Tensor) or labels.dim() != 2 or labels.is_floating_point():
            raise ValueError(
                "CausalLMLoss takes the labels of every monitored sample: integer token ids of shape (samples, "
                f"positions), {ignore_index} where no loss is taken; got {getattr(labels, 'shape', type(labels))}"
            )
        self.ignore_index = ignore_index
        labelled = int((labels[:, 1:] != ignore_index).sum())
        if labelled == 0:
            raise ValueError(f"every label after the first position is {ignore_index}: there is no loss to take")
        self.weight = len(labels) / labelled  # n / T

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each sample's share of the mean over positions: its positions' losses summed, times n / T."""
        if logits.dim() != 3 or logits.shape[:2] != labels.shape:
            raise ValueError(
                f"CausalLMLoss takes logits of shape (samples, positions, vocabulary) and labels of shape (samples, "
                f"positions): got {tuple(logits.shape)} and {tuple(labels.shape)}; give the model's full logits"
            )
        tokens = F.cross_entropy(
            logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=self.ignore_index, reduction="none"
        )
        return tokens.reshape(len(labels), -1).sum(dim=1) * self.weight


# The squared error by its three conventions: the mean over outputs (torch's nn.MSELoss), the sum over them, and
# half the sum. FACT is of the loss training minimises: a model trained on (1/2) ||f - y||^2 with c outputs and
# monitored with "mse" gets a FACT c/2 times too small, which its stationarity error shows.
LOSSES: dict[str, LossFn] = {
    "mse": mse_per_sample,
    "sse": sse_per_sample,
    "half_sse": half_sse_per_sample,
    "ce": ce_per_sample,
}
LOSS_LABELS: dict[str, str] = {  # how captions and plots name each loss
    "mse": "MSE",
    "sse": "squared error summed over outputs",
    "half_sse": "½‖f − y‖²",
    "ce": "cross-entropy",
}


def batch_share(loss: str, outputs: torch.Tensor, targets: torch.Tensor, n: int) -> torch.Tensor:
    """One batch's share of the mean loss (1/n) sum_i loss_i over n samples, for the loss named ``loss``, summed
    by torch's own reduction (as ``nn.MSELoss`` and ``nn.CrossEntropyLoss`` compute it in training)."""
    if loss in ("mse", "sse", "half_sse"):  # the batch's sum of squares, over n and the convention's divisor
        divisor = {"mse": outputs[0].numel(), "sse": 1, "half_sse": 2}[loss]
        return F.mse_loss(outputs, targets.reshape(outputs.shape), reduction="sum") / (n * divisor)
    if loss == "ce":
        return F.cross_entropy(outputs, targets, reduction="sum") / n
    raise ValueError(f"unknown loss {loss!r}: use one of {list(LOSSES)}")


def resolve_loss(loss: Loss) -> LossFn:
    """Turn a loss's name (``"mse"``: the mean over outputs of the squared error, ``"sse"``: its sum,
    ``"half_sse"``: half its sum, ``"ce"``) or a callable ``(outputs, targets) -> per-sample losses`` into a
    callable."""
    if callable(loss):
        return loss
    if loss in LOSSES:
        return LOSSES[loss]
    raise ValueError(
        f"unknown loss {loss!r}: use one of {sorted(LOSSES)} or a callable (outputs, targets) -> per-sample losses"
    )


def loss_name(loss: Loss) -> str:
    """A loss as a name two processes can compare: its own name, or its callable's qualified name."""
    function = resolve_loss(loss)
    return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', type(function).__name__)}"
