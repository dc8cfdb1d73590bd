"""The types of plain JSON data a record keeps as it came: a configuration, a protocol's settings.

A record whose content is structured gets its own frozen dataclass; what is a document by nature (the
values of a trial's configuration, the settings a study ran with, copied from its config) is typed as
JSON: values a reader compares and prints, never an ``Any`` that hides a misspelled field.
"""

from __future__ import annotations

from typing import Mapping, Union

JsonScalar = Union[bool, int, float, str, None]
JsonValue = Union[JsonScalar, list["JsonValue"], dict[str, "JsonValue"]]
Document = dict[str, JsonValue]  # a JSON object: a configuration, a protocol's settings


def number(value: object, default: float = 0.0) -> float:
    """A JSON number read back as a float (``default`` for a missing or non-numeric value)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def integer(value: object, default: int = 0) -> int:
    """A JSON integer read back (``default`` for a missing or non-numeric value; a float is truncated)."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def optional_number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def optional_integer(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def document(value: object) -> Document:
    """A JSON object read back (``{}`` for anything else), its keys as strings."""
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}
