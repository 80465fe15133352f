"""Anonymization: turn findings on a text into a redacted text.

Operators (``keep``, ``mask``, ``pseudonym``, ``surrogate``) are registered by name;
a :class:`Policy` says which labels to redact with which operator, the HMAC key for
pseudonyms and surrogates, and when to drop a whole record. This half never imports
detection; both share :mod:`optin.privacy.findings`.
"""

from __future__ import annotations

from optin.privacy.anonymize import keep, mask, pseudonym, surrogate  # noqa: F401 (register)
from optin.privacy.anonymize.base import (
    DocContext,
    Operator,
    get_operator,
    operator_names,
    register,
)
from optin.privacy.anonymize.engine import Redacted, anonymize, merge_overlaps
from optin.privacy.anonymize.policy import DEFAULT_DROP_DENSITY, Policy

__all__ = [
    "DEFAULT_DROP_DENSITY",
    "DocContext",
    "Operator",
    "Policy",
    "Redacted",
    "anonymize",
    "get_operator",
    "merge_overlaps",
    "operator_names",
    "register",
]
