"""The relations of one weight matrix, built from the three data sums of the hooked pass.

For the training objective ``L(theta) = (1/n) sum_i loss_i + (weight_decay / 2) ||theta||^2`` the
Features at Convergence Theorem says that at a critical point

    W^T W = FACT  := -(1 / (n weight_decay)) sum_i grad_{h_i} loss_i  h_i^T        (d_in x d_in)
    W W^T = bFACT := -(1 / (n weight_decay)) sum_i grad_{z_i} loss_i  z_i^T        (d_out x d_out)

Every matrix here comes from the sums over the data taken at the level of ``z = W h``
(``fact.features.accumulation``), turned into ``h``-level matrices with ``grad_h = W^T grad_z``:

    G = sum_i grad_{z_i} loss_i h_i^T          -> FACT = -W^T G / (n lambda),  bFACT = -G W^T / (n lambda)
    E = sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T -> eNFA = W^T E W / n,     backward eNFA = E / n
    B = sum_i J_i J_i^T, J_i = d f(x_i) / d z_i     -> AGOP = W^T B W / n,     backward AGOP = B / n
    S = sum_i J_i (per output and position)         -> centred AGOP: B - S^T S / n in place of B
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

from fact.features.linalg import congruence_power, psd_sqrt_of_gram, sym_power
from fact.features.metrics import agreements
from fact.features.names import MEASURES, Relation
from fact.features.objective import stationarity_error

# The forward NFA and eNFA relations, W^T M W raised to their power, by the d_out x d_out matrix M.
FORWARD_ANSATZ = {
    Relation.NFA: "backward_agop",
    Relation.NFA_CENTRED: "centred_backward_agop",
    Relation.ENFA: "backward_enfa",
}


class WeightProducts:
    """W^T W and W W^T of a result's ``weight``: what FACT and bFACT are compared with."""

    name: str
    weight: torch.Tensor

    @cached_property
    def wtw(self) -> torch.Tensor:
        """W^T W (d_in x d_in)."""
        return self.weight.T @ self.weight

    @cached_property
    def wwt(self) -> torch.Tensor:
        """W W^T (d_out x d_out)."""
        return self.weight @ self.weight.T


