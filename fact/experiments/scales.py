"""The settings of each scale: config.yaml's quick scale in full, every other scale as what differs from it.

``scales.quick`` writes every setting once; ``scales.paper`` writes only the values that differ at the
paper's sizes. A scale's settings are the quick scale's with its own merged in: a mapping merges key
by key, anything else (a number, a string, a list) replaces the quick scale's value whole. So a value
changed in the quick scale changes every scale that does not set its own.

Standard library only: the workflow reads it while building the DAG.
"""

from __future__ import annotations

import copy
from typing import Any

BASE_SCALE = "quick"  # the scale that writes every setting


def merged(base: Any, overrides: Any) -> Any:
    """``base`` with ``overrides`` merged in: mappings key by key, anything else replaced whole."""
    if not (isinstance(base, dict) and isinstance(overrides, dict)):
        return copy.deepcopy(overrides)
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        result[key] = merged(base[key], value) if key in base else copy.deepcopy(value)
    return result


def scale_settings(scales: dict[str, dict], scale: str) -> dict:
    """Every setting of ``scale`` (config.yaml's ``scales``): the base scale's, with the scale's own merged in."""
    if scale not in scales:
        raise KeyError(f"there is no scale {scale!r} under scales: in config.yaml (there are: {', '.join(scales)})")
    base = scales[BASE_SCALE]
    return copy.deepcopy(base) if scale == BASE_SCALE else merged(base, scales[scale] or {})
