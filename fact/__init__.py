"""fact: the Features at Convergence Theorem for any PyTorch model, and FACT-RFM.

At a critical point of ``(1/n) sum_i loss_i + (lambda/2) ||theta||^2`` every weight matrix W
satisfies ``W^T W = -(1/(n lambda)) sum_i grad_{h_i} loss_i h_i^T``, h_i being the input of W.

Three wings:

``fact.features``
    FACT, bFACT, the NFA (AGOP) and the eNFA of the weight matrices of any PyTorch model, and how
    far each is from a critical point: ``feature_matrices`` (one hooked pass: every relation of the
    layers a registered view shows), ``weight_matrices`` (FACT and bFACT of every weight from the
    gradient of the mean loss), ``register_view`` (teach both a module of your own), ``Monitor``
    (all of it while a model trains, in any training loop; ``Monitor.summary`` says what holds a weight off
    a critical point).
``fact.kernel_machines``
    Recursive Feature Machines with the NFA or the FACT update (``RFM``, ``RFMClassifier``,
    ``RFMRegressor``, scikit-learn estimators) and the kernel AGOP and FACT (``kernel_agop``,
    ``kernel_fact``).
``fact.experiments``
    What only the paper's pipeline needs: its models, training, data, stages, plots and scorecard; and
    ``polish_lbfgs``, the full-batch L-BFGS finish that brings a trained model to a critical point.

The names below are imported on first use, so that ``import fact`` stays cheap (the pipeline's
DAG is built without loading torch).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "feature_matrices": "fact.features.matrices",
    "LayerMatrices": "fact.features.layer_matrices",
    "weight_matrices": "fact.features.weights",
    "WeightMatrix": "fact.features.weights",
    "register_view": "fact.features.layer_views",
    "LayerView": "fact.features.layer_views",
    "MatrixView": "fact.features.layer_views",
    "metrics": "fact.features.metrics",
    "Monitor": "fact.features.monitor",
    "polish_lbfgs": "fact.experiments.polish",
    "RFM": "fact.kernel_machines.rfm",
    "RFMClassifier": "fact.kernel_machines.sklearn_estimators",
    "RFMRegressor": "fact.kernel_machines.sklearn_estimators",
    "kernel_agop": "fact.kernel_machines.kernel_matrices",
    "kernel_fact": "fact.kernel_machines.kernel_matrices",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'fact' has no attribute {name!r}")
    module = importlib.import_module(_PUBLIC[name])
    value = module if module.__name__.endswith(f".{name}") else getattr(module, name)  # a module, or a name in one
    globals()[name] = value  # the next lookup finds it without coming here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
