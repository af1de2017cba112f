import pytest
import torch

from fact.experiments.data.synthetic import AdversarialQuadratic
from fact.experiments.models import QuadraticNet
from fact.features.matrices import feature_matrices


def test_population_is_the_exact_mixture():
    task = AdversarialQuadratic(hypercube_weight=0.02, spike_scale=10.0, epsilon=0.05)
    X, y = task.population()
    assert task.multiplicities() == (1, 196)
    assert X.shape == (16 + 4 * 196, 4)
    assert torch.allclose(X.T @ X / len(X), task.second_moment(), atol=1e-12)
    is_cube = X[:, 2] != 0
    assert is_cube.double().mean() == pytest.approx(0.02)
    assert torch.allclose(y[:, 0], 0.05 * X[:, 0] * X[:, 1] + X[:, 2] * X[:, 3])


def test_bad_mixture_weights_are_refused():
    with pytest.raises(ValueError, match="hypercube_weight must lie in"):
        AdversarialQuadratic(hypercube_weight=1.0)
    with pytest.raises(ValueError, match="needs .* atoms"):
        AdversarialQuadratic(hypercube_weight=0.0001234, max_atoms=1000).population()


def exact_network(A: torch.Tensor, width: int = 10) -> QuadraticNet:
    """The min-norm quadratic network of Lemma D.2: w_i = |l_i|^{1/3} v_i, a_i = sign(l_i) |l_i|^{1/3}."""
    eigenvalues, eigenvectors = torch.linalg.eigh(A)
    model = QuadraticNet(A.shape[0], width).double()
    with torch.no_grad():
        model.hidden.weight.zero_()
        model.readout.weight.zero_()
        cube_root = eigenvalues.abs() ** (1 / 3)
        model.hidden.weight[: len(A)] = (eigenvectors * cube_root).T
        model.readout.weight[0, : len(A)] = torch.sign(eigenvalues) * cube_root
    return model


def test_agop_and_weights_follow_the_construction():
    """AGOP = 4 A* Sigma A* and W^T W = |A*|^{2/3} for the exact min-norm network."""
    task = AdversarialQuadratic()
    X, y = task.population()
    A = task.target_matrix()
    model = exact_network(A)
    assert torch.allclose(model(X), y, atol=1e-10)
    layer = feature_matrices(model, X, layers="hidden", batch_size=None)["hidden"]
    assert torch.allclose(layer.agop, 4 * A @ task.second_moment() @ A, atol=1e-9)
    eigenvalues, eigenvectors = torch.linalg.eigh(A)
    assert torch.allclose(
        layer.wtw, eigenvectors @ torch.diag(eigenvalues.abs() ** (2 / 3)) @ eigenvectors.T, atol=1e-12
    )
