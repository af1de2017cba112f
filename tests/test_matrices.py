"""fact.features.matrices against the theorem itself and against an independent autograd computation.

Everything runs in float64 on fresh random inputs (the seed is in every failure message).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap

from fact.features import matrices
from fact.features.linalg import sym_power
from fact.features.losses import ce_per_sample, mse_per_sample
from fact.features.matrices import feature_matrices
from fact.features.metrics import relative_error
from tests.conftest import small_mlp, train_to_critical_point
from tests.support.references import positional_reference

WEIGHT_DECAY = 1e-2


def regression_data(seed: int, n: int = 24, d: int = 4, c: int = 3):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator, dtype=torch.float64)
    Y = torch.randn(n, c, generator=generator, dtype=torch.float64)
    return X, Y


@pytest.fixture
def critical_mlp(fresh_seed):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed)
    grad_norm = train_to_critical_point(model, X, Y, mse_per_sample, WEIGHT_DECAY)
    assert grad_norm < 1e-7, f"seed={fresh_seed}: L-BFGS stopped at gradient norm {grad_norm:.2e}"
    return model, X, Y, fresh_seed


# ---------------------------------------------------------------- the theorem at a critical point


def test_fact_and_bfact_hold_at_a_critical_point(critical_mlp):
    model, X, Y, seed = critical_mlp
    result = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)
    assert set(result) == {"0", "2", "4"}
    for name, layer in result.items():
        assert relative_error(layer.fact, layer.wtw) < 1e-4, f"seed={seed} layer {name}"
        assert relative_error(layer.fact_t, layer.wtw) < 1e-4, f"seed={seed} layer {name}"
        assert relative_error(layer.fact_sym, layer.wtw) < 1e-4, f"seed={seed} layer {name}"
        assert relative_error(layer.fact_sqrt, layer.wtw) < 1e-4, f"seed={seed} layer {name}"
        assert relative_error(layer.bfact, layer.wwt) < 1e-4, f"seed={seed} layer {name}"
        assert relative_error(layer.bfact_t, layer.wwt) < 1e-4, f"seed={seed} layer {name}"
        assert layer.stationarity_error < 1e-6, f"seed={seed} layer {name}"


def test_a_wrong_sign_or_constant_is_detected(critical_mlp):
    """The tolerance above is tight enough that a flipped sign or a factor 2 fails it."""
    model, X, Y, seed = critical_mlp
    for layer in feature_matrices(model, X, Y, "mse", WEIGHT_DECAY).values():
        assert relative_error(-layer.fact, layer.wtw) > 1.9, f"seed={seed}"
        assert relative_error(layer.fact / 2, layer.wtw) > 0.4, f"seed={seed}"
        # the 1/(2 n lambda) constant of the lambda ||theta||^2 convention is also wrong here
        wrong = feature_matrices(model, X, Y, "mse", 2 * WEIGHT_DECAY)[layer.name]
        assert relative_error(wrong.fact, layer.wtw) > 0.4, f"seed={seed}"


def test_the_pass_gives_each_weights_stationarity_as_fact_weights_does(fresh_seed):
    from fact.features.weights import weight_matrices

    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed, n=37)
    layers = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=10, jacobian=False)
    weights = weight_matrices(model, X, Y, "mse", WEIGHT_DECAY)
    for name, layer in layers.items():
        reference = weights[name].stationarity_error
        assert reference > 0.1, f"seed={fresh_seed}: an untrained network is far from a critical point"
        assert abs(layer.stationarity_error - reference) < 1e-12 * reference, f"seed={fresh_seed} layer {name}"
        # the gradient of the mean loss is G / n: G itself, or G / (n lambda), is another number
        G, lam = layer.loss_grad_input, WEIGHT_DECAY
        for wrong in (G, G / (layer.n * lam)):
            assert abs(float((wrong + lam * layer.weight).norm() / (lam * layer.weight.norm())) - reference) > 1e-3
        # every agreement record carries it; without targets there is none
        assert {record["stationarity_error"] for record in layer.agreement()} == {layer.stationarity_error}
    without_targets = feature_matrices(model, X, batch_size=10)["0"].agreement()
    assert all(record["stationarity_error"] != record["stationarity_error"] for record in without_targets)  # NaN


def test_fact_fails_away_from_a_critical_point(fresh_seed):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed)
    for layer in feature_matrices(model, X, Y, "mse", WEIGHT_DECAY).values():
        assert relative_error(layer.fact, layer.wtw) > 0.1, f"seed={fresh_seed}"


def test_fact_holds_for_cross_entropy(fresh_seed):
    model = small_mlp(fresh_seed)
    generator = torch.Generator().manual_seed(fresh_seed)
    X = torch.randn(30, 4, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (30,), generator=generator)
    grad_norm = train_to_critical_point(model, X, labels, ce_per_sample, WEIGHT_DECAY)
    assert grad_norm < 1e-7, f"seed={fresh_seed}"
    for name, layer in feature_matrices(model, X, labels, "ce", WEIGHT_DECAY).items():
        assert relative_error(layer.fact, layer.wtw) < 1e-4, f"seed={fresh_seed} layer {name}"
        assert relative_error(layer.bfact, layer.wwt) < 1e-4, f"seed={fresh_seed} layer {name}"


def test_fact_sums_over_every_use_of_a_shared_weight(fresh_seed):
    """A layer applied twice: its stationarity condition sums both applications."""
    torch.manual_seed(fresh_seed)

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(4, 4)
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(torch.tanh(self.inner(torch.tanh(self.inner(x)))))

    model = Shared().double()
    X, Y = regression_data(fresh_seed, c=2)
    assert train_to_critical_point(model, X, Y, mse_per_sample, WEIGHT_DECAY) < 1e-7, f"seed={fresh_seed}"
    layer = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)["inner"]
    assert relative_error(layer.fact, layer.wtw) < 1e-4, f"seed={fresh_seed}"


# ---------------------------------------------------------------- against independent autograd


def per_sample_reference(model: nn.Sequential, index: int, X, Y, weight_decay):
    """Every relation of layer ``model[index]`` by per-sample autograd through the network tail."""
    head, tail = model[:index], model[index:]
    after = model[index + 1 :]
    linear = model[index]
    W = linear.weight.detach()
    H = head(X).detach()
    Z = H @ W.T
    bias = linear.bias.detach() if linear.bias is not None else torch.zeros(W.shape[0], dtype=W.dtype)

    def f_of_h(h):
        return tail(h[None])[0]

    def f_of_z(z):
        return after((z + bias)[None])[0]

    def loss_of_h(h, y):
        return mse_per_sample(tail(h[None]), y[None])[0]

    def loss_of_z(z, y):
        return mse_per_sample(after((z + bias)[None]), y[None])[0]

    J_h = vmap(jacrev(f_of_h))(H)  # (n, c, d_in)
    J_z = vmap(jacrev(f_of_z))(Z)  # (n, c, d_out)
    g_h = vmap(torch.func.grad(loss_of_h))(H, Y)  # (n, d_in)
    g_z = vmap(torch.func.grad(loss_of_z))(Z, Y)  # (n, d_out)
    n = len(X)
    return {
        "fact": -(g_h.T @ H) / (n * weight_decay),
        "bfact": -(g_z.T @ Z) / (n * weight_decay),
        "agop": torch.einsum("nci,ncj->ij", J_h, J_h) / n,
        "backward_agop": torch.einsum("nci,ncj->ij", J_z, J_z) / n,
        "enfa": g_h.T @ g_h / n,
        "backward_enfa": g_z.T @ g_z / n,
    }


@pytest.mark.parametrize("index", [0, 2, 4])
def test_every_relation_matches_per_sample_autograd(fresh_seed, index):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed)
    reference = per_sample_reference(model, index, X, Y, WEIGHT_DECAY)
    layer = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, layers=str(index))[str(index)]
    for name, expected in reference.items():
        assert relative_error(getattr(layer, name), expected) < 1e-12, f"seed={fresh_seed} {name}"


def test_single_matrix_shortcuts_agree_with_the_joint_pass(fresh_seed):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed)
    joint = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)["2"]
    layer = model[2]
    # The shortcuts without a Jacobian take another (equally exact) backward path: compare
    # in Frobenius norm, since single near-zero entries differ by rounding.
    pairs = [
        (matrices.fact(model, layer, X, Y, "mse", WEIGHT_DECAY), joint.fact),
        (matrices.bfact(model, "2", X, Y, "mse", WEIGHT_DECAY), joint.bfact),
        (matrices.agop(model, layer, X, power=0.5), joint.agop_power(0.5)),
        (matrices.enfa(model, layer, X, Y, "mse"), joint.enfa),
        (matrices.backward_agop(model, layer, X), joint.backward_agop),
        (matrices.backward_enfa(model, layer, X, Y, "mse"), joint.backward_enfa),
    ]
    for shortcut, reference in pairs:
        assert relative_error(shortcut, reference) < 1e-12, f"seed={fresh_seed}"


def test_agop_power_is_a_matrix_power(fresh_seed):
    model = small_mlp(fresh_seed)
    X, _ = regression_data(fresh_seed)
    layer = feature_matrices(model, X, layers="0")["0"]
    root = layer.agop_power(0.5)
    assert relative_error(root @ root, layer.agop) < 1e-10
    assert torch.allclose(root, root.T)


def test_custom_loss_callable_matches_the_named_loss(fresh_seed):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed)
    named = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)
    custom = feature_matrices(model, X, Y, lambda out, y: ((out - y) ** 2).mean(dim=1), WEIGHT_DECAY)
    for name in named:
        assert torch.allclose(named[name].fact, custom[name].fact, rtol=1e-13, atol=0)


# ---------------------------------------------------------------- batching, loaders, devices


def test_batching_and_data_loaders_do_not_change_the_result(fresh_seed):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed, n=37)
    whole = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=None)
    batched = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=5)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=8)
    loaded = feature_matrices(model, loader, loss="mse", weight_decay=WEIGHT_DECAY)
    for name, reference in whole.items():
        for other in (batched[name], loaded[name]):
            assert other.n == 37
            for attribute in ("fact", "bfact", "agop", "enfa", "backward_agop", "backward_enfa"):
                assert relative_error(getattr(other, attribute), getattr(reference, attribute)) < 1e-13


def test_frozen_parameters_and_grad_fields_are_left_alone(fresh_seed):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed)
    reference = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    frozen = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)
    for name in reference:
        assert relative_error(frozen[name].fact, reference[name].fact) < 1e-14
        assert relative_error(frozen[name].agop, reference[name].agop) < 1e-14
    assert all(p.grad is None for p in model.parameters())


def test_float32_models_give_float64_matrices_close_to_float64_ones(fresh_seed):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed)
    reference = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)
    single = feature_matrices(model.float(), X.float(), Y.float(), "mse", WEIGHT_DECAY)
    for name in reference:
        assert single[name].fact.dtype == torch.float64
        assert relative_error(single[name].fact, reference[name].fact) < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu(fresh_seed):
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed, n=50)
    on_cpu = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=16)
    on_gpu = feature_matrices(model.cuda(), X.cuda(), Y.cuda(), "mse", WEIGHT_DECAY, batch_size=16)
    for name in on_cpu:
        for attribute in ("fact", "bfact", "agop", "enfa"):
            gpu_value = getattr(on_gpu[name], attribute)
            assert gpu_value.is_cuda
            assert relative_error(gpu_value.cpu(), getattr(on_cpu[name], attribute)) < 1e-10


# ---------------------------------------------------------------- bad input


def test_unknown_layer_names_the_available_ones():
    model = small_mlp(0)
    X, Y = regression_data(0)
    with pytest.raises(ValueError, match=r"unknown layer 'fc9'.*\['0', '2', '4'\]"):
        feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, layers="fc9")
    with pytest.raises(ValueError, match="not a layer of this model with a known input"):
        matrices.fact(model, nn.Linear(4, 7), X, Y, "mse", WEIGHT_DECAY)
    with pytest.raises(ValueError, match="register yours with fact.features.layer_views.register_view"):
        feature_matrices(nn.Sequential(nn.Bilinear(2, 2, 1)), torch.zeros(3, 2))


def test_mismatched_shapes_and_non_finite_inputs_are_named():
    model = small_mlp(0)
    X, Y = regression_data(0)
    with pytest.raises(ValueError, match="24 inputs, 23 targets"):
        feature_matrices(model, X, Y[:-1], "mse", WEIGHT_DECAY)
    with pytest.raises(ValueError, match="do not match outputs"):
        feature_matrices(model, X, Y[:, :2], "mse", WEIGHT_DECAY)
    bad = X.clone()
    bad[7, 1] = float("nan")
    with pytest.raises(ValueError, match="inputs contain non-finite values.*batch starting at sample 5"):
        feature_matrices(model, bad, Y, "mse", WEIGHT_DECAY, batch_size=5)
    with pytest.raises(ValueError, match="weight_decay must be a finite number > 0"):
        feature_matrices(model, X, Y, "mse", 0.0)
    with pytest.raises(ValueError, match="one value per sample"):
        feature_matrices(model, X, Y, lambda out, y: ((out - y) ** 2).mean(), WEIGHT_DECAY)
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        feature_matrices(model, X, Y, "l1", WEIGHT_DECAY)
    with pytest.raises(ValueError, match="FACT needs weight_decay"):
        _ = feature_matrices(model, X, Y, "mse")["0"].fact


def test_targets_of_another_shape_are_refused_not_reshaped():
    model = small_mlp(0)  # 3 outputs
    X, Y = regression_data(0, n=5)
    with pytest.raises(ValueError, match="5 inputs but 3 targets"):  # a loader yielding (outputs, samples) targets
        feature_matrices(model, [(X, Y.T.contiguous())], loss="mse", weight_decay=WEIGHT_DECAY)
    with pytest.raises(ValueError, match=r"targets of shape \(5, 1, 3\) do not match outputs of shape \(5, 3\)"):
        feature_matrices(model, X, Y[:, None, :], "mse", WEIGHT_DECAY)
    # one output: targets (n,) for outputs (n, 1) are the same values, and accepted
    single = nn.Linear(4, 1).double()
    y = torch.randn(5, dtype=torch.float64)
    a = feature_matrices(single, X, y, "mse", WEIGHT_DECAY)[""].fact
    b = feature_matrices(single, X, y[:, None], "mse", WEIGHT_DECAY)[""].fact
    assert torch.equal(a, b)


def test_dropout_and_batch_norm_run_in_eval_mode_and_the_callers_mode_is_restored(fresh_seed):
    torch.manual_seed(fresh_seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)).double()
    X, Y = regression_data(fresh_seed)
    model(X)  # running statistics that are not the identity
    model.train()
    model[1].eval()  # a mixed mode must come back as it was
    running = model[1].running_mean.clone()
    first = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=7)
    second = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=24)
    for name in first:
        assert torch.allclose(first[name].fact, second[name].fact, rtol=1e-12, atol=1e-12), f"{name}, seed={fresh_seed}"
        assert torch.allclose(first[name].agop, second[name].agop, rtol=1e-12, atol=1e-12), f"{name}, seed={fresh_seed}"
    assert torch.equal(model[1].running_mean, running)
    assert [module.training for module in model] == [True, False, True, True, True]
    # and eval mode is what the matrices describe: the same as an eval-mode model's
    model.eval()
    evaluated = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)
    assert torch.allclose(evaluated["0"].fact, first["0"].fact, rtol=1e-12, atol=1e-12)


def test_the_sketched_agop_is_unbiased_and_its_error_shrinks_as_one_over_root_probes(fresh_seed):
    torch.manual_seed(fresh_seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 40)).double()  # many outputs
    X = torch.randn(30, 6, generator=torch.Generator().manual_seed(fresh_seed), dtype=torch.float64)
    exact = feature_matrices(model, X)["0"].agop

    def errors(probes: int, draws: int = 12) -> list[float]:
        generator = torch.Generator().manual_seed(fresh_seed)
        return [
            relative_error(feature_matrices(model, X, agop_probes=probes, generator=generator)["0"].agop, exact)
            for _ in range(draws)
        ]

    few, many = sum(errors(4)) / 12, sum(errors(64)) / 12
    assert 2.5 < few / many < 6.5, f"seed={fresh_seed}: errors {few:.3f} and {many:.3f}, expected a ratio near 4"
    generator = torch.Generator().manual_seed(fresh_seed)
    mean = sum(feature_matrices(model, X, agop_probes=4, generator=generator)["0"].agop for _ in range(200)) / 200
    assert relative_error(mean, exact) < 0.1, f"seed={fresh_seed}: the mean of sketches is biased"
    with pytest.raises(ValueError, match="agop_probes must be a positive integer"):
        feature_matrices(model, X, agop_probes=0)


def test_sketching_the_agop_leaves_fact_and_enfa_exact(fresh_seed):
    torch.manual_seed(fresh_seed)
    model = small_mlp(fresh_seed)
    X, Y = regression_data(fresh_seed)
    exact = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)["2"]
    sketched = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, agop_probes=2)["2"]
    assert relative_error(sketched.fact, exact.fact) < 1e-12 and relative_error(sketched.enfa, exact.enfa) < 1e-12


# ---------------------------------------------------------------- layers with many positions


def test_a_convolution_sums_every_relation_over_its_patches(fresh_seed):
    torch.manual_seed(fresh_seed)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    head = nn.Linear(3 * 3 * 3, 2).double()
    model = nn.Sequential(conv, nn.Tanh(), nn.Flatten(), head)
    generator = torch.Generator().manual_seed(fresh_seed)
    X = torch.randn(7, 2, 5, 5, generator=generator, dtype=torch.float64)
    Y = torch.randn(7, 2, generator=generator, dtype=torch.float64)
    conv.weight_matrix = conv.weight.detach().reshape(3, -1)

    def rows(x):
        return nn.functional.unfold(x[None], 3, padding=1, stride=2)[0].T  # (positions, in * 9)

    def forward_from_z(z, x):  # z: (positions, out)
        output = (z + conv.bias).T.reshape(1, 3, 3, 3)
        return head(torch.tanh(output).flatten(1))[0]

    reference = positional_reference(model, conv, rows, forward_from_z, X, Y, WEIGHT_DECAY)
    layer = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, batch_size=3, centre_agop=True)["0"]
    assert layer.weight.shape == (3, 18) and relative_error(layer.centred_agop, layer.agop) > 1e-3
    for name, expected in reference.items():
        assert relative_error(getattr(layer, name), expected) < 1e-10, f"seed={fresh_seed} {name}"


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_an_embedding_acts_on_one_hot_tokens_at_every_position(fresh_seed, padding_idx):
    """With a padding index, its lookups are no product of W (PyTorch never trains that row): every relation
    leaves them out, as a z the loss does not differentiate."""
    torch.manual_seed(fresh_seed)
    embedding = nn.Embedding(6, 3, padding_idx=padding_idx).double()
    with torch.no_grad():
        embedding.weight[2] = torch.randn(3)  # a padding row that is not zero: its lookups still count for nothing
    head = nn.Linear(3 * 4, 2).double()
    model = nn.Sequential(embedding, nn.Tanh(), nn.Flatten(), head)
    generator = torch.Generator().manual_seed(fresh_seed)
    X = torch.randint(0, 6, (8, 4), generator=generator)
    X[:, 0] = 2
    Y = torch.randn(8, 2, generator=generator, dtype=torch.float64)
    embedding.weight_matrix = embedding.weight.detach().T  # dim x vocabulary

    def rows(x):
        return nn.functional.one_hot(x, 6).double()  # (positions, vocabulary)

    def forward_from_z(z, x):
        if padding_idx is not None:
            z = torch.where((x == padding_idx)[:, None], z.detach(), z)
        return head(torch.tanh(z).reshape(1, -1))[0]

    reference = positional_reference(model, embedding, rows, forward_from_z, X, Y, WEIGHT_DECAY)
    layer = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, centre_agop=True)["0"]
    assert layer.weight.shape == (3, 6)
    for name, expected in reference.items():
        assert relative_error(getattr(layer, name), expected) < 1e-10, f"seed={fresh_seed} {name}"


def test_a_transformer_gives_every_matrix_but_the_position_embedding(fresh_seed):
    from fact.experiments.models import TinyTransformer

    torch.manual_seed(fresh_seed)
    model = TinyTransformer(vocabulary=5, length=3, width=4, heads=2, mlp_width=6).double()
    tokens = torch.randint(0, 5, (6, 3), generator=torch.Generator().manual_seed(fresh_seed))
    layers = feature_matrices(model, tokens, torch.randint(0, 5, (6,)), "ce", WEIGHT_DECAY)
    assert set(layers) == {
        "token",
        "attention[q]",
        "attention[k]",
        "attention[v]",
        "attention.out_proj",
        "mlp_in",
        "mlp_out",
        "unembed",
    }  # position: shared by every sample
    assert layers["token"].fact.shape == (5, 5) and layers["mlp_in"].agop.shape == (4, 4)
    with pytest.raises(ValueError, match=r"\['position'\] has no sample dimension"):
        feature_matrices(model, tokens, torch.randint(0, 5, (6,)), "ce", WEIGHT_DECAY, layers=["position", "token"])


def test_the_centred_agop_is_an_option_of_the_agop_relations_and_refused_where_it_cannot_be_formed(fresh_seed):
    model, (X, Y) = small_mlp(fresh_seed), regression_data(fresh_seed)
    plain = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY)["0"]
    centred = feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, centre_agop=True)["0"]
    assert torch.equal(plain.agop, centred.agop) and plain.jacobian_sum is None
    relations = {row["relation"] for row in centred.agreement(powers=(0.5,))}
    assert {"nfa_centred", "bnfa_centred"} <= relations and not {"nfa_centred"} & {
        row["relation"] for row in plain.agreement(powers=(0.5,))
    }
    shortcut = matrices.agop(model, "0", X, power=0.5, centre=True)
    assert relative_error(shortcut, sym_power(centred.centred_agop, 0.5)) < 1e-12, f"seed={fresh_seed}"
    with pytest.raises(ValueError, match="layer '0': the centred AGOP was not computed"):
        _ = plain.centred_agop
    for options in ({"agop_probes": 4}, {"jacobian": False}):
        with pytest.raises(ValueError, match="centre_agop centres each output's gradients across samples"):
            feature_matrices(model, X, Y, "mse", WEIGHT_DECAY, centre_agop=True, **options)


def test_the_centred_agop_refuses_batches_whose_positions_differ(fresh_seed):
    torch.manual_seed(fresh_seed)
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Tanh(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(3, 2))
    generator = torch.Generator().manual_seed(fresh_seed)
    batches = [torch.randn(4, 2, length, generator=generator) for length in (6, 8)]  # 4 and 6 positions
    feature_matrices(model, batches, layers=["0"])  # the plain AGOP sums over whatever positions there are
    with pytest.raises(ValueError, match="this batch has 12 of them and earlier ones 8: give every sample the same"):
        feature_matrices(model, batches, layers=["0"], centre_agop=True)
