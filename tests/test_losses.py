"""fact.features.losses: per-sample losses agree with torch's, and bad targets or names are refused."""

from __future__ import annotations

import pytest
import torch

from fact.features.losses import CausalLMLoss, batch_share, ce_per_sample, mse_per_sample, resolve_loss


def test_per_sample_losses_average_to_torch_losses(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    outputs = torch.randn(7, 3, generator=generator, dtype=torch.float64)
    targets = torch.randn(7, 3, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (7,), generator=generator)
    assert torch.allclose(mse_per_sample(outputs, targets).mean(), torch.nn.functional.mse_loss(outputs, targets))
    assert torch.allclose(ce_per_sample(outputs, labels).mean(), torch.nn.functional.cross_entropy(outputs, labels))
    assert mse_per_sample(outputs, targets).shape == (7,), f"seed={fresh_seed}"
    summed = ((outputs - targets) ** 2).sum(dim=1)  # the squared error's other two conventions, by name
    assert torch.allclose(resolve_loss("sse")(outputs, targets), summed)
    assert torch.allclose(resolve_loss("half_sse")(outputs, targets), summed / 2)
    for name in ("mse", "sse", "half_sse"):  # one batch's share of the mean, as training sums it
        share = batch_share(name, outputs[:4], targets[:4], 7) + batch_share(name, outputs[4:], targets[4:], 7)
        assert torch.allclose(share, resolve_loss(name)(outputs, targets).mean()), name


def test_mse_targets_must_have_the_outputs_shape():
    outputs = torch.zeros(4, 1)
    assert torch.equal(mse_per_sample(outputs, torch.ones(4)), torch.ones(4))  # (n,) for (n, 1): the same values
    with pytest.raises(ValueError, match=r"targets of shape \(1, 4\) do not match outputs of shape \(4, 1\)"):
        mse_per_sample(outputs, torch.ones(1, 4))


def test_a_loss_is_a_name_or_a_callable():
    assert resolve_loss("mse") is mse_per_sample and resolve_loss(len) is len
    with pytest.raises(ValueError, match=r"unknown loss 'l1': use one of \['ce', 'half_sse', 'mse', 'sse'\]"):
        resolve_loss("l1")


def language_model_and_data(seed: int):
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(vocab_size=9, n_positions=5, n_embd=8, n_layer=1, n_head=2, n_inner=8,
                                     bos_token_id=None, eos_token_id=None)  # fmt: skip
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).double().eval()
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 9, (12, 5), generator=generator)
    labels = tokens.clone()
    labels[torch.rand(12, 5, generator=generator) < 0.4] = -100  # each sample its own count of labelled positions
    labels[0, 1:] = -100  # one sample without any
    return model, tokens, labels


def test_the_causal_lm_loss_averages_to_the_models_own_loss_and_so_does_its_gradient(fresh_seed):
    model, tokens, labels = language_model_and_data(fresh_seed)
    ours = CausalLMLoss(labels)(model(tokens).logits, labels)
    own = model(tokens, labels=labels).loss  # transformers' ForCausalLMLoss, in float32
    assert ours.shape == (12,) and ours[0] == 0
    assert float(ours.mean()) == pytest.approx(float(own), rel=1e-6), f"seed={fresh_seed}"
    weight = model.transformer.h[0].mlp.c_fc.weight
    (ours_gradient,) = torch.autograd.grad(ours.mean(), weight)
    (own_gradient,) = torch.autograd.grad(model(tokens, labels=labels).loss, weight)
    assert torch.allclose(ours_gradient, own_gradient.double(), rtol=1e-5, atol=1e-7), f"seed={fresh_seed}"


def test_the_causal_lm_loss_refuses_what_it_cannot_average():
    with pytest.raises(ValueError, match=r"integer token ids of shape \(samples, positions\)"):
        CausalLMLoss(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="integer token ids"):
        CausalLMLoss(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="every label after the first position is -100"):
        CausalLMLoss(torch.full((4, 3), -100))
    loss = CausalLMLoss(torch.zeros(4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"logits of shape \(samples, positions, vocabulary\)"):
        loss(torch.zeros(4, 5), torch.zeros(4, 3, dtype=torch.long))  # a last-position classifier's logits
