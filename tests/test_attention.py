"""fact.features.attention: nn.MultiheadAttention recomputed one product at a time, and the relations of its
q, k, v and output matrices against per-sample, per-position autograd through PyTorch's own module."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from fact.experiments.models import TinyTransformer
from fact.features import attention
from fact.features.matrices import feature_matrices
from fact.features.metrics import relative_error
from fact.features.weights import weight_matrices
from tests.support.references import positional_reference

WEIGHT_DECAY = 1e-2
WIDTH, LENGTH = 4, 3


def masks(seed: int, n: int) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    causal = torch.ones(LENGTH, LENGTH, dtype=torch.bool).triu(1)
    padding = torch.zeros(n, LENGTH, dtype=torch.bool)
    padding[::2, 0] = True
    return [
        {},
        {"attn_mask": causal},
        {"attn_mask": causal, "is_causal": True},
        {"attn_mask": torch.randn(LENGTH, LENGTH, generator=generator, dtype=torch.float64)},
        {"attn_mask": torch.randn(n * 2, LENGTH, LENGTH, generator=generator, dtype=torch.float64)},
        {"key_padding_mask": padding},
        {"need_weights": True, "average_attn_weights": False},
    ]


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kdim", [None, 3])
def test_the_recomputed_output_is_the_modules(fresh_seed, batch_first, bias, kdim):
    torch.manual_seed(fresh_seed)
    module = nn.MultiheadAttention(WIDTH, 2, bias=bias, batch_first=batch_first, kdim=kdim, vdim=kdim).double().eval()
    n = 5
    shape = (n, LENGTH) if batch_first else (LENGTH, n)
    query = torch.randn(*shape, WIDTH, dtype=torch.float64)
    key = torch.randn(*shape, kdim or WIDTH, dtype=torch.float64)
    value = torch.randn(*shape, kdim or WIDTH, dtype=torch.float64)
    seen = []
    for options in masks(fresh_seed, n):
        expected = module(query, key, value, **options)
        got = attention.recompute(module, (query, key, value), options, lambda block, h, z: seen.append(block) or z)
        assert torch.allclose(got[0], expected[0], atol=1e-12), f"seed={fresh_seed} {options}"
        if expected[1] is not None:
            assert torch.allclose(got[1], expected[1], atol=1e-12), f"seed={fresh_seed} {options}"
    assert seen[:4] == ["q", "k", "v", "out"]


class CrossAttention(nn.Module):
    """Attention whose query, key and value are distinct inputs, each used by its block alone, so
    that a block's z can be set through its input: h = z W^-T (W square and invertible)."""

    def __init__(self, batch_first: bool):
        super().__init__()
        self.batch_first = batch_first
        self.attention = nn.MultiheadAttention(WIDTH, 2, batch_first=batch_first)
        self.readout = nn.Linear(LENGTH * WIDTH, 2)
        self.register_buffer("mask", torch.randn(LENGTH, LENGTH))

    def attend(self, query, key, value):
        if not self.batch_first:
            query, key, value = (part.transpose(0, 1) for part in (query, key, value))
        output = self.attention(query, key, value, attn_mask=self.mask, need_weights=False)[0]
        return output if self.batch_first else output.transpose(0, 1)

    def forward(self, parts: torch.Tensor) -> torch.Tensor:  # parts: (n, q k v, length, width)
        return self.readout(torch.tanh(self.attend(*parts.unbind(1))).flatten(1))


@pytest.mark.parametrize("batch_first", [True, False])
def test_every_relation_of_q_k_v_and_out_matches_per_position_autograd(fresh_seed, batch_first):
    torch.manual_seed(fresh_seed)
    model = CrossAttention(batch_first).double()
    generator = torch.Generator().manual_seed(fresh_seed)
    X = torch.randn(6, 3, LENGTH, WIDTH, generator=generator, dtype=torch.float64)
    Y = torch.randn(6, 2, generator=generator, dtype=torch.float64)
    layers = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=4, centre_agop=True)
    assert set(layers) >= {"attention[q]", "attention[k]", "attention[v]", "attention.out_proj"}
    module = model.attention

    for index, block in enumerate("qkv"):
        W, bias = attention._projection(module, block)
        W = W.detach()

        def forward_from_z(z, x, index=index, W=W):  # the block's input that gives z, through the real module
            parts = x.clone()
            parts[index] = z @ torch.linalg.inv(W).T
            return model(parts[None])[0]

        reference = positional_reference(
            model, SimpleNamespace(weight_matrix=W), lambda x, i=index: x[i], forward_from_z, X, Y, WEIGHT_DECAY
        )
        for name, expected in reference.items():
            got = getattr(layers[f"attention[{block}]"], name)
            assert relative_error(got, expected) < 1e-10, f"seed={fresh_seed} {block} {name}"

    # the output matrix: its input is the heads' output, recovered from the module's output
    W_out, b_out = module.out_proj.weight.detach(), module.out_proj.bias.detach()

    def heads_output(x):
        return (model.attend(*x[None].unbind(1))[0].detach() - b_out) @ torch.linalg.inv(W_out).T

    def forward_from_out(z, x):
        return model.readout(torch.tanh(z + b_out).flatten()[None])[0]

    reference = positional_reference(
        model, SimpleNamespace(weight_matrix=W_out), heads_output, forward_from_out, X, Y, WEIGHT_DECAY
    )
    for name, expected in reference.items():
        assert relative_error(getattr(layers["attention.out_proj"], name), expected) < 1e-10, (
            f"seed={fresh_seed} out {name}"
        )


@pytest.mark.parametrize("tied", [False, True])
def test_fact_of_attention_blocks_is_fact_weights(fresh_seed, tied):
    """The hooked pass and the gradient of the mean loss give the same FACT and bFACT for every weight."""
    torch.manual_seed(fresh_seed)
    model = TinyTransformer(7, 4, 8, 2, 16, tied=tied).double()
    generator = torch.Generator().manual_seed(fresh_seed)
    X, Y = torch.randint(0, 7, (30, 4), generator=generator), torch.randint(0, 7, (30,), generator=generator)
    hooked = feature_matrices(model, X, Y, "ce", WEIGHT_DECAY, batch_size=11, jacobian=False)
    weights = weight_matrices(model, X, Y, "ce", WEIGHT_DECAY)
    layers = ["attention[q]", "attention[k]", "attention[v]", "attention.out_proj", "mlp_in", "mlp_out", "token"]
    for layer in layers:  # one name for one matrix in both; a tied matrix's gradient has both its uses
        assert relative_error(hooked[layer].fact, weights[layer].fact) < 1e-12, f"seed={fresh_seed} {layer}"
        assert relative_error(hooked[layer].bfact, weights[layer].bfact) < 1e-12, f"seed={fresh_seed} {layer}"


def test_an_attention_module_stands_for_its_four_matrices_and_unsupported_options_are_named():
    model = TinyTransformer(5, 3, 4, 2, 6).double()
    tokens = torch.randint(0, 5, (4, 3))
    layers = feature_matrices(model, tokens, layers=model.attention)
    assert set(layers) == {"attention[q]", "attention[k]", "attention[v]", "attention.out_proj"}
    model.attention = nn.MultiheadAttention(4, 2, batch_first=True, add_bias_kv=True).double()
    with pytest.raises(ValueError, match="add_bias_kv or add_zero_attn"):
        feature_matrices(model, tokens, layers=["attention[q]"])
