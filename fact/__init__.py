"""fact: the Features at Convergence Theorem for any PyTorch model, and FACT-RFM.

Modules: ``fact.matrices`` (FACT, NFA, eNFA matrices of a model's weights),
``fact.metrics`` (agreement between matrices), ``fact.nets`` (the paper's models and
training), ``fact.data`` (datasets), ``fact.plots`` (figures).
"""

__version__ = "0.1.0"
