"""fact.features.losses: per-sample losses agree with torch's, and bad targets or names are refused."""

from __future__ import annotations

import pytest
import torch

from fact.features.losses import ce_per_sample, mse_per_sample, resolve_loss


def test_per_sample_losses_average_to_torch_losses(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    outputs = torch.randn(7, 3, generator=generator, dtype=torch.float64)
    targets = torch.randn(7, 3, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (7,), generator=generator)
    assert torch.allclose(mse_per_sample(outputs, targets).mean(), torch.nn.functional.mse_loss(outputs, targets))
    assert torch.allclose(ce_per_sample(outputs, labels).mean(), torch.nn.functional.cross_entropy(outputs, labels))
    assert mse_per_sample(outputs, targets).shape == (7,), f"seed={fresh_seed}"


def test_mse_targets_must_have_the_outputs_shape():
    outputs = torch.zeros(4, 1)
    assert torch.equal(mse_per_sample(outputs, torch.ones(4)), torch.ones(4))  # (n,) for (n, 1): the same values
    with pytest.raises(ValueError, match=r"targets of shape \(1, 4\) do not match outputs of shape \(4, 1\)"):
        mse_per_sample(outputs, torch.ones(1, 4))


def test_a_loss_is_a_name_or_a_callable():
    assert resolve_loss("mse") is mse_per_sample and resolve_loss(len) is len
    with pytest.raises(ValueError, match=r"unknown loss 'l1': use one of \['ce', 'mse'\]"):
        resolve_loss("l1")
