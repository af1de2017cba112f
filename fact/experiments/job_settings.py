"""A job's settings JSON <-> the frozen dataclass its stage declares.

Every stage declares what it reads as a frozen dataclass without defaults (the defaults live in
the config schema, once), so a key the workflow forgot, a key it added that no stage reads, or a
value of the wrong type stops the job at once with the key's name, before any work is done.
Nested objects are dataclasses too (the library's own, such as ``SGDSettings`` or ``Kernel``,
may keep their defaults); free-form objects, such as an RFM method's options, are ``dict``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """Settings that do not match what the stage reads; the message names the key."""


def from_json(cls: type[T], value: Any, where: str = "settings") -> T:
    """Build ``cls`` from a parsed JSON object, checking keys and simple types recursively."""
    if not isinstance(value, dict):
        raise SettingsError(f"{where} must be a JSON object with the keys {', '.join(field_names(cls))}, got {value!r}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(fields))
    missing = sorted(name for name, field in fields.items() if name not in value and not has_default(field))
    if unknown or missing:
        problems = [
            f"unknown key(s) {', '.join(f'{where}.{k}' for k in unknown)}" if unknown else "",
            f"missing key(s) {', '.join(f'{where}.{k}' for k in missing)}" if missing else "",
        ]
        reads = ", ".join(field_names(cls))
        raise SettingsError(f"{'; '.join(p for p in problems if p)} (this stage reads exactly: {reads})")
    hints = typing.get_type_hints(cls)
    values = {name: convert(hints[name], value[name], f"{where}.{name}") for name in fields if name in value}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise SettingsError(f"{where}: {error}") from error


def to_json(settings: Any) -> dict:
    """The settings as plain JSON data (lists, not tuples), as they are stored in outputs' metadata."""
    return json.loads(json.dumps(dataclasses.asdict(settings)))


def field_names(cls: type) -> list[str]:
    """The field names of a settings dataclass, in order."""
    return [field.name for field in dataclasses.fields(cls)]


def describe(cls: type) -> str:
    """The keys a settings class reads, nested ones in braces, for a stage's --help."""
    hints = typing.get_type_hints(cls)
    parts = []
    for name in field_names(cls):
        kind = hints[name]
        parts.append(f"{name} {{{describe(kind)}}}" if dataclasses.is_dataclass(kind) else name)
    return ", ".join(parts)


def has_default(field: dataclasses.Field) -> bool:
    """Whether a dataclass field may be left out."""
    return field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING


def convert(kind: Any, value: Any, where: str) -> Any:
    """One value of declared type ``kind``: dataclasses built, lists of tuples made tuples, scalars checked."""
    if dataclasses.is_dataclass(kind):
        return from_json(kind, value, where)
    origin = typing.get_origin(kind)
    arguments = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        (kind,) = [argument for argument in arguments if argument is not type(None)]
        return convert(kind, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise SettingsError(f"{where} must be a list, got {value!r}")
        return tuple(convert(arguments[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise SettingsError(f"{where} must be a JSON object, got {value!r}")
        return value
    if kind in (int, float, str, bool) and not is_a(value, kind):
        raise SettingsError(f"{where} must be of type {kind.__name__}, got {value!r}")
    return value


def is_a(value: Any, kind: type) -> bool:
    """Whether a JSON value is of a field's declared type: a boolean is no number, a number no
    boolean, an int a float."""
    if kind is bool or isinstance(value, bool):  # JSON true is not a number, 1 is not a boolean
        return isinstance(value, bool) and kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)
