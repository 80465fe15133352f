"""Phone numbers in international and national formats, validated with ``phonenumbers``.

A fast regex finds digit runs that look like phone numbers; only those candidates are
parsed. Candidates that are dates, times, years, ISBNs or plain amounts are dropped
before parsing. Scores: international (``+``/``00``) and valid -> 0.95; valid in a
national format with separators -> 0.7 (0.9 with a context word such as "call" or
"phone"); bare digit runs need a valid North American number or a context word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.context import words
from optin.privacy.findings import Finding, Label

_CANDIDATE = re.compile(
    r"(?<![\w+\-./])(?:\+|00)?\(?\d[\d \t().\-/]{5,22}\d(?:[ \t]*(?:x|ext\.?|#)[ \t]*\d{1,6})?"
    r"(?![\w]|[.\-/]\d)"
)
_DATE = re.compile(
    r"^(?:\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}|\d{1,2}[\-/.]\d{1,2}[\-/.]\d{2,4})"
    r"(?:[ \t]+\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)?$"
)
_CONTEXT = words(
    "phone", "tel", "telephone", "mobile", "cell", "cellphone", "call", "calls", "text",
    "fax", "whatsapp", "contact", "reach", "ph", "mob", "dial", "ring", "number", "no",
    "hotline", "sms", "signal", "telegram", "landline", "tél", "telefon", "teléfono",
)  # fmt: skip
_NEGATIVE_CONTEXT = words(
    "isbn", "issn", "doi", "invoice", "order", "account", "acct", "case", "ref",
    "reference", "application", "serial", "version", "tracking", "zip", "postcode",
    "passport", "licence", "license", "ssn", "id", "iban", "card",
)  # fmt: skip
_REGIONS = (
    "US", "GB", "FR", "ES", "IT", "NL", "BE", "AU", "IN", "CA", "SE", "FI", "CH", "DK",
    "NO", "PL", "PT", "IE", "NZ", "CZ", "PH", "BR", "MX", "SG", "ZA",
)  # fmt: skip


@lru_cache(maxsize=65536)
def _valid(candidate: str, regions: tuple[str, ...]) -> str | None:
    """Region in which ``candidate`` is a valid number ('INTL' for +/00 numbers)."""
    s = candidate.strip()
    intl = s.startswith("+") or s.startswith("00")
    if intl:
        try:
            num = phonenumbers.parse("+" + s[2:] if s.startswith("00") else s, None)
        except phonenumbers.NumberParseException:
            return None
        return "INTL" if phonenumbers.is_valid_number(num) else None
    for region in regions:
        try:
            num = phonenumbers.parse(s, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return region
    return None


@register
class PhoneRecognizer(Recognizer):
    name = "phone"
    labels = frozenset({Label.PHONE})

    def __init__(self, regions: tuple[str, ...] = _REGIONS, window: int = 40) -> None:
        self.regions = tuple(regions)
        self.window = window

    def find(self, text: str) -> Iterator[Finding]:
        for m in _CANDIDATE.finditer(text):
            start, end = m.start(), m.end()
            cand = m.group(0)
            # drop an unbalanced trailing/leading parenthesis
            if cand.endswith(")") and "(" not in cand:
                cand = cand[:-1]
                end -= 1
            digits = sum(ch.isdigit() for ch in cand)
            if digits < 7 or digits > 15:
                continue
            if _DATE.match(cand) or "/" in cand and cand.count("/") >= 2:
                continue
            intl = cand.startswith("+") or cand.startswith("00")
            separated = any(ch in cand for ch in " -.()")
            lo = max(0, start - self.window)
            ctx = bool(_CONTEXT.search(text, lo, start))
            neg = bool(_NEGATIVE_CONTEXT.search(text, max(0, start - 20), start))
            if neg and not ctx:
                continue
            if cand[:3] in ("978", "979") and digits == 13:
                continue
            region = _valid(cand, self.regions)
            if region is None:
                continue
            if intl:
                score = 0.95
            elif region in ("US", "CA") and digits in (10, 11):
                score = 0.9 if separated or ctx else 0.75
            elif separated:
                score = 0.9 if ctx else 0.7
            elif ctx:
                score = 0.8
            else:
                continue
            yield Finding(start, end, Label.PHONE, score, self.name, f"valid number ({region})")
