"""Hugging Face transformers' models, built from small configs (nothing downloaded): GPT-2's Conv1D and its
fused q/k/v seen as three matrices, against per-sample, per-position autograd, against fact.features.weights
and against the theorem at a critical point (weights from tests/fixtures); Llama's separate projections seen
with nothing added."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fact.features.layer_views import model_matrices  # noqa: E402
from fact.features.losses import ce_per_sample  # noqa: E402
from fact.features.matrices import feature_matrices  # noqa: E402
from fact.features.metrics import relative_error  # noqa: E402
from fact.features.weights import weight_matrices  # noqa: E402
from tests.support.fact_checks import assert_fact_holds_for_every_weight  # noqa: E402
from tests.support.huggingface import WIDTH, LastToken, gpt2, language_model, modular_addition, transformers

WEIGHT_DECAY = 1e-2
FIXTURES = Path(__file__).parent / "fixtures"


def test_gpt2s_c_attn_is_seen_as_q_k_and_v(fresh_seed):
    model = gpt2(fresh_seed, layers=1)
    matrices = model_matrices(model)
    attention = model.transformer.h[0].attn
    assert [name for name in matrices if ".attn." in name] == [
        "transformer.h.0.attn.c_attn[q]",
        "transformer.h.0.attn.c_attn[k]",
        "transformer.h.0.attn.c_attn[v]",
        "transformer.h.0.attn.c_proj",
    ]
    for index, block in enumerate("qkv"):  # Conv1D holds W transposed, the blocks side by side
        expected = attention.c_attn.weight[:, index * WIDTH : (index + 1) * WIDTH].T
        assert torch.equal(matrices[f"transformer.h.0.attn.c_attn[{block}]"].weight, expected)
    assert torch.equal(matrices["transformer.h.0.mlp.c_fc"].weight, model.transformer.h[0].mlp.c_fc.weight.T)


def test_the_hooked_pass_agrees_with_the_weights_for_every_gpt2_matrix(fresh_seed):
    """W^T grad_W Lbar is the per-position FACT sum at any weights: the recomputed q, k, v products must
    leave the model's output and gradients as they are."""
    model = LastToken(gpt2(fresh_seed))
    tokens, labels = modular_addition()
    hooked = feature_matrices(model, tokens, labels, "ce", WEIGHT_DECAY, jacobian=False)
    direct = weight_matrices(model, tokens, labels, "ce", WEIGHT_DECAY)
    assert set(direct) - set(hooked) == {"language_model.transformer.wpe"}  # no sample dimension: left out
    for name, result in hooked.items():
        assert relative_error(result.fact, direct[name].fact) < 1e-12, f"seed={fresh_seed} {name}"
        assert relative_error(result.bfact, direct[name].bfact) < 1e-12, f"seed={fresh_seed} {name}"
        assert abs(result.stationarity_error - direct[name].stationarity_error) < 1e-10, name


def gpt2_at_a_critical_point() -> tuple[LastToken, torch.Tensor, torch.Tensor, float]:
    """(model, tokens, targets, lambda): the GPT-2 of tests/fixtures/make_gpt2_critical_point.py, 2 layers
    of width 32, at an exact critical point of the mean squared error on (a + b) mod 11, its targets the
    one-hot sums nudged by at most 0.04, its embeddings, layer norms and biases frozen. The point lies on a
    subspace the gradient keeps (that file says which); every entry of its nine matrices is trained."""
    saved = torch.load(FIXTURES / "gpt2_critical_point.pt", weights_only=True)
    config = transformers.GPT2Config(**saved["config"])
    config._attn_implementation = "eager"
    model = transformers.GPT2LMHeadModel(config).double()
    model.load_state_dict(saved["parameters"])
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in saved["trained"])
    return LastToken(model), saved["tokens"], saved["targets"], saved["weight_decay"]


