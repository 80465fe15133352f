"""Personal-data detection and anonymization.

Two halves share one contract, :mod:`optin.privacy.findings`: ``detect`` finds labelled
spans, ``anonymize`` replaces them. :mod:`optin.privacy.api` joins them for the pipeline
(:class:`Redactor`, built once per process; :class:`RedactorConfig` ships to workers).
Imports are lazy so that ``import optin.privacy`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optin.privacy.findings import Finding, Label

if TYPE_CHECKING:
    from optin.privacy.anonymize import Redacted
    from optin.privacy.api import RedactedBatch, Redactor, RedactorConfig

_LAZY = {
    "Redacted": "optin.privacy.anonymize",
    "RedactedBatch": "optin.privacy.api",
    "Redactor": "optin.privacy.api",
    "RedactorConfig": "optin.privacy.api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'optin.privacy' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["Finding", "Label", "Redacted", "RedactedBatch", "Redactor", "RedactorConfig"]
