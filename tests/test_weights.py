"""fact.features.weights: FACT and bFACT of every weight, against the theorem at critical points found by
Newton's method and against the per-position sums they stand for, in float64 on fresh seeds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fact.experiments.full_batch import FullBatchSchedule, train_full_batch
from fact.experiments.models import SmallCNN, TinyTransformer
from fact.features.losses import ce_per_sample, mse_per_sample
from fact.features.matrices import feature_matrices
from fact.features.metrics import relative_error
from fact.features.weights import matrix_views, weight_matrices
from tests.conftest import small_mlp
from tests.support.fact_checks import assert_fact_holds_for_every_weight

WEIGHT_DECAY = 1e-2
TRANSFORMER_DECAY = 3e-3  # at 1e-2 a third of the starts end at the trivial critical point


def tokens(seed: int, n: int = 12, vocabulary: int = 5, length: int = 3):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randint(0, vocabulary, (n, length), generator=generator)
    return X, torch.randint(0, vocabulary, (n,), generator=generator)


def images(seed: int, n: int = 10, side: int = 5, classes: int = 3):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, side * side, generator=generator, dtype=torch.float64)
    return X, torch.randint(0, classes, (n,), generator=generator)


def models(seed: int):
    """(name, model, inputs, targets, per-sample loss, named loss) of the architectures tested at critical points.

    Smooth activations, so that Newton's method converges to exact critical points.
    """
    torch.manual_seed(seed)
    mlp = small_mlp(seed)
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(16, 4, generator=generator, dtype=torch.float64)
    Y = torch.randn(16, 3, generator=generator, dtype=torch.float64)
    cnn = SmallCNN(side=5, n_classes=3, channels=(2, 3), activation=nn.Tanh).double()
    return [("mlp", mlp, X, Y, mse_per_sample, "mse"), ("cnn", cnn, *images(seed), ce_per_sample, "ce")]


@pytest.mark.parametrize("index", range(2), ids=["mlp", "cnn"])
def test_fact_and_bfact_hold_for_every_weight_at_a_critical_point(fresh_seed, index):
    name, model, X, Y, loss_fn, loss = models(fresh_seed)[index]
    schedule = FullBatchSchedule(
        weight_decay=WEIGHT_DECAY, lr=0.02, steps=1500, grad_tol=1e-11, lbfgs_rounds=2, newton_iterations=200
    )
    grad_norm = train_full_batch(model, X, Y, loss_fn, schedule, progress=False)[-1]["grad_norm"]
    assert grad_norm < 1e-9, f"seed={fresh_seed} {name}: Newton stopped at gradient norm {grad_norm:.1e}"
    assert_fact_holds_for_every_weight(model, X, Y, loss, WEIGHT_DECAY, f"seed={fresh_seed} {name}")


def critical_transformer(seed: int, tied: bool = False, layer_norm: bool = False):
    """A one-block transformer (token and position embeddings, attention, MLP, unembedding; biases on) at a
    critical point of the cross-entropy on (a + b) mod 5 with weight decay, found by Adam, L-BFGS and Newton.

    With ``layer_norm`` the block has its two pre-norm layer norms (scales and shifts trained) and frozen
    embeddings. A layer norm passes on only the direction of what feeds it, so weight decay can shrink the
    token and position embeddings under the first norm at little cost to the loss: trained with them, the
    embeddings kept shrinking and Newton's method stopped far from any critical point (6 of 6 seeds).
    With the embeddings frozen (random, as initialised) every other weight has critical points, where the
    gradients of attention's and the MLP's matrices pass through both norms. Saddle-free Newton reaches
    them more slowly than without norms (of 11 trial seeds, 9 within 600 iterations, 2 within 1,500),
    hence the longer schedule; most are saddles, where FACT holds as well.

    A start may end at the trivial critical point (every weight zero), where FACT holds as 0 = 0; then
    the next start is tried.
    """
    tokens = torch.cartesian_prod(torch.arange(5), torch.arange(5))
    labels = tokens.sum(1) % 5
    schedule = FullBatchSchedule(
        weight_decay=TRANSFORMER_DECAY,
        lr=0.02,
        steps=5000 if layer_norm else 1500,
        grad_tol=1e-11,
        lbfgs_rounds=5 if layer_norm else 2,
        newton_iterations=1500 if layer_norm else 200,
    )
    for start in range(3):
        torch.manual_seed(seed + start)
        model = TinyTransformer(5, 2, 4, 2, 8, tied=tied, activation=nn.GELU, layer_norm=layer_norm).double()
        frozen = [model.token.weight, model.position.weight] if layer_norm else []
        for weight in frozen:
            weight.requires_grad_(False)
        initial = [weight.clone() for weight in frozen]
        grad_norm = train_full_batch(model, tokens, labels, ce_per_sample, schedule, progress=False)[-1]["grad_norm"]
        assert all(torch.equal(weight, before) for weight, before in zip(frozen, initial)), "a frozen weight moved"
        trained = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
        if grad_norm < 1e-9 and all(p.norm() > 0.1 for p in trained):
            return model, tokens, labels
    pytest.fail(f"seed={seed}: no start reached a critical point with every trained weight nonzero")


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_fact_and_bfact_hold_for_every_weight_of_a_transformer_at_a_critical_point(fresh_seed, tied):
    model, tokens, labels = critical_transformer(fresh_seed, tied)
    checked = assert_fact_holds_for_every_weight(model, tokens, labels, "ce", TRANSFORMER_DECAY, f"seed={fresh_seed}")
    assert len(checked) == (8 if tied else 9)  # the tied matrix once, with the gradient of both its uses


def test_fact_and_bfact_hold_for_every_trained_weight_of_a_layer_normed_transformer(fresh_seed):
    model, tokens, labels = critical_transformer(fresh_seed, layer_norm=True)
    checked = assert_fact_holds_for_every_weight(model, tokens, labels, "ce", TRANSFORMER_DECAY, f"seed={fresh_seed}")
    assert checked == {
        "attention[q]",
        "attention[k]",
        "attention[v]",
        "attention.out_proj",
        "mlp_in",
        "mlp_out",
        "unembed",
    }  # the frozen embeddings are left out


def test_the_weights_are_named_as_the_hooked_pass_names_them():
    names = set(weight_matrices(TinyTransformer(5, 3, 4, 2, 6).double(), *tokens(0), "ce", WEIGHT_DECAY))
    assert names == {
        "token",
        "position",
        "attention[q]",
        "attention[k]",
        "attention[v]",
        "attention.out_proj",
        "mlp_in",
        "mlp_out",
        "unembed",
    }
    tied = set(matrix_views(TinyTransformer(5, 3, 4, 2, 6, tied=True)))
    assert "unembed" not in tied and "token" in tied  # one shared matrix, once
    views = matrix_views(SmallCNN(side=5, n_classes=3, channels=(2, 3)))
    assert set(views) == {"conv1", "conv2", "head"}
    parameter, view = views["conv2"]
    assert view(parameter).shape == (3, 2 * 3 * 3)  # out x (in * kernel area): the matrix acting on a patch
    parameter, view = matrix_views(TinyTransformer(5, 3, 4, 2, 6))["token"]
    assert view(parameter).shape == (4, 5)  # width x vocabulary: the matrix acting on a one-hot token


def test_linear_layers_agree_with_the_hooked_pass_of_fact_matrices(fresh_seed):
    """Away from a critical point too: W^T grad_W Lbar is the paper's sum over samples."""
    model = small_mlp(fresh_seed)
    generator = torch.Generator().manual_seed(fresh_seed)
    X = torch.randn(20, 4, generator=generator, dtype=torch.float64)
    Y = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    hooked = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, jacobian=False)
    weights = weight_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=7)
    for layer, matrices in hooked.items():
        assert relative_error(weights[layer].fact, matrices.fact) < 1e-12, f"seed={fresh_seed}"
        assert relative_error(weights[layer].bfact, matrices.bfact) < 1e-12, f"seed={fresh_seed}"