@dataclass(frozen=True)
class LayerMatrices(WeightProducts):
    """The data sums of one weight matrix, and every relation built from them.

    Attributes
    ----------
    name : the layer's name in the model.
    weight : W, shape (d_out, d_in), float64.
    n : number of samples summed over.
    weight_decay : lambda of the objective, or None when no FACT was asked for.
    loss_grad_input : G = sum_i grad_{z_i} loss_i h_i^T, or None without targets.
    loss_grad_gram : E = sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T, or None without targets.
    jacobian_gram : B = sum_i J_i J_i^T with J_i = d f(x_i) / d z_i, or None when not asked for.
    jacobian_sum : S = sum_i J_i, one row per output and position, or None unless the centred AGOP was asked for.
    shared_with : the other matrices that are this weight in other modules (an embedding tied to the
        output head; ``fact.features.shared_weights``). G is then the weight's over every use, seen as
        this module sees the weight, so FACT, bFACT and the stationarity error are the weight's; E and B,
        and so the NFA and eNFA, are this use's alone.
    """

    name: str
    weight: torch.Tensor
    n: int
    weight_decay: float | None
    loss_grad_input: torch.Tensor | None
    loss_grad_gram: torch.Tensor | None
    jacobian_gram: torch.Tensor | None
    shared_with: tuple[str, ...] = ()
    jacobian_sum: torch.Tensor | None = None

    def _need(self, value: torch.Tensor | None, what: str, how: str) -> torch.Tensor:
        if value is None:
            raise ValueError(f"layer {self.name!r}: {what} was not computed; {how}")
        return value

    def _fact_scale(self) -> float:
        if self.weight_decay is None:
            raise ValueError(f"layer {self.name!r}: FACT needs weight_decay > 0 (the lambda of the training objective)")
        return -1.0 / (self.n * self.weight_decay)

    @cached_property
    def stationarity_error(self) -> float:
        """||grad_W Lbar + lambda W|| / ||lambda W|| from the pass's own sum, grad_W Lbar = G / n: zero at a
        critical point. Every use of the weight is in G, in this layer and in any other that shares it."""
        G = self._need(self.loss_grad_input, "the stationarity error", "pass targets and a loss")
        self._fact_scale()  # it needs lambda as FACT does
        return stationarity_error(G / self.n, self.weight, self.weight_decay)

    # FACT and its forms
    @cached_property
    def fact(self) -> torch.Tensor:
        """FACT = -(1/(n lambda)) sum_i grad_{h_i} loss_i h_i^T (d_in x d_in, not symmetric in general)."""
        G = self._need(self.loss_grad_input, "FACT", "pass targets and a loss")
        return self._fact_scale() * (self.weight.T @ G)

    @property
    def fact_t(self) -> torch.Tensor:
        """FACT^T."""
        return self.fact.T

    @cached_property
    def fact_sym(self) -> torch.Tensor:
        """(FACT + FACT^T) / 2."""
        return (self.fact + self.fact.T) / 2

    @cached_property
    def fact_sqrt(self) -> torch.Tensor:
        """(FACT FACT^T)^{1/2}, symmetric PSD."""
        return psd_sqrt_of_gram(self.fact)

    @cached_property
    def bfact(self) -> torch.Tensor:
        """bFACT = -(1/(n lambda)) sum_i grad_{z_i} loss_i z_i^T (d_out x d_out)."""
        G = self._need(self.loss_grad_input, "bFACT", "pass targets and a loss")
        return self._fact_scale() * (G @ self.weight.T)

    @property
    def bfact_t(self) -> torch.Tensor:
        """bFACT^T = -(1/(n lambda)) sum_i z_i grad_{z_i} loss_i^T."""
        return self.bfact.T

    @cached_property
    def bfact_sqrt(self) -> torch.Tensor:
        """(bFACT bFACT^T)^{1/2}, symmetric PSD."""
        return psd_sqrt_of_gram(self.bfact)

    # NFA: average gradient outer products of the model outputs
    @cached_property
    def backward_agop(self) -> torch.Tensor:
        """(1/n) sum_i J_i J_i^T with J_i = d f(x_i)/d z_i (d_out x d_out)."""
        B = self._need(self.jacobian_gram, "the AGOP", "call with jacobian=True")
        return B / self.n

    @cached_property
    def agop(self) -> torch.Tensor:
        """AGOP = (1/n) sum_i grad_{h_i} f grad_{h_i} f^T, summed over outputs (d_in x d_in)."""
        return self.weight.T @ self.backward_agop @ self.weight

    def agop_power(self, power: float) -> torch.Tensor:
        """AGOP^s, the NFA's prediction of W^T W up to scale (at rank d_out where that is below d_in)."""
        return congruence_power(self.weight.T, self.backward_agop, power)

    @cached_property
    def centred_backward_agop(self) -> torch.Tensor:
        """(1/n) sum_i (J_i - Jbar)(J_i - Jbar)^T, Jbar the mean over samples of each output's (and position's)
        Jacobian: (B - S^T S / n) / n (d_out x d_out)."""
        S = self._need(self.jacobian_sum, "the centred AGOP", "call feature_matrices with centre_agop=True")
        return (self._need(self.jacobian_gram, "the AGOP", "call with jacobian=True") - S.T @ S / self.n) / self.n

    @cached_property
    def centred_agop(self) -> torch.Tensor:
        """The AGOP of the gradients less their mean over the samples (d_in x d_in)."""
        return self.weight.T @ self.centred_backward_agop @ self.weight

    def centred_agop_power(self, power: float) -> torch.Tensor:
        """The centred AGOP^s (at rank d_out where that is below d_in)."""
        return congruence_power(self.weight.T, self.centred_backward_agop, power)

    def backward_agop_power(self, power: float) -> torch.Tensor:
        """(backward AGOP)^s, compared with W W^T."""
        return sym_power(self.backward_agop, power)

    # eNFA: average outer products of the loss gradients
    @cached_property
    def backward_enfa(self) -> torch.Tensor:
        """(1/n) sum_i grad_{z_i} loss_i grad_{z_i} loss_i^T (d_out x d_out)."""
        E = self._need(self.loss_grad_gram, "the eNFA", "pass targets and a loss")
        return E / self.n

    @cached_property
    def enfa(self) -> torch.Tensor:
        """eNFA = (1/n) sum_i grad_{h_i} loss_i grad_{h_i} loss_i^T (d_in x d_in)."""
        return self.weight.T @ self.backward_enfa @ self.weight

    # Agreement with W^T W and W W^T
    def comparisons(self, powers: Sequence[float] = (0.5, 1.0)) -> list[tuple[str, str, float, torch.Tensor]]:
        """(side, relation, power, predicted matrix) for every relation this object can form.

        side is ``"forward"`` (compared with W^T W) or ``"backward"`` (with W W^T);
        power is NaN for relations without one.
        """
        nan = float("nan")
        rows: list[tuple[str, str, float, torch.Tensor]] = []
        if self.loss_grad_input is not None and self.weight_decay is not None:
            rows += [
                ("forward", Relation.FACT, nan, self.fact),
                ("forward", Relation.FACT_SYM, nan, self.fact_sym),
                ("forward", Relation.FACT_SQRT, nan, self.fact_sqrt),
                ("backward", Relation.BFACT, nan, self.bfact),
                ("backward", Relation.BFACT_SQRT, nan, self.bfact_sqrt),
            ]
        return rows + self.ansatz_comparisons(powers)

    def ansatz_comparisons(self, powers: Sequence[float] = (0.5, 1.0)) -> list[tuple[str, str, float, torch.Tensor]]:
        """The NFA's and eNFA's share of ``comparisons``, without computing any FACT matrix (a monitor takes
        FACT from the weights)."""
        return [
            (side, relation, power, self.ansatz(relation, power)) for side, relation, power in self.ansatz_keys(powers)
        ]

    def ansatz_keys(self, powers: Sequence[float] = (0.5, 1.0)) -> list[tuple[str, Relation, float]]:
        """(side, relation, power) of each NFA and eNFA comparison the sums allow, in ``comparisons``' order."""
        nan = float("nan")
        keys: list[tuple[str, Relation, float]] = []
        if self.jacobian_gram is not None:
            keys += [("forward", Relation.NFA, float(s)) for s in powers]
            keys += [("backward", Relation.BNFA, float(s)) for s in powers]
        if self.jacobian_sum is not None:
            keys += [("forward", Relation.NFA_CENTRED, float(s)) for s in powers]
            keys += [("backward", Relation.BNFA_CENTRED, float(s)) for s in powers]
        if self.loss_grad_gram is not None:
            keys += [("forward", Relation.ENFA, nan), ("backward", Relation.BENFA, nan)]
        return keys

    def ansatz(self, relation: Relation, power: float) -> torch.Tensor:
        """The matrix an NFA or eNFA relation predicts (``power`` NaN for the eNFA's)."""
        if relation in FORWARD_ANSATZ:
            return congruence_power(self.weight.T, *self.forward_parts(relation, power))
        if relation == Relation.BENFA:
            return self.backward_enfa
        matrix = self.backward_agop if relation == Relation.BNFA else self.centred_backward_agop
        return sym_power(matrix, power)

    def forward_parts(self, relation: Relation, power: float) -> tuple[torch.Tensor, float]:
        """(M, s) of a forward relation (W^T M W)^s: the d_out x d_out matrix it is made of, and its power
        (1 for the eNFA, whose ``power`` is NaN)."""
        return getattr(self, FORWARD_ANSATZ[relation]), 1.0 if math.isnan(power) else power

    def agreement(self, powers: Sequence[float] = (0.5, 1.0)) -> list[dict]:
        """One record per relation: layer, side, relation, power, pearson, spearman, cosine, relative_error,
        and the layer's stationarity_error (NaN without targets or lambda), which says whether FACT applies."""
        known = self.loss_grad_input is not None and self.weight_decay is not None
        stationarity = self.stationarity_error if known else float("nan")
        return agreement_records(self, self.comparisons(powers), stationarity)