def test_fact_and_bfact_hold_for_every_trained_gpt2_matrix_at_a_critical_point():
    model, tokens, targets, weight_decay = gpt2_at_a_critical_point()
    checked = assert_fact_holds_for_every_weight(model, tokens, targets, "mse", weight_decay, "gpt2")
    blocks = [f"language_model.transformer.h.{layer}." for layer in range(2)]
    matrices = ["attn.c_attn[q]", "attn.c_attn[k]", "attn.c_attn[v]", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]
    assert checked == {block + matrix for block in blocks for matrix in matrices} | {"language_model.lm_head"}


def block_reference(model: LastToken, block: str, tokens, labels) -> dict[str, torch.Tensor]:
    """AGOP and eNFA of one of layer 0's q, k, v blocks by plain autograd: c_attn's output recomputed with
    the block's input as a leaf of its own, then the gradient of every output and of the summed loss with
    respect to it, at every sample and position (samples do not interact)."""
    c_attn = model.language_model.transformer.h[0].attn.c_attn
    index = "qkv".index(block)
    columns = slice(index * WIDTH, (index + 1) * WIDTH)
    leaves = []

    def own_input_for_the_block(module, args, output):
        h = args[0].detach().requires_grad_()
        leaves.append(h)
        product = args[0] @ module.weight + module.bias
        return torch.cat([product[..., : columns.start], h @ module.weight[:, columns] + module.bias[columns],
                          product[..., columns.stop :]], dim=-1)  # fmt: skip

    handle = c_attn.register_forward_hook(own_input_for_the_block)
    try:
        outputs = model(tokens)
    finally:
        handle.remove()
    (h,) = leaves
    n, d_in = len(tokens), h.shape[-1]
    per_output = [torch.autograd.grad(outputs[:, o].sum(), h, retain_graph=True)[0] for o in range(outputs.shape[1])]
    rows = torch.stack(per_output).reshape(-1, d_in)  # (output, sample, position) x d_in
    loss_rows = torch.autograd.grad(ce_per_sample(outputs, labels).sum(), h)[0].reshape(-1, d_in)
    return {"agop": rows.T @ rows / n, "enfa": loss_rows.T @ loss_rows / n}


@pytest.mark.parametrize("block", "qkv")
def test_nfa_and_enfa_of_the_q_k_v_blocks_match_per_position_autograd(fresh_seed, block):
    model = LastToken(gpt2(fresh_seed, layers=1)).eval()
    tokens, labels = modular_addition()
    name = f"language_model.transformer.h.0.attn.c_attn[{block}]"
    result = feature_matrices(model, tokens, labels, "ce", layers=[name], batch_size=20)[name]
    reference = block_reference(model, block, tokens, labels)
    assert relative_error(result.agop, reference["agop"]) < 1e-10, f"seed={fresh_seed}"
    assert relative_error(result.enfa, reference["enfa"]) < 1e-10, f"seed={fresh_seed}"
    other = "qkv"[("qkv".index(block) + 1) % 3]
    assert relative_error(result.agop, block_reference(model, other, tokens, labels)["agop"]) > 1e-2


def test_llama_style_projections_need_nothing_new(fresh_seed):
    llama = language_model(
        transformers.LlamaForCausalLM,
        transformers.LlamaConfig,
        fresh_seed,
        hidden_size=WIDTH,
        intermediate_size=WIDTH,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=3,
        pad_token_id=None,
    )
    model = LastToken(llama)
    tokens, labels = modular_addition()
    hooked = feature_matrices(model, tokens, labels, "ce", WEIGHT_DECAY, jacobian=False)
    layer = "language_model.model.layers.0"
    assert {f"{layer}.self_attn.{p}_proj" for p in "qkvo"} <= set(hooked)  # plain nn.Linear layers
    assert {f"{layer}.mlp.{p}_proj" for p in ("gate", "up", "down")} <= set(hooked)
    direct = weight_matrices(model, tokens, labels, "ce", WEIGHT_DECAY)
    assert set(direct) == set(hooked)
    for name, result in hooked.items():
        assert relative_error(result.fact, direct[name].fact) < 1e-12, f"seed={fresh_seed} {name}"
