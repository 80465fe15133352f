"""The one parser for a value picked from a fixed set (an action, a format, a kind ...).

::

    kind = parse_choice("members", {k.value: k for k in ImportKind}, field="kind")

Matching ignores case and surrounding space; anything else is an
:class:`~optin.errors.InputError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

from optin.errors import InputError

T = TypeVar("T")
E = TypeVar("E", bound=Enum)


def parse_choice(
    value: object,
    choices: Mapping[str, T],
    *,
    field: str,
    what: str | None = None,
    allowed: str | None = None,
) -> T:
    """``choices[value]`` (case-insensitive); a value of the target type passes through."""
    if not isinstance(value, str):
        for v in choices.values():
            if value == v:
                return v
    key = str(getattr(value, "value", value)).strip().lower()
    hit = {k.lower(): v for k, v in choices.items()}.get(key)
    if hit is not None:
        return hit
    raise InputError(
        what or f"unknown {field}",
        field=field,
        value=value,
        allowed=allowed or ", ".join(dict.fromkeys(choices)),
    )


def parse_enum(value: object, enum: type[E], *, field: str, what: str | None = None) -> E:
    """A member of ``enum`` from its value."""
    return parse_choice(value, {str(m.value): m for m in enum}, field=field, what=what)


__all__ = ["parse_choice", "parse_enum"]
