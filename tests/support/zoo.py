"""The two routes' zoo: a model of every registered module type, tied and padded embeddings, shared weights
and masked attention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fact.experiments.models import SmallCNN, TinyTransformer
from tests.conftest import small_mlp


class Scaled(nn.Module):
    """A module of a user's, registered below: a weight acting on the last dimension, then a fixed scale."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / d_in**0.5)

    def forward(self, x):
        return 3 * (x @ self.weight.T)


class TiedHead(nn.Module):
    """Tokens -> embedding -> linear -> tanh -> mean over positions -> a head whose weight is the embedding's."""

    def __init__(self, vocabulary: int = 7, width: int = 4, padding_idx: int | None = None):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width, padding_idx=padding_idx)
        self.mix = nn.Linear(width, width)
        self.head = nn.Linear(width, vocabulary, bias=False)
        self.head.weight = self.embedding.weight

    def forward(self, tokens):
        return self.head(torch.tanh(self.mix(self.embedding(tokens))).mean(1))


class Padded(nn.Module):
    """Tokens, a third of them the padding index 0, through a padding embedding and a linear readout."""

    def __init__(self, vocabulary: int = 6, width: int = 3, length: int = 4, n_out: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width, padding_idx=0)
        self.readout = nn.Linear(width * length, n_out)

    def forward(self, tokens):
        return self.readout(torch.tanh(self.embedding(tokens)).flatten(1))


class SharedLinears(nn.Module):
    """Two Linear modules holding one weight, and a Linear applied twice."""

    def __init__(self, width: int = 4, n_out: int = 3):
        super().__init__()
        self.first, self.second = nn.Linear(width, width), nn.Linear(width, width)
        self.second.weight = self.first.weight
        self.twice = nn.Linear(width, width, bias=False)
        self.out = nn.Linear(width, n_out)

    def forward(self, x):
        x = torch.tanh(self.second(torch.tanh(self.first(x))))
        return self.out(torch.tanh(self.twice(torch.tanh(self.twice(x)))))


class MaskedAttention(nn.Module):
    """Token embeddings through causal self-attention, read out at the last position."""

    def __init__(self, vocabulary: int = 5, width: int = 4, length: int = 3):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width)
        self.attention = nn.MultiheadAttention(width, 2, batch_first=True)
        self.register_buffer("causal", torch.ones(length, length, dtype=torch.bool).triu(1))
        self.readout = nn.Linear(width, vocabulary)

    def forward(self, tokens):
        x = self.embedding(tokens)
        return self.readout(self.attention(x, x, x, attn_mask=self.causal, need_weights=False)[0][:, -1])


class KeywordCall(nn.Module):
    """Layers called with their input by name (``input=x``), as some code calls them."""

    def __init__(self):
        super().__init__()
        self.first, self.out = nn.Linear(4, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.out(input=torch.tanh(self.first(input=x)))


def _tokens(generator, n: int, vocabulary: int, length: int, classes: int):
    return torch.randint(0, vocabulary, (n, length), generator=generator), torch.randint(
        0, classes, (n,), generator=generator
    )


def _gpt2(tied: bool):
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(  # GPT-2's default ties the token embedding to the head
        vocab_size=6, n_positions=3, n_embd=8, n_layer=1, n_head=2, n_inner=8, tie_word_embeddings=tied,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None,
    )  # fmt: skip
    config._attn_implementation = "eager"
    return LastPosition(transformers.GPT2LMHeadModel(config))


class LastPosition(nn.Module):
    """A causal language model as a classifier of its last position."""

    def __init__(self, language_model: nn.Module):
        super().__init__()
        self.language_model = language_model

    def forward(self, tokens):
        return self.language_model(tokens).logits[:, -1]


def _case(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss, left_out=frozenset()):
    """(model, inputs, targets, loss name, the weights the hooked pass leaves out), floating ones in float64."""

    def in_float64(tensor):
        return tensor.double() if tensor.is_floating_point() else tensor

    return model.double(), in_float64(inputs), in_float64(targets), loss, set(left_out)


def zoo(name: str, seed: int):
    """One zoo entry (``_case``) with weights and data drawn from ``seed``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    regression = torch.randn(20, 4, generator=generator), torch.randn(20, 3, generator=generator)
    if name == "mlp":
        return _case(small_mlp(seed), *regression, "mse")
    if name == "conv2d":
        images, labels = torch.randn(12, 25, generator=generator), torch.randint(0, 3, (12,), generator=generator)
        return _case(SmallCNN(side=5, n_classes=3, channels=(2, 3), activation=nn.Tanh), images, labels, "ce")
    if name == "conv1d":
        model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 5, 2))
        return _case(model, torch.randn(12, 2, 5, generator=generator), torch.randn(12, 2, generator=generator), "mse")
    if name == "scaled (registered)":
        return _case(nn.Sequential(Scaled(4, 5), nn.Tanh(), nn.Linear(5, 3)), *regression, "mse")
    if name == "tied head":
        return _case(TiedHead(), *_tokens(generator, 30, 7, 3, 7), "ce")
    if name == "padding embedding":
        tokens = torch.randint(0, 6, (30, 4), generator=generator)
        tokens[torch.rand(30, 4, generator=generator) < 0.33] = 0
        return _case(Padded(), tokens, torch.randn(30, 2, generator=generator), "mse")
    if name == "tied padding embedding":
        tokens, labels = _tokens(generator, 30, 7, 3, 7)
        tokens[:, 0] = 0
        return _case(TiedHead(padding_idx=0), tokens, labels, "ce")
    if name == "shared linears":
        return _case(SharedLinears(), *regression, "mse")
    if name == "keyword call":
        return _case(KeywordCall(), *regression, "mse")
    if name == "masked attention":
        return _case(MaskedAttention(), *_tokens(generator, 20, 5, 3, 5), "ce")
    if name in ("transformer", "tied transformer"):
        model = TinyTransformer(5, 3, 4, 2, 6, tied=name == "tied transformer")
        return _case(model, *_tokens(generator, 20, 5, 3, 5), "ce", {"position"})
    if name in ("gpt2", "tied gpt2 (default)"):
        left_out = {"language_model.transformer.wpe"}  # a position embedding: no sample dimension
        return _case(_gpt2(tied=name != "gpt2"), *_tokens(generator, 20, 6, 3, 6), "ce", left_out)
    if name == "gpt2 language model (the Trainer's loss)":
        from fact.features.losses import CausalLMLoss
        from fact.features.monitor_trainer import Logits

        tokens = torch.randint(0, 6, (20, 3), generator=generator)
        labels = tokens.clone()
        labels[:, 0] = -100
        labels[torch.rand(20, 3, generator=generator) < 0.3] = -100  # masked positions, a different count each
        model = Logits(_gpt2(tied=False).language_model)
        return _case(model, tokens, labels, CausalLMLoss(labels), {"model.transformer.wpe"})
    raise KeyError(name)
