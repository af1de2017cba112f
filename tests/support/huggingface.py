"""Small Hugging Face language models built from configs (nothing downloaded), and modular addition as their task."""

from __future__ import annotations

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")


WIDTH, PRIME = 32, 7  # GPT-2 of width 32 on (a + b) mod 7: tokens a, b and "=", vocabulary 8


class LastToken(nn.Module):
    """A causal language model as a classifier of its last position: logits (samples, vocabulary)."""

    def __init__(self, language_model: nn.Module):
        super().__init__()
        self.language_model = language_model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.language_model(tokens).logits[:, -1]


def language_model(model_class, config_class, seed: int, **sizes) -> nn.Module:
    """A causal language model of the modular-addition vocabulary with random weights, in float64: no special
    tokens (the small vocabulary leaves them out), untied unembedding, eager attention."""
    transformers.logging.set_verbosity_error()
    config = config_class(
        vocab_size=PRIME + 1, tie_word_embeddings=False, bos_token_id=None, eos_token_id=None, **sizes
    )
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return model_class(config).double()


def gpt2(seed: int, layers: int = 2) -> nn.Module:
    """A GPT-2 language model, 2 heads of width 16, no dropout."""
    return language_model(
        transformers.GPT2LMHeadModel,
        transformers.GPT2Config,
        seed,
        n_positions=3,
        n_embd=WIDTH,
        n_layer=layers,
        n_head=2,
        n_inner=WIDTH,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )


def modular_addition() -> tuple[torch.Tensor, torch.Tensor]:
    """Every (a, b, =) with a, b < PRIME, and a + b mod PRIME."""
    pairs = torch.cartesian_prod(torch.arange(PRIME), torch.arange(PRIME))
    tokens = torch.cat([pairs, torch.full((len(pairs), 1), PRIME)], dim=1)
    return tokens, pairs.sum(1) % PRIME
