"""fact: the Features at Convergence Theorem for any PyTorch model, and FACT-RFM.

Modules, one job each: ``matrices`` (FACT, NFA, eNFA matrices of a model's weights),
``losses`` (per-sample losses), ``metrics`` (agreement between matrices), ``nets`` (the
paper's models), ``training`` (resumable SGD), ``full_batch`` (training to an exact critical
point), ``kernels``, ``kernel_matrices`` (kernel AGOP and FACT), ``updates`` (NFA and FACT
updates of M), ``ridge`` (the ridge solve and its memory policy), ``rfm`` (the estimator),
``tabular`` (the Table 1 protocol), ``data`` (datasets), ``plots`` (figures), ``scorecard``
(which of the paper's claims the results confirm), ``io`` and ``provenance`` (outputs and what
made them), ``stages`` (the pipeline's entry points).
"""

__version__ = "0.1.0"