def test_a_convolution_is_the_matrix_acting_on_its_patches(fresh_seed):
    """FACT of a conv kernel = -(1/(n lambda)) sum_i sum_positions grad_patch loss_i patch^T."""
    model = SmallCNN(side=5, n_classes=3, channels=(2, 3)).double()
    torch.manual_seed(fresh_seed)
    X, Y = images(fresh_seed)
    inputs = []
    model.conv2.register_forward_hook(lambda module, args, output: inputs.append(args[0]))  # returns None
    model(X)
    h = inputs[0]
    patches = nn.functional.unfold(h, 3, padding=1, stride=2)  # (n, in*9, positions)
    patches = patches.detach().requires_grad_(True)
    z = model.conv2.weight.reshape(3, -1) @ patches  # (n, out, positions)
    rest = torch.relu(z + model.conv2.bias[:, None]).flatten(1)
    ce_per_sample(model.head(rest), Y).sum().backward()
    expected = -(patches.grad.transpose(1, 2).reshape(-1, 18).T @ patches.detach().transpose(1, 2).reshape(-1, 18)) / (
        len(X) * WEIGHT_DECAY
    )
    got = weight_matrices(model, X, Y, "ce", WEIGHT_DECAY)["conv2"].fact
    assert relative_error(got, expected) < 1e-12, f"seed={fresh_seed}"


