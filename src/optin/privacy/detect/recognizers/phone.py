"""Phone numbers in international and national formats, validated with ``phonenumbers``.

A fast regex finds digit runs that look like phone numbers; only those candidates are
parsed. Candidates that are dates, times, years, ISBNs or plain amounts are dropped
before parsing. Scores: international (``+``/``00``) and valid -> 0.95; valid in a
national format with separators -> 0.7 (0.9 with a context word such as "call" or
"phone"); bare digit runs need a valid North American number or a context word.

Speed: a number without ``+`` is tried against every region of the recognizer's list
(25 by default), and ``phonenumbers.parse`` + ``is_valid_number`` costs about a tenth of
a millisecond per region. Before parsing in a region, :func:`_may_be_valid` applies a
necessary condition built from the same metadata: the candidate's digits are
optionally the region's country code and a national prefix, optionally a national
prefix or carrier code (all ``phonenumbers`` strips from the front), then a national
number matching one of the number-type patterns of some region sharing that country
code. Regions that fail it are skipped without parsing, so the region found, the score
and every finding stay the same as parsing in every region; candidates the condition
cannot judge (an international dialling prefix of the region, an extension, non-ASCII
digits) are parsed as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

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
    # other languages: "Llámame al", "erreichbar unter", "ligue para", "chiamami al"
    "llámame", "llamame", "llama", "llamar", "móvil", "movil", "celular", "telefone",
    "ligue", "liga", "unter", "anrufen", "handy", "ruf", "numéro", "appelle", "appelez",
    "chiamami", "chiama", "cellulare", "contatto", "contacto", "contato", "mobil",
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
    # where the platform's members also write national numbers (tried last)
    "DE", "AT", "AR", "CO", "CL", "JP", "KR", "CN", "HK", "NG", "KE", "TR", "AE",
)  # fmt: skip


_NON_DIGIT = re.compile(r"[^0-9]")


_TYPES = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)  # fmt: skip


def _alternatives(meta: PhoneMetadata) -> list[str] | None:
    """One regex per number type of ``meta``: its pattern, only at its possible lengths."""
    general = meta.general_desc
    if general is None or general.national_number_pattern is None:
        return None
    g_lengths = set(general.possible_length)
    out = []
    for name in _TYPES:
        desc = getattr(meta, name, None)
        if desc is None or desc.national_number_pattern is None:
            continue
        lengths = sorted(set(desc.possible_length or g_lengths) & g_lengths or g_lengths)
        ahead = "|".join(f"[0-9]{{{n}}}" for n in lengths)
        look = f"(?=(?:{ahead})\\Z)" if lengths else ""
        out.append(f"{look}(?:{desc.national_number_pattern})")
    return out


@lru_cache(maxsize=64)
def _region_filter(region: str) -> tuple[re.Pattern[str], re.Pattern[str] | None] | None:
    """(candidate pattern, international-prefix pattern) of ``region``; None: cannot judge.

    The candidate pattern fullmatches the digits of every number ``parse(s, region)``
    can turn into a valid one: optionally the country code (itself optionally followed
    by a national prefix), optionally a national prefix (what ``parse`` may strip, in
    that order), then a national number of one of the
    number types (at that type's possible lengths) of some region sharing the country
    code, which is what ``is_valid_number`` requires of the national significant number.
    """
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.country_code is None:
        return None
    alts: list[str] = []
    for other in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, (region,)):
        m = PhoneMetadata.metadata_for_region(other)
        got = None if m is None else _alternatives(m)
        if got is None:
            return None  # cannot judge: parse
        alts += got
    if meta.national_prefix_transform_rule:
        head = "[0-9]*?"  # a transformed prefix (Brazil's carrier codes): any prefix
    else:  # parse strips at most: the country code and a national prefix (or carrier
        # code) after it, then once more a national prefix
        npp = f"(?:{meta.national_prefix_for_parsing})?" if meta.national_prefix_for_parsing else ""
        head = f"(?:{meta.country_code}{npp})?{npp}"
    suffix = re.compile(head + "(?:" + "|".join(alts) + ")")
    idd = re.compile(meta.international_prefix) if meta.international_prefix else None
    return suffix, idd


def _may_be_valid(digits: str, region: str) -> bool:
    """False only when ``phonenumbers.parse(s, region)`` cannot give a valid number for a
    candidate whose ASCII digits are ``digits`` (no extension); True when unsure."""
    filt = _region_filter(region)
    if filt is None:
        return True
    suffix, idd = filt
    if idd is not None and idd.match(digits):
        return True  # an international dialling prefix: another country's number
    return suffix.fullmatch(digits) is not None


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
    digits = _NON_DIGIT.sub("", s)
    # judged only with ASCII digits and no extension ("x 12", "ext. 3", "# 4")
    judge = s.isascii() and not any(c.isalpha() or c == "#" for c in s)
    for region in regions:
        if judge and not _may_be_valid(digits, region):
            continue
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
        for region in self.regions:  # compile the region filters now, not on a first post
            _region_filter(region)
        # phonenumbers compiles its metadata patterns through ``re``'s bounded cache;
        # numbers from many regions evict them and each validation recompiles. Its own
        # unbounded cache (where this phonenumbers has one) keeps every pattern once.
        enable = getattr(phonenumbers, "enable_pattern_cache", None)
        if enable is not None:
            enable()

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
        return (
            bool(_CONTEXT.search(text, max(0, start - self.window), start))
            or bool(_AFTER_CONTEXT.match(text, end, min(len(text), end + 12)))
            # a field of a contact line: "Jane Roe | 011 15-2352-9660 | jane@..."
            or text[max(0, start - 2) : start] == "| "
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
