"""Operator base class, per-document context and the operator registry.

An operator turns one finding's original characters into their replacement. Operators
are small classes with a ``name``; built-ins register exactly as a third party would::

    @register
    class Shout(Operator):
        name = "shout"
        def replace(self, value, finding, ctx): return value.upper()
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from optin.errors import ConfigError
from optin.privacy.anonymize.normalize import normalize
from optin.privacy.findings import Finding, Label


@dataclass(slots=True)
class DocContext:
    """What an operator may know about the document being redacted.

    ``key`` is the snapshot's HMAC key; ``aliases`` maps a surname-only PERSON mention
    (normalised) to the normalised full name it abbreviates in this document, so both
    get the same pseudonym or surrogate. ``avoid`` is the policy's predicate a
    realistic fake must not satisfy (None: no constraint). ``scope`` identifies the
    record (a digest of its text) for digests that must differ from record to record.
    """

    key: bytes
    tag_hex_len: int = 4
    aliases: dict[str, str] = field(default_factory=dict)
    avoid: Callable[[str], bool] | None = None
    scope: bytes = b""

    def entity(self, value: str, label: Label) -> str:
        """The normalised identity of a mention (after surname aliasing)."""
        norm = normalize(value, label)
        if label is Label.PERSON:
            return self.aliases.get(norm, norm)
        return norm

    def digest(self, value: str, label: Label, *, per_record: bool = False) -> bytes:
        """HMAC-SHA256 over (label, normalised entity) under the snapshot key; with
        ``per_record``, over the record's ``scope`` too (the same entity gets another
        digest in another record)."""
        msg = f"{label}\x00{self.entity(value, label)}".encode("utf-8", "surrogatepass")
        if per_record:
            msg = b"record\x00" + self.scope + b"\x00" + msg
        return hmac.new(self.key, msg, hashlib.sha256).digest()


def build_aliases(text: str, findings: Iterable[Finding]) -> dict[str, str]:
    """Map unambiguous surnames of multi-word PERSON mentions to the full name."""
    by_surname: dict[str, str | None] = {}
    for f in findings:
        if f.label is not Label.PERSON:
            continue
        norm = normalize(text[f.start : f.end], Label.PERSON)
        parts = norm.split(" ")
        if len(parts) < 2 or len(parts[-1]) < 2:
            continue
        surname = parts[-1]
        seen = by_surname.get(surname, norm)
        by_surname[surname] = norm if seen == norm else None  # None marks ambiguity
    return {s: full for s, full in by_surname.items() if full is not None}


class Operator(ABC):
    """Replace a finding's original characters. Stateless; one instance per process."""

    name: ClassVar[str]
    #: True when the operator needs a non-empty HMAC key.
    needs_key: ClassVar[bool] = False

    @abstractmethod
    def replace(self, value: str, finding: Finding, ctx: DocContext) -> str:
        """Return the replacement for ``value`` (= ``text[finding.start:finding.end]``)."""


_REGISTRY: dict[str, type[Operator]] = {}
_INSTANCES: dict[str, Operator] = {}

OpT = TypeVar("OpT", bound=type[Operator])


def register(cls: OpT) -> OpT:
    """Class decorator: make an operator available by its ``name``."""
    _REGISTRY[cls.name] = cls
    _INSTANCES.pop(cls.name, None)
    return cls


def operator_names() -> list[str]:
    """Registered operator names, sorted."""
    return sorted(_REGISTRY)


def get_operator(name: str) -> Operator:
    """The operator registered as ``name``; an unknown name lists the valid ones."""
    op = _INSTANCES.get(name)
    if op is not None:
        return op
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown anonymization operator {name!r}; allowed: {', '.join(operator_names())}"
        )
    op = _INSTANCES[name] = cls()
    return op
