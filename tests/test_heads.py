"""Attention head by head (fact.features.heads): each head's relations against per-position autograd through
that head alone, for nn.MultiheadAttention, GPT-2's c_attn and separate q_proj/k_proj/v_proj (a Llama with
keys and values shared between heads), and FACT of a head at a critical point."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from fact.features.losses import mse_per_sample
from fact.features.matrices import feature_matrices
from fact.features.metrics import relative_error
from fact.features.weights import weight_matrices
from tests.conftest import train_to_critical_point
from tests.support.references import positional_reference

WEIGHT_DECAY, SMALL_DECAY, LENGTH, WIDTH, HEADS = 1e-2, 1e-3, 3, 4, 2


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
        self.readout = nn.Linear(LENGTH * WIDTH, 2)

    def forward(self, x):
        return self.readout(torch.tanh(self.attention(x, x, x, need_weights=False)[0]).flatten(1))


def by_hand(model: SelfAttention, x: torch.Tensor, block: str, rows: slice, z: torch.Tensor) -> torch.Tensor:
    """The model's output for one sample (length x width) with the rows ``rows`` of ``block``'s product set to z:
    nn.MultiheadAttention written out, independent of fact's recomputation."""
    module = model.attention
    weights, biases = module.in_proj_weight.chunk(3), module.in_proj_bias.chunk(3)
    products = {name: x @ w.T for name, w in zip("qkv", weights)}
    products[block] = torch.cat([products[block][:, : rows.start], z, products[block][:, rows.stop :]], dim=1)
    q, k, v = ((products[name] + b).reshape(LENGTH, HEADS, -1).transpose(0, 1) for name, b in zip("qkv", biases))
    attended = ((q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])).softmax(-1) @ v).transpose(0, 1).reshape(LENGTH, -1)
    return model.readout(torch.tanh(module.out_proj(attended)).flatten())


def assert_every_head_matches_autograd(
    layers: dict, reference_of, names: list[str], heads: dict, context: str, tolerance: float = 1e-10
):
    """Every head of each named matrix against ``reference_of(name, rows, W_head)``'s relations."""
    for name in names:
        weight, count = layers[name].weight, heads[name]
        size = weight.shape[0] // count
        for head in range(count):
            rows = slice(head * size, (head + 1) * size)
            got = layers[f"{name}[head {head}]"]
            assert torch.equal(got.weight, weight[rows])
            for relation, expected in reference_of(name, rows, weight[rows]).items():
                error = relative_error(getattr(got, relation), expected)
                assert error < tolerance, f"{context} {name} {head} {relation}"


def model_and_data(model_class, seed: int, n: int = 5):
    """``model_class`` in float64, seeded, with ``n`` random samples and targets."""
    torch.manual_seed(seed)
    model = model_class().double()
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, LENGTH, WIDTH, generator=generator, dtype=torch.float64)
    return model, X, torch.randn(n, 2, generator=generator, dtype=torch.float64)


def test_each_head_of_multihead_attention_matches_autograd_through_that_head(fresh_seed):
    model, X, Y = model_and_data(SelfAttention, fresh_seed)
    layers = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, centre_agop=True, per_head=True)
    assert "attention.out_proj[head 0]" not in layers and "readout[head 0]" not in layers

    def reference_of(name, rows, W):
        block = name[-2]
        forward = lambda z, x: by_hand(model, x, block, rows, z)  # noqa: E731
        return positional_reference(model, SimpleNamespace(weight_matrix=W), lambda x: x, forward, X, Y, WEIGHT_DECAY)

    blocks = [f"attention[{block}]" for block in "qkv"]
    assert_every_head_matches_autograd(layers, reference_of, blocks, dict.fromkeys(blocks, HEADS), f"seed={fresh_seed}")


def hooked_reference(model, module, W, rows: slice, X, Y):
    """Per-position autograd through the output columns ``rows`` of ``module`` (whose output is its input times
    the block matrix, plus a bias): its input is read, and those columns replaced, by forward hooks."""
    bias = module.bias.detach()[rows] if module.bias is not None else 0

    def rows_of(x):
        seen = {}

        def read(_module, args, _out):  # returns None: the output stays the module's
            seen["h"] = args[0]

        handle = module.register_forward_hook(read)
        with torch.no_grad():
            model(x[None])
        handle.remove()
        return seen["h"][0].detach()

    def forward_from_z(z, x):
        def replace(_module, _args, out):
            return torch.cat([out[..., : rows.start], (z + bias)[None], out[..., rows.stop :]], dim=-1)

        handle = module.register_forward_hook(replace)
        try:
            return model(x[None])[0]
        finally:
            handle.remove()

    return positional_reference(model, SimpleNamespace(weight_matrix=W), rows_of, forward_from_z, X, Y, WEIGHT_DECAY)


