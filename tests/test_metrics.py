import math

import numpy as np
import pytest
import torch

from fact.features.linalg import (
    factored_sym_power,
    gram,
    gram_power,
    product_gram_power,
    psd_sqrt_of_gram,
    sym_power,
)
from fact.features.metrics import agreement, agreements, cosine, pearson, relative_error, spearman


def test_pearson_is_numpy_corrcoef_of_the_entries(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    a, b = torch.randn(5, 5, generator=generator), torch.randn(5, 5, generator=generator)
    assert pearson(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], abs=1e-12)


def test_pearson_ignores_shift_and_positive_scale_cosine_does_not(fresh_seed):
    a = torch.randn(6, 6, generator=torch.Generator().manual_seed(fresh_seed), dtype=torch.float64)
    assert pearson(a, 3 * a + 7) == pytest.approx(1.0, abs=1e-12)
    assert pearson(a, -a) == pytest.approx(-1.0, abs=1e-12)
    assert cosine(a, 3 * a) == pytest.approx(1.0, abs=1e-12)
    assert cosine(a, a + 7) < 0.99


def test_cosine_and_relative_error_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    b = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert cosine(a, b) == pytest.approx(1 / np.sqrt(2))
    assert relative_error(b, a) == pytest.approx(1.0)
    assert np.isnan(cosine(a, torch.zeros(2, 2)))


def test_metrics_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match=r"same shape.*\(2, 2\) and \(3, 3\)"):
        pearson(torch.eye(2), torch.eye(3))
    with pytest.raises(ValueError, match="reference matrix is zero"):
        relative_error(torch.eye(2), torch.zeros(2, 2))


def test_sym_power_inverts_squares_and_clips_negative_eigenvalues(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    B = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    A = B @ B.T
    root = sym_power(A, 0.5)
    assert torch.allclose(root @ root, A, atol=1e-10)
    assert torch.allclose(psd_sqrt_of_gram(B), root, atol=1e-10)
    indefinite = torch.diag(torch.tensor([4.0, -1.0], dtype=torch.float64))
    assert torch.allclose(sym_power(indefinite, 0.5), torch.diag(torch.tensor([2.0, 0.0], dtype=torch.float64)))
    with pytest.raises(ValueError, match="power >= 0"):
        sym_power(A, -1)


@pytest.mark.parametrize("d", [3, 64, 128, 255, 257, 513])
def test_gram_of_panels_is_the_full_product(fresh_seed, d):
    # below 128 columns one product, above it panels of uneven widths (255, 257, 513)
    rows = torch.randn(37, d, generator=torch.Generator().manual_seed(fresh_seed), dtype=torch.float64)
    result = gram(rows)
    assert torch.allclose(result, rows.T @ rows, rtol=1e-12, atol=1e-12), f"seed={fresh_seed}"
    with pytest.raises(ValueError, match="matrix of rows"):
        gram(rows[None])


def test_spearman_is_scipys_rank_correlation_ties_included(fresh_seed):
    from scipy.stats import spearmanr

    generator = torch.Generator().manual_seed(fresh_seed)
    a = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    b = torch.randint(0, 4, (6, 6), generator=generator).double()  # many ties
    assert abs(spearman(a, b) - spearmanr(a.ravel().numpy(), b.ravel().numpy()).statistic) < 1e-12, f"seed={fresh_seed}"
    assert abs(spearman(a, a.exp()) - 1) < 1e-12  # any increasing map of the entries
    assert pearson(a, a.exp()) < 1 - 1e-3
    assert abs(spearman(a, -a) + 1) < 1e-12


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("measure", [pearson, spearman, cosine, relative_error])
def test_a_non_finite_entry_gives_nan_in_every_measure(measure, bad, fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    a, b = (
        torch.randn(5, 5, generator=generator, dtype=torch.float64),
        torch.randn(5, 5, generator=generator, dtype=torch.float64),
    )
    spoilt = a.clone()
    spoilt[2, 3] = bad
    assert np.isnan(measure(spoilt, b)) and np.isnan(measure(b, spoilt))
    assert np.isfinite(measure(a, b))


def test_agreement_is_the_four_measures_of_one_pair(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    target = torch.randint(0, 5, (7, 7), generator=generator).float()  # float32, many ties
    predicted = target + torch.randn(7, 7, generator=generator)
    assert agreement(target, predicted) == {
        "pearson": pearson(target, predicted),
        "spearman": spearman(target, predicted),
        "cosine": cosine(target, predicted),
        "relative_error": relative_error(predicted, target),
    }, f"seed={fresh_seed}"
    spoilt = predicted.clone()
    spoilt[1, 2] = float("nan")
    assert all(np.isnan(value) for value in agreement(target, spoilt).values())
    with pytest.raises(ValueError, match="reference matrix is zero"):
        agreement(torch.zeros(3, 3), torch.ones(3, 3))


def test_agreements_rank_one_target_for_each_prediction_as_agreement_would(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    target = torch.randint(0, 5, (6, 6), generator=generator).double()
    predictions = [target + torch.randn(6, 6, generator=generator) for _ in range(3)]
    predictions[1] = predictions[1].float()
    predictions[2][0, 0] = float("inf")
    records = agreements(target, predictions)
    assert records[:2] == [agreement(target, predicted) for predicted in predictions[:2]], f"seed={fresh_seed}"
    assert all(np.isnan(value) for value in records[2].values())  # only the spoilt prediction
    spoilt = target.clone()
    spoilt[2, 3] = float("nan")
    assert all(np.isnan(value) for record in agreements(spoilt, predictions) for value in record.values())
    with pytest.raises(ValueError, match="same shape"):
        agreements(target, [target, target[:5]])


def test_powers_from_low_rank_factors_are_the_dense_powers(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    A, B = (torch.randn(20, 4, generator=generator, dtype=torch.float64) for _ in range(2))
    core = torch.randn(4, 4, generator=generator, dtype=torch.float64)
    C = core @ core.T
    for power in (1.0, 0.5, 0.25):
        assert relative_error(factored_sym_power(A, C, power), sym_power(A @ C @ A.T, power)) < 1e-10, power
        assert relative_error(product_gram_power(A, B, power), gram_power(A @ B.T, power)) < 1e-10, power
    with pytest.raises(ValueError, match="power >= 0"):
        factored_sym_power(A, C, -0.5)


def test_agreements_compute_the_measures_asked_for_and_refuse_unknown_ones(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    target, predicted = torch.randn(2, 6, 6, generator=generator, dtype=torch.float64)
    every = agreements(target, [predicted])[0]
    some = agreements(target, [predicted], measures=("pearson", "relative_error"))[0]
    assert some == {"pearson": every["pearson"], "relative_error": every["relative_error"]}
    assert agreements(target, [predicted * float("nan")], measures=("cosine",)) == [
        {"cosine": pytest.approx(float("nan"), nan_ok=True)}
    ]
    with pytest.raises(ValueError, match=r"unknown measures \['kendall'\]"):
        agreements(target, [predicted], measures=("kendall",))


def test_a_matrix_whose_sum_overflows_is_still_finite_and_one_non_finite_entry_is_caught():
    from fact.features.metrics import all_finite

    huge = torch.full((3, 3), 1e308, dtype=torch.float64)  # finite entries whose sum is not
    assert torch.isinf(huge.sum()) and all_finite(huge)
    for bad in (float("nan"), float("inf"), -float("inf")):
        matrix = torch.ones(3, 3, dtype=torch.float64)
        matrix[2, 1] = bad
        assert math.isnan(pearson(matrix, torch.eye(3))) and math.isnan(cosine(torch.eye(3), matrix))
