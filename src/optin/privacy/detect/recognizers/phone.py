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
from optin.privacy.detect.scan import number_windows
from optin.privacy.findings import Finding, Label

_CANDIDATE = re.compile(
    r"(?<![\w+\-./])(?:\+|00)?\(?\d[\d \t().\-/]{5,22}\d(?:[ \t]*(?:x|ext\.?|#)[ \t]*\d{1,6})?"
    r"(?![\w]|[.\-/]\d)"
)
_DATE = re.compile(
    r"^(?:\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}|\d{1,2}[\-/.]\d{1,2}[\-/.]\d{2,4})"
    r"(?:[ \t]+\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)?$"
)
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_CONTEXT = words(
    "phone", "tel", "telephone", "mobile", "cell", "cellphone", "call", "calls", "text",
    "fax", "whatsapp", "contact", "reach", "ph", "mob", "dial", "ring", "number", "no",
    "hotline", "sms", "signal", "telegram", "landline", "tél", "telefon", "teléfono",
    "office", "desk", "home", "work",
)  # fmt: skip
_STRONG_CONTEXT = words(
    "phone", "tel", "telephone", "mobile", "cell", "cellphone", "call", "calls", "fax",
    "whatsapp", "ph", "mob", "dial", "hotline", "sms", "landline", "tél", "telefon", "teléfono",
)  # fmt: skip
_CASE_NUMBER = re.compile(r"^\d{3,6}/\d{2}$")
_AFTER_CONTEXT = re.compile(
    r"(?i)[ \t]*[\-–(,]?[ \t]*(?:office|fax|mobile|cell|home|work|desk|tel|phone)\b"
)
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
    needs_digit = True

    def __init__(self, regions: tuple[str, ...] = _REGIONS, window: int = 40) -> None:
        self.regions = tuple(regions)
        self.window = window

    def find(self, text: str) -> Iterator[Finding]:
        for lo, hi in number_windows(text, 7):
            yield from self._window(text, lo, hi)

    def _window(self, text: str, lo: int, hi: int) -> Iterator[Finding]:
        for m in _CANDIDATE.finditer(text, lo, hi):
            f = self._check(text, m.start(), m.end())
            if f is None and " " in m.group(0).strip():
                # a postcode or another number glued in front: "30971 21 253 109 8211"
                first = m.group(0).index(" ")
                head = m.group(0)[:first]
                if head.isdigit() and len(head) in (4, 5):
                    f = self._check(text, m.start() + first + 1, m.end())
            if f is not None:
                yield f

    def _check(self, text: str, start: int, end: int) -> Finding | None:
        cand = text[start:end]
        if cand.endswith(")") and "(" not in cand:
            cand = cand[:-1]
            end -= 1
        digits = sum(ch.isdigit() for ch in cand)
        if _not_a_number_shape(cand, digits):
            return None
        ctx = self._context(text, start, end)
        if _NEGATIVE_CONTEXT.search(text, max(0, start - 20), start) and not (
            ctx and _STRONG_CONTEXT.search(text, max(0, start - self.window), start)
        ):
            return None  # "case no. 36110/97", "order number 12345678"
        if _CASE_NUMBER.match(cand):
            return None  # application numbers "36110/97"
        intl = cand.startswith("+") or cand.startswith("00")
        separated = any(ch in cand for ch in " -.()")
        parsed = cand.replace("(0)", "")
        region = _valid(parsed, self.regions)
        if region is None:
            why, score = _unvalidated(parsed, digits, intl, separated, ctx)
        else:
            why, score = f"valid number ({region})", _score(region, digits, intl, separated, ctx)
        if score is None:
            return None
        return Finding(start, end, Label.PHONE, score, self.name, why)

    def _context(self, text: str, start: int, end: int) -> bool:
        """A phone cue before the number ("tel.", "call") or after it."""
        return bool(_CONTEXT.search(text, max(0, start - self.window), start)) or bool(
            _AFTER_CONTEXT.match(text, end, min(len(text), end + 12))
        )


def _not_a_number_shape(cand: str, digits: int) -> bool:
    """Too few or too many digits, an SSN, a date, a path, an ISBN."""
    if digits < 7 or digits > 15:
        return True
    if _SSN_SHAPE.match(cand) or _DATE.match(cand) or cand.count("/") >= 2:
        return True
    return cand[:3] in ("978", "979") and digits == 13


def _unvalidated(
    parsed: str, digits: int, intl: bool, separated: bool, ctx: bool
) -> tuple[str, float | None]:
    """(explanation, score or None) of a number no region's plan validates."""
    if intl and _possible(parsed):
        return "possible intl number", 0.85
    if ctx and (separated or intl):
        return "number + phone context", 0.75
    if ctx and digits >= 9:
        return "number + phone context", 0.7
    return "", None


def _score(region: str, digits: int, intl: bool, separated: bool, ctx: bool) -> float | None:
    """The score of a number valid in ``region`` (None: too weak without context)."""
    if intl:
        return 0.95
    if region in ("US", "CA") and digits in (10, 11):
        return 0.9 if separated or ctx else 0.75
    if separated:
        return 0.9 if ctx else 0.7
    if ctx:
        return 0.8
    return None


@lru_cache(maxsize=16384)
def _possible(candidate: str) -> bool:
    s = candidate.strip()
    try:
        num = phonenumbers.parse("+" + s[2:] if s.startswith("00") else s, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(num)
