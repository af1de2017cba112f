"""The monitor's measures without the larger side's matrices, against the same measures of the formed matrices
(fact.features.metrics), in float64 on fresh random inputs: FACT's from the smaller side's products
(fact.features.fact_agreement) on weights of every shape, near a critical point and far from one; the NFA's and
eNFA's from cores in the coordinates of W's rows (fact.features.ansatz_agreement)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fact.features.ansatz_agreement import ansatz_records
from fact.features.fact_agreement import fact_agreements
from fact.features.layer_matrices import agreement_records
from fact.features.matrices import feature_matrices
from fact.features.metrics import agreements

MEASURED = ("pearson", "cosine", "relative_error")
WEIGHT_DECAY = 0.3


def formed(weight: torch.Tensor, gradient: torch.Tensor) -> dict[str, dict[str, float]]:
    fact = -(weight.T @ gradient) / WEIGHT_DECAY
    bfact = -(gradient @ weight.T) / WEIGHT_DECAY
    return {
        "fact": agreements(weight.T @ weight, [fact], MEASURED)[0],
        "bfact": agreements(weight @ weight.T, [bfact], MEASURED)[0],
    }


@pytest.mark.parametrize("shape", [(5, 9), (9, 5), (7, 7), (1, 6), (6, 1), (40, 3)])
@pytest.mark.parametrize("off_critical", [1.0, 1e-3, 1e-7])
def test_the_measures_equal_those_of_the_formed_matrices(fresh_seed, shape, off_critical):
    generator = torch.Generator().manual_seed(fresh_seed)
    weight = torch.randn(shape, generator=generator, dtype=torch.float64)
    noise = torch.randn(shape, generator=generator, dtype=torch.float64)
    gradient = -WEIGHT_DECAY * weight + off_critical * noise  # at off_critical 0, a critical point
    got, expected = fact_agreements(weight, gradient, WEIGHT_DECAY), formed(weight, gradient)
    for relation in ("fact", "bfact"):
        for measure in ("pearson", "cosine"):
            value, reference = got[relation][measure], expected[relation][measure]
            assert math.isnan(value) == math.isnan(reference)
            if not math.isnan(reference):
                assert value == pytest.approx(reference, abs=1e-12), (relation, measure)
        # the residual's size, never a difference of near-equal matrices: exact near the critical point too
        exact = _relative_error(weight, gradient, relation)
        assert got[relation]["relative_error"] == pytest.approx(exact, rel=1e-10), relation


def _relative_error(weight: torch.Tensor, gradient: torch.Tensor, relation: str) -> float:
    residual = gradient + WEIGHT_DECAY * weight
    if relation == "fact":
        return float((weight.T @ residual).norm() / (WEIGHT_DECAY * (weight.T @ weight).norm()))
    return float((residual @ weight.T).norm() / (WEIGHT_DECAY * (weight @ weight.T).norm()))


def test_a_zero_gradient_gives_no_correlation_and_a_relative_error_of_one(fresh_seed):
    weight = torch.randn(4, 9, generator=torch.Generator().manual_seed(fresh_seed), dtype=torch.float64)
    got = fact_agreements(weight, torch.zeros_like(weight), WEIGHT_DECAY)
    for relation in ("fact", "bfact"):
        assert math.isnan(got[relation]["pearson"]) and math.isnan(got[relation]["cosine"])
        assert got[relation]["relative_error"] == pytest.approx(1.0, rel=1e-12)


def test_a_non_finite_entry_makes_every_measure_nan():
    weight = torch.ones(3, 4, dtype=torch.float64)
    gradient = torch.zeros_like(weight)
    gradient[1, 2] = math.inf
    for relation, measured in fact_agreements(weight, gradient, WEIGHT_DECAY).items():
        assert all(math.isnan(value) for value in measured.values()), relation


def test_float32_products_stay_within_float32_rounding(fresh_seed):
    generator = torch.Generator().manual_seed(fresh_seed)
    weight = torch.randn(64, 200, generator=generator, dtype=torch.float64)
    gradient = -WEIGHT_DECAY * weight + 1e-2 * torch.randn(64, 200, generator=generator, dtype=torch.float64)
    single = fact_agreements(weight.float(), gradient.float(), WEIGHT_DECAY, dtype=torch.float32)
    double = fact_agreements(weight.float().double(), gradient.float().double(), WEIGHT_DECAY)
    for relation in ("fact", "bfact"):
        for measure in MEASURED:
            assert single[relation][measure] == pytest.approx(double[relation][measure], rel=1e-5), (relation, measure)


def test_spearman_and_unknown_measures_are_refused_with_what_to_do():
    weight = torch.eye(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="agreement_records"):
        fact_agreements(weight, -weight, WEIGHT_DECAY, ("pearson", "spearman"))
    with pytest.raises(ValueError, match="unknown measures"):
        fact_agreements(weight, -weight, WEIGHT_DECAY, ("pearsons",))


@pytest.mark.parametrize("probes", [None, 3])  # centred only where exact
def test_the_nfa_measured_from_cores_equals_the_formed_matrices_measures(fresh_seed, probes):
    torch.manual_seed(fresh_seed)
    model = nn.Sequential(nn.Linear(9, 4), nn.Tanh(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 6)).double()
    generator = torch.Generator().manual_seed(fresh_seed)
    X = torch.randn(30, 9, generator=generator, dtype=torch.float64)
    Y = torch.randn(30, 6, generator=generator, dtype=torch.float64)
    results = feature_matrices(
        model, X, Y, "mse", WEIGHT_DECAY, agop_probes=probes, generator=generator, centre_agop=probes is None
    )  # fmt: skip
    powers = (0.5, 1.0, 0.25)
    for name, result in results.items():  # 9 -> 4 from cores; 4 -> 4 and 4 -> 6 formed
        got = ansatz_records(result, powers, MEASURED, 0.125)
        expected = agreement_records(result, result.ansatz_comparisons(powers), 0.125, MEASURED)
        assert [(row["side"], row["relation"]) for row in got] == [(row["side"], row["relation"]) for row in expected]
        for row, reference in zip(got, expected):
            assert row.keys() == reference.keys()
            for measure in MEASURED:
                # the last layer's centred AGOP is zero: NaN both ways
                assert row[measure] == pytest.approx(reference[measure], rel=1e-10, abs=1e-12, nan_ok=True), name