class Projected(nn.Module):
    """Attention with separate q_proj, k_proj and v_proj, as most Hugging Face models write it."""

    num_heads = HEADS

    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(WIDTH, WIDTH) for _ in range(4))
        self.readout = nn.Linear(LENGTH * WIDTH, 2)

    def forward(self, x):
        q, k, v = (
            p(x).reshape(len(x), LENGTH, HEADS, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        attended = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1) @ v
        return self.readout(torch.tanh(self.o_proj(attended.transpose(1, 2).reshape(len(x), LENGTH, -1))).flatten(1))


def test_each_head_of_separate_q_k_v_projections_matches_autograd_through_that_head(fresh_seed):
    model, X, Y = model_and_data(Projected, fresh_seed)
    layers = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, centre_agop=True, per_head=True)
    names = [f"{block}_proj" for block in "qkv"]
    assert {name for name in layers if "[head" in name} == {f"{n}[head {h}]" for n in names for h in range(HEADS)}

    def reference_of(name, rows, W):
        return hooked_reference(model, getattr(model, name), W, rows, X, Y)

    assert_every_head_matches_autograd(layers, reference_of, names, dict.fromkeys(names, HEADS), f"seed={fresh_seed}")


# Llama's RMSNorm computes in float32 whatever the model's dtype, so a sample alone and in a batch differ at
# float32's precision
FAMILIES = {"gpt2": 1e-10, "llama": 1e-6}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_head_of_a_hugging_face_attention_matches_autograd_through_that_head(fresh_seed, family):
    transformers = pytest.importorskip("transformers")
    from tests.support.huggingface import PRIME, LastToken, gpt2, language_model, modular_addition

    if family == "gpt2":
        model = LastToken(gpt2(fresh_seed, layers=1))
        attention = model.language_model.transformer.h[0].attn
        prefix, blocks = "language_model.transformer.h.0.attn.c_attn", {"q": 0, "k": 1, "v": 2}
        names = {block: f"{prefix}[{block}]" for block in blocks}
        heads = dict.fromkeys(names.values(), attention.num_heads)
    else:
        sizes = {"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                 "num_key_value_heads": 1, "max_position_embeddings": 8}  # fmt: skip
        model = LastToken(language_model(transformers.LlamaForCausalLM, transformers.LlamaConfig, fresh_seed, **sizes))
        attention = model.language_model.model.layers[0].self_attn
        names = {block: f"language_model.model.layers.0.self_attn.{block}_proj" for block in "qkv"}
        heads = {names["q"]: 2, names["k"]: 1, names["v"]: 1}  # keys and values shared by the two query heads
    tokens, answers = modular_addition()
    tokens, targets = tokens[:12], nn.functional.one_hot(answers[:12], PRIME + 1).double()
    layers = feature_matrices(model, tokens, targets, "mse", WEIGHT_DECAY, centre_agop=True, per_head=True)
    assert {name for name in layers if "[head" in name} == {
        f"{name}[head {head}]" for name, count in heads.items() for head in range(count)
    }

    def reference_of(name, rows, W):
        block = next(block for block, full in names.items() if full == name)
        if family == "gpt2":  # c_attn's output holds q, k and v side by side
            module, width = attention.c_attn, attention.embed_dim
            rows = slice(blocks[block] * width + rows.start, blocks[block] * width + rows.stop)
        else:
            module = getattr(attention, f"{block}_proj")
        return hooked_reference(model, module, W, rows, tokens, targets)

    context = f"seed={fresh_seed} {family}"
    assert_every_head_matches_autograd(layers, reference_of, list(heads), heads, context, FAMILIES[family])
    assert_the_two_routes_agree(layers, weight_matrices(model, tokens, targets, "mse", WEIGHT_DECAY, per_head=True),
                                context, FAMILIES[family])  # fmt: skip


def test_fact_of_each_head_is_its_block_of_the_weights_at_a_critical_point(fresh_seed):
    torch.manual_seed(fresh_seed)
    teacher, model = SelfAttention().double(), SelfAttention().double()
    with torch.no_grad():  # sharp attention in the targets: the student's q and k cannot decay to 0
        teacher.attention.in_proj_weight.mul_(3)
    generator = torch.Generator().manual_seed(fresh_seed)
    X = torch.randn(10, LENGTH, WIDTH, generator=generator, dtype=torch.float64)
    Y = teacher(X).detach()
    model.load_state_dict(teacher.state_dict())  # Newton from the teacher: the critical point near it, not at q = 0
    grad_norm = train_to_critical_point(model, X, Y, mse_per_sample, SMALL_DECAY)
    assert grad_norm < 1e-9, f"seed={fresh_seed}: Newton stopped at gradient norm {grad_norm:.1e}"
    layers = feature_matrices(model, X, Y, "mse", SMALL_DECAY, jacobian=False, per_head=True)
    alive = []
    for block in "qkv":
        whole = layers[f"attention[{block}]"]
        for head in range(HEADS):
            layer, context = layers[f"attention[{block}][head {head}]"], f"seed={fresh_seed} {block} {head}"
            if layer.weight.norm() > 1e-6 * whole.weight.norm():
                alive.append((block, head))
                assert layer.stationarity_error < 1e-6, context
                assert relative_error(layer.fact, layer.wtw) < 1e-6, context
            else:  # a head's blocks may decay to 0 (q and k together: uniform attention): FACT is 0 there too
                assert layer.fact.norm() <= 1e-9 * whole.fact.norm() + 1e-15, context
    assert any(block == "v" for block, _ in alive), f"seed={fresh_seed}: every head decayed"


def test_per_head_where_no_attention_has_heads_is_refused():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="per_head=True, but none of the matrices is an attention q, k or v"):
        feature_matrices(model, torch.randn(5, 3), per_head=True)