def agreement_records(
    result: WeightProducts,
    comparisons: Sequence[tuple[str, str, float, torch.Tensor]],
    stationarity: float,
    measures: Sequence[str] = MEASURES,
) -> list[dict]:
    """The records of ``LayerMatrices.agreement``, one per (side, relation, power, predicted matrix) of
    ``comparisons`` and in their order: how well each predicted matrix matches W^T W (side ``"forward"``)
    or W W^T (``"backward"``) of ``result``'s weight, by ``measures`` (all by default). Each side's target is
    ranked once for all its relations."""
    unknown = {comparison[0] for comparison in comparisons} - {"forward", "backward"}
    if unknown:
        raise ValueError(f"comparison sides must be 'forward' or 'backward', got {sorted(unknown)}")
    records: list[dict] = [{} for _ in comparisons]
    for side in ("forward", "backward"):
        indices = [i for i, comparison in enumerate(comparisons) if comparison[0] == side]
        if not indices:
            continue
        target = result.wtw if side == "forward" else result.wwt
        for i, measured in zip(indices, agreements(target, [comparisons[i][3] for i in indices], measures)):
            _, relation, power, _ = comparisons[i]
            records[i] = {
                "layer": result.name,
                "side": side,
                "relation": str(relation),  # a plain string in tables and saved states, whatever named it
                "power": power,
                **measured,
                "stationarity_error": stationarity,
            }
    return records