class CrossAttention(nn.Module):
    """Attention whose query, key and value inputs are distinct tensors, so that each block's FACT
    can be checked against the gradient of its own input."""

    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(4, 2, batch_first=True)
        self.readout = nn.Linear(4, 3)

    def forward(self, parts: torch.Tensor) -> torch.Tensor:
        query, key, value = parts.unbind(1)
        return self.readout(self.attention(query, key, value, need_weights=False)[0].sum(1))


def test_attention_blocks_are_q_k_v_in_that_order(fresh_seed):
    torch.manual_seed(fresh_seed)
    model = CrossAttention().double()
    parts = torch.randn(6, 3, 5, 4, dtype=torch.float64, requires_grad=True)  # n, (q k v), tokens, width
    Y = torch.randn(6, 3, dtype=torch.float64)
    mse_per_sample(model(parts), Y).sum().backward()
    weights = weight_matrices(model, parts.detach(), Y, "mse", WEIGHT_DECAY)
    for index, block in enumerate("qkv"):
        gradient, inputs = parts.grad[:, index].reshape(-1, 4), parts.detach()[:, index].reshape(-1, 4)
        expected = -(gradient.T @ inputs) / (6 * WEIGHT_DECAY)
        got = weights[f"attention[{block}]"].fact
        assert relative_error(got, expected) < 1e-12, f"seed={fresh_seed} block {block}"


def test_an_embedding_is_the_matrix_acting_on_one_hot_tokens(fresh_seed):
    model = TinyTransformer(5, 3, 4, 2, 6).double()
    torch.manual_seed(fresh_seed)
    X, Y = tokens(fresh_seed)
    one_hot = nn.functional.one_hot(X, 5).double().requires_grad_(True)  # (n, length, vocabulary)
    embedded = one_hot @ model.token.weight  # z = W h with W = E^T
    # the hook replaces the embedding's output by the same values computed from one-hot inputs
    handle = model.token.register_forward_hook(lambda module, args, output: embedded)
    ce_per_sample(model(X), Y).sum().backward()
    handle.remove()
    expected = -(one_hot.grad.reshape(-1, 5).T @ one_hot.detach().reshape(-1, 5)) / (len(X) * WEIGHT_DECAY)
    got = weight_matrices(model, X, Y, "ce", WEIGHT_DECAY)["token"].fact
    assert relative_error(got, expected) < 1e-12, f"seed={fresh_seed}"


def test_bad_requests_are_named():
    model = small_mlp(0)
    X, Y = torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="weight_decay must be a finite number > 0"):
        weight_matrices(model, X, Y, "mse", 0.0)
    with pytest.raises(ValueError, match=r"no weight named \['9'\]; the model's weights are"):
        weight_matrices(model, X, Y, "mse", WEIGHT_DECAY, names=["9"])
    with pytest.raises(ValueError, match="FACT needs targets"):
        weight_matrices(model, X, None, "mse", WEIGHT_DECAY)
    model[0].weight.requires_grad_(False)
    assert "0" not in weight_matrices(model, X, Y, "mse", WEIGHT_DECAY)  # not trained: no critical point of it
    with pytest.raises(ValueError, match=r"\['0'\] do not require gradients"):
        weight_matrices(model, X, Y, "mse", WEIGHT_DECAY, names=["0"])