def assert_the_two_routes_agree(hooked: dict, weights: dict, context: str, tolerance: float) -> None:
    """FACT, bFACT and the stationarity of every head: the hooked pass's against the gradient of the mean loss."""
    heads = [name for name in hooked if "[head" in name]
    assert heads and set(heads) <= set(weights), context
    for name in heads:
        assert relative_error(hooked[name].fact, weights[name].fact) < tolerance, f"{context} {name}"
        assert relative_error(hooked[name].bfact, weights[name].bfact) < tolerance, f"{context} {name}"
        assert abs(hooked[name].stationarity_error - weights[name].stationarity_error) < tolerance, f"{context} {name}"


@pytest.mark.parametrize("model_class", [SelfAttention, Projected])
def test_the_two_routes_agree_on_every_head(fresh_seed, model_class):
    model, X, Y = model_and_data(model_class, fresh_seed)
    hooked = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, jacobian=False, per_head=True)
    weights = weight_matrices(model, X, Y, "mse", WEIGHT_DECAY, per_head=True)
    assert len([name for name in hooked if "[head" in name]) == 3 * HEADS
    assert_the_two_routes_agree(hooked, weights, f"seed={fresh_seed}", 1e-10)
    with pytest.raises(ValueError, match="per_head=True, but none of the matrices"):
        weight_matrices(model.readout, X.flatten(1), Y, "mse", WEIGHT_DECAY, per_head=True)


def test_the_monitor_records_every_head_with_its_matrixs_tau(fresh_seed):
    from fact.features.metrics import pearson
    from fact.features.monitor import Monitor

    model, X, Y = model_and_data(SelfAttention, fresh_seed, n=6)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=WEIGHT_DECAY)
    monitor = Monitor(model, X, Y, "mse", every=3, nfa=True, agop_probes=None, per_head=True)
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(X), Y).backward()
        optimizer.step()
        monitor.step(optimizer)
    table = monitor.table.set_index(["layer", "relation"])
    layers = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, per_head=True)
    for head in range(HEADS):
        name = f"attention[k][head {head}]"
        assert table.loc[(name, "fact")].tau == table.loc[("attention[k]", "fact")].tau > 0
        assert table.loc[(name, "fact")].pearson == pytest.approx(pearson(layers[name].wtw, layers[name].fact))
        nfa = table.loc[(name, "nfa")]
        assert nfa.pearson == pytest.approx(pearson(layers[name].wtw, layers[name].agop_power(0.5)), rel=1e-9)
    with pytest.raises(ValueError, match="per_head=True, but none of the matrices"):  # before any training
        Monitor(model, X, Y, "mse", names=["readout"], per_head=True)
    judged = monitor.summary().table.layer  # the summary judges weights; their heads are in the table
    assert list(judged) == ["attention[q]", "attention[k]", "attention[v]", "attention.out_proj", "readout"]
