"""Government identifiers, each with its structure rule or check digit.

* US SSN ``AAA-GG-SSSS`` (area not 000/666/9xx, group not 00, serial not 0000); bare
  nine digits only next to "SSN"/"social security".
* US ITIN ``9XX-7X-XXXX`` (valid group ranges).
* UK National Insurance number (valid prefixes, suffix A-D).
* Spanish DNI/NIE (mod-23 letter).
* Dutch BSN (11-test), only next to "BSN"/"burgerservicenummer".
* French NIR (mod-97 key).
* Indian Aadhaar (Verhoeff), grouped ``XXXX XXXX XXXX`` or next to "Aadhaar".
* Indian PAN (holder-type letter), Brazilian CPF (two check digits), written
  ``123.456.789-09`` or as 11 digits next to "CPF".
* Passport, driver's licence and national-id numbers next to those words.
* Country-prefixed id codes such as ``GB-ID-7401525`` / ``US-DL-74111304325``.

Check digits by python-stdnum (:mod:`optin.privacy.checksums`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.checksums import (
    aadhaar_ok,
    bsn_ok,
    cpf_ok,
    french_nir_ok,
    pan_ok,
    spanish_dni_ok,
    us_itin_ok,
    us_ssn_ok,
)
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.context import words
from optin.privacy.detect.scan import lower, number_windows
from optin.privacy.findings import Finding, Label

_SSN = re.compile(r"(\d(?<![\w\-.].)\d\d)([\- ])(\d{2})\2(\d{4})(?![\w\-]|\.\d)")
_SSN_BARE = re.compile(r"(\d(?<![\w\-.].)\d\d)(\d{2})(\d{4})(?![\w\-]|\.\d)")
_SSN_CONTEXT = words("ssn", "social security", "social security number", "ss#", "ss no")
_NINO = re.compile(
    r"[A-CEGHJ-PR-TW-Z](?<![\w].)[A-CEGHJ-NPR-TW-Z](?<!BG|GB|KN|NK|NT|TN|ZZ)"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\w])"
)
_DNI = re.compile(r"[\dXYZxyz](?<![\w\-].)(?:(?<=\d)\d{7}|(?<=[XYZxyz])\d{7})-?[A-Za-z](?![\w])")
_NINE = re.compile(r"\d(?<![\w\-.].)\d{8}(?![\w\-]|\.\d)")
_BSN_CONTEXT = words("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer")
_NIR = re.compile(r"[12](?<![\w].) ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\w])")
_AADHAAR = re.compile(r"[2-9](?<![\w\-].)\d{3}([ \-]?)\d{4}\1\d{4}(?![\w\-])")
_AADHAAR_CONTEXT = words("aadhaar", "aadhar", "uidai", "uid")
# Indian PAN: five letters (the fourth the holder type), four digits, a check letter
_PAN = re.compile(r"[A-Z](?<![\w\-].)[A-Z]{2}[PCHFATBLJG][A-Z]\d{4}[A-Z](?![\w\-])")
_CPF = re.compile(r"\d(?<![\w\-.].)\d{2}(\.?)\d{3}\1\d{3}-?\d{2}(?![\w\-]|\.\d)")
_CPF_CONTEXT = words("cpf")
_PREFIXED = re.compile(
    r"[A-Z](?<![\w\-].)[A-Z]-(?:ID|DL|PP|NI|SSN|TIN|NIN|PAN|NID|DNI)-[A-Z0-9]{4,14}(?![\w\-])"
)
_PREFIX_HINT = re.compile(r"-(?:ID|DL|PP|NI|SSN|TIN|NIN|PAN|NID|DNI)-")
_DOC_WORDS = (
    r"(?i)(?:passport|driver'?s?[ \-]?licen[cs]e|driving licen[cs]e|licen[cs]e (?:no|number|#)|"
    r"\bdl\b|national id|national identity|identity card|id card|id number|id no\b|"
    r"\bnin\b|tax id|\btin\b|\bpan\b|personal number|personnummer|henkilötunnus|codice fiscale|"
    r"cédula|cedula|\bcurp\b|\brfc\b|\bnic\b)"
)
_DOC_CONTEXT = re.compile(_DOC_WORDS + r"[^\n]{0,25}$")
_HAS_DIGIT = re.compile(r"\d")
_DOC_KEYS = (
    "id", "passport", "licen", "dl", "identity", "nin", "tin", "pan", "personal number",
    "personnummer", "henkilötunnus", "codice fiscale", "cédula", "cedula", "curp", "rfc", "nic",
)  # fmt: skip


def _by_first_letter(keys: tuple[str, ...]) -> str:
    """An alternation of ``keys`` grouped by first letter (SRE skips a group by its
    first literal; which key matches does not matter to a test for any)."""
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(k[0], []).append(re.escape(k[1:]))
    return "|".join(f"{re.escape(f)}(?:{'|'.join(rest)})" for f, rest in groups.items())


# any of the keys as a substring, in one pass (same as ``any(k in low for k in keys)``)
_DOC_KEYS_ANY = re.compile(_by_first_letter(_DOC_KEYS))
_DOC_TOKEN = re.compile(
    r"[A-Z0-9](?<![\w\-].)(?<=(?=[A-Z0-9\-]*\d)[A-Z0-9])(?:(?<=[A-Z])[A-Z]{0,2}\d|(?<=\d))[A-Z0-9\-]{4,17}(?![\w\-])"
)


@register
class GovIdRecognizer(Recognizer):
    name = "gov_id"
    labels = frozenset({Label.GOV_ID})
    needs_digit = True

    def __init__(self, window: int = 40) -> None:
        self.window = window

    def find(self, text: str) -> Iterator[Finding]:
        if not _HAS_DIGIT.search(text):
            return
        for lo, hi in number_windows(text, 9):
            yield from self._ssn(text, lo, hi)
        for lo, hi in number_windows(text, 4):
            yield from self._simple(text, lo, hi)
        if "-" in text and _PREFIX_HINT.search(text):
            for m in _PREFIXED.finditer(text):
                yield Finding(m.start(), m.end(), Label.GOV_ID, 0.9, self.name, "prefixed id code")
        yield from self._documents(text)

    def _ssn(self, text: str, lo: int, hi: int) -> Iterator[Finding]:
        for m in _SSN.finditer(text, lo, hi):
            area, _, group, serial = m.groups()
            if us_itin_ok(area, group):
                yield Finding(m.start(), m.end(), Label.GOV_ID, 0.9, self.name, "US ITIN")
            elif us_ssn_ok(area, group, serial):
                ctx = _SSN_CONTEXT.search(text, max(0, m.start() - self.window), m.start())
                score = 0.95 if ctx or m.group(2) == "-" else 0.6
                yield Finding(m.start(), m.end(), Label.GOV_ID, score, self.name, "US SSN")
        for m in _NINE.finditer(text, lo, hi):
            lo = max(0, m.start() - self.window)
            value = m.group(0)
            if _SSN_CONTEXT.search(text, lo, m.start()):
                if us_ssn_ok(value[:3], value[3:5], value[5:]):
                    yield Finding(m.start(), m.end(), Label.GOV_ID, 0.9, self.name, "US SSN")
            elif _BSN_CONTEXT.search(text, lo, m.start()) and bsn_ok(value):
                yield Finding(m.start(), m.end(), Label.GOV_ID, 0.9, self.name, "Dutch BSN")

    def _simple(self, text: str, lo: int, hi: int) -> Iterator[Finding]:
        for m in _NINO.finditer(text, lo, hi):
            yield Finding(m.start(), m.end(), Label.GOV_ID, 0.85, self.name, "UK NINO")
        for m in _DNI.finditer(text, lo, hi):
            if spanish_dni_ok(m.group(0)):
                yield Finding(m.start(), m.end(), Label.GOV_ID, 0.85, self.name, "Spanish DNI/NIE")
        for m in _NIR.finditer(text, lo, hi):
            if french_nir_ok(m.group(0)):
                yield Finding(m.start(), m.end(), Label.GOV_ID, 0.85, self.name, "French NIR")
        for m in _PAN.finditer(text, lo, hi):
            if pan_ok(m.group(0)):
                yield Finding(m.start(), m.end(), Label.GOV_ID, 0.8, self.name, "Indian PAN")
        for m in _CPF.finditer(text, lo, hi):
            cpf = m.group(0)
            formatted = bool(m.group(1)) and "-" in cpf
            ctx = _CPF_CONTEXT.search(text, max(0, m.start() - self.window), m.start())
            if (formatted or ctx) and cpf_ok(cpf):
                # outranks a phone reading of the same digits
                yield Finding(m.start(), m.end(), Label.GOV_ID, 0.92, self.name, "Brazilian CPF")
        for m in _AADHAAR.finditer(text, lo, hi):
            digits = m.group(0).replace(" ", "").replace("-", "")
            grouped = bool(m.group(1))
            ctx = _AADHAAR_CONTEXT.search(text, max(0, m.start() - self.window), m.start())
            if (grouped or ctx) and aadhaar_ok(digits):
                yield Finding(m.start(), m.end(), Label.GOV_ID, 0.8, self.name, "Aadhaar")

    def _documents(self, text: str) -> Iterator[Finding]:
        low = lower(text)
        if _DOC_KEYS_ANY.search(low) is None:
            return
        # a document number holds a digit: scan the words around digit runs only
        for wlo, whi in number_windows(text, 1):
            for m in _DOC_TOKEN.finditer(text, wlo, whi):
                lo = max(0, m.start() - self.window)
                if _DOC_CONTEXT.search(low[lo : m.start()]):
                    yield Finding(
                        m.start(), m.end(), Label.GOV_ID, 0.85, self.name, "id with context"
                    )
