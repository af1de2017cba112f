"""The small CNN and the one-block transformer: shapes, flat inputs, tied embeddings."""

from __future__ import annotations

import pytest
import torch

from fact.experiments.models import SmallCNN, TinyTransformer


def test_the_cnn_takes_flat_or_shaped_images_and_halves_the_side_once():
    model = SmallCNN(side=8, n_classes=10, channels=(4, 6))
    flat = torch.randn(3, 64)
    assert model(flat).shape == (3, 10)
    assert torch.equal(model(flat), model(flat.reshape(3, 1, 8, 8)))
    assert model.head.in_features == 6 * 4 * 4


def test_the_transformer_predicts_from_the_last_position_and_can_tie_its_embeddings():
    model = TinyTransformer(vocabulary=7, length=4, width=8, heads=2, mlp_width=16)
    tokens = torch.randint(0, 7, (5, 4))
    assert model(tokens).shape == (5, 7)
    changed = tokens.clone()
    changed[:, 0] = (changed[:, 0] + 1) % 7
    assert not torch.allclose(model(tokens), model(changed))  # attention sees the earlier positions
    tied = TinyTransformer(vocabulary=7, length=4, width=8, heads=2, mlp_width=16, tied=True)
    assert tied.unembed.weight is tied.token.weight
    with pytest.raises(ValueError, match="tied embeddings need n_out == vocabulary"):
        TinyTransformer(vocabulary=7, length=4, width=8, heads=2, mlp_width=16, n_out=3, tied=True)


def test_the_layer_norms_can_be_left_out():
    with_norms = TinyTransformer(vocabulary=7, length=4, width=8, heads=2, mlp_width=16)
    without = TinyTransformer(vocabulary=7, length=4, width=8, heads=2, mlp_width=16, layer_norm=False)
    assert isinstance(with_norms.norm1, torch.nn.LayerNorm) and isinstance(with_norms.norm2, torch.nn.LayerNorm)
    assert isinstance(without.norm1, torch.nn.Identity) and isinstance(without.norm2, torch.nn.Identity)
    assert not any("norm" in name for name, _ in without.named_parameters())
    assert without(torch.randint(0, 7, (5, 4))).shape == (5, 7)
