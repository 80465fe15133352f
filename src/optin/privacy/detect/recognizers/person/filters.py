"""Filters of the person recognizer: findings that are an address, a product or a field.

* a capitalised run right after a house number or unit, or right before a number, is
  part of an address: "526 Rua Cyro Schmutzer Franco 1213", "Suite 980 Reichenbach";
* a one-word finding that is not a known name before a job-role noun names a field or a
  product ("DevOps Engineer", "Salesforce Developer");
* a CamelCase word that is not a known name and ends in a tech part is a product
  ("GitHub", "JavaScript", "MacBook").
"""

from __future__ import annotations

import re

from optin.privacy.detect.recognizers.person.tokens import NAME_BITS, flags
from optin.privacy.detect.recognizers.person.words import TECH_TAILS
from optin.privacy.findings import Finding

_ADDRESS_BEFORE = re.compile(r"(?:\b\d{1,6}[A-Za-z]?|\bApt\.?|\bSuite|\bBox)[ \t]*,?[ \t]+$")
_ADDRESS_AFTER = re.compile(r"[ \t]+\d{1,5}(?:[ \t,]|$)")
_ROLE_AFTER = re.compile(
    r"[ \t]+(?:Engineers?|Developers?|Managers?|Designers?|Analysts?|Scientists?|"
    r"Architects?|Leads?|Directors?|Consultants?|Interns?|Administrators?|Admins?|"
    r"Specialists?|Officers?|Technicians?|Programmers?|Testers?|Recruiters?|Coordinators?)\b"
)
_CAMEL_PART = re.compile(r"[A-Z][a-z]*|[a-z]+|\d+")


def in_address(text: str, f: Finding) -> bool:
    """Whether ``f`` is part of a street address (cued findings never are)."""
    if f.explanation in ("title + name", "field label", "introduced name"):
        return False
    return bool(
        _ADDRESS_BEFORE.search(text, max(0, f.start - 12), f.start)
        or _ADDRESS_AFTER.match(text, f.end)
    )


def product_or_field(text: str, f: Finding) -> bool:
    """A one-word finding that is a field or product, not a person."""
    tok = text[f.start : f.end]
    if not tok[:1].isalpha() or " " in tok:
        return False
    if flags(tok) & NAME_BITS:
        return False
    if _ROLE_AFTER.match(text, f.end):
        return True
    if not any(ch.isupper() for ch in tok[1:]):
        return False
    parts = _CAMEL_PART.findall(tok)
    return len(parts) >= 2 and parts[-1].lower() in TECH_TAILS
