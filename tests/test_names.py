"""The shared names: every relation a layer forms and every measure a record holds is one member of its
enumeration, with one label, and tables keep plain strings."""

from __future__ import annotations

import torch

from fact.features.matrices import feature_matrices
from fact.features.names import MEASURE_LABELS, MEASURES, RELATION_LABELS, Measure, Relation, relation_label
from tests.conftest import small_mlp


def test_every_relation_and_measure_of_a_record_is_named_once_with_a_label():
    torch.manual_seed(0)
    model = small_mlp(0).double()
    X, Y = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)
    layers = feature_matrices(model, X, Y, "mse", 0.1, centre_agop=True).values()  # every relation there is
    records = [record for layer in layers for record in layer.agreement()]
    assert {record["relation"] for record in records} == set(Relation)
    assert all(type(record["relation"]) is str for record in records)  # a table holds plain names
    assert all(set(MEASURES) <= set(record) for record in records)
    assert set(RELATION_LABELS) == set(Relation) and set(MEASURE_LABELS) == set(Measure)


def test_the_nfa_label_carries_its_power():
    assert relation_label("nfa", 0.5) == "NFA: AGOP^½" and relation_label(Relation.BNFA, 2.0) == "backward AGOP^2"
    assert relation_label("fact", 0.5) == "FACT" and relation_label("mystery") == "mystery"
