"""Datasets: ``fetch`` and ``manifest`` (checksum-verified files from a mirror or a download),
readers of the fetched collections (``uci121``, ``images``), scikit-learn's bundled sets
(``tabular``) and the synthetic tasks (``synthetic``, ``parity``, ``modular``)."""
