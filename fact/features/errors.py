"""The errors the library raises for its users to catch by name."""

from __future__ import annotations


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite objective."""
