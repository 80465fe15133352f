"""Organisations (label ORG; kept by every built-in profile).

Found so that company names are not mistaken for people: capitalised words ending in a
legal/organisational suffix ("Acme Ltd", "Barnes, Barnes and Johnson LLP"), partnership
names ("Reid, Webb and Alvarez"), and a short list of brands that are also surnames.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect import lexicon
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import cap_spans, cap_words, windows_around
from optin.privacy.findings import Finding, Label

_CAPW = r"[A-Z][\w'’&\-]*"
_SUFFIX = (
    r"(?:Inc|Incorporated|LLC|L\.L\.C|Ltd|Limited|Corp|Corporation|Co|Company|GmbH|AG|SA|"
    r"S\.A|SAS|SARL|BV|NV|AB|ASA|Oy|PLC|Plc|LLP|LP|Pty|Group|Holdings|Partners|Associates|"
    r"Foundation|Institute|University|College|Bank|Capital|Ventures|Labs|Technologies|"
    r"Solutions|Systems|Services|Consulting|Agency|Studios?|Media|Press|Publishing|Industries|"
    r"Enterprises|International|Store|Stores|Retail|Hospital|Clinic|Council|Ministry|"
    r"Department|Office|Court|Commission|Committee|Authority|Association|Society|Union|Trust)"
)
# "Acme, Inc." takes a comma before a legal form only ("Mr Roe, Ministry of ..." is not one)
_LEGAL = (
    r"(?:Inc|Incorporated|LLC|L\.L\.C|Ltd|Limited|Corp|Corporation|Co|GmbH|AG|SA|S\.A|SAS|"
    r"SARL|BV|NV|AB|ASA|Oy|PLC|Plc|LLP|LP|Pty)"
)
_SUFFIXED = re.compile(
    rf"(?<![\w@#])(?:{_CAPW}[ \t]+){{0,4}}{_CAPW}(?:,[ \t]+{_LEGAL}|[ \t]+{_SUFFIX})\b\.?"
)
_HOUSE_NUMBER = re.compile(r"(?<![\w\-.,])\d{1,5}[A-Za-z]?,?[ \t]+$")
_SUFFIX_HINT = re.compile(rf"[ \t]{_SUFFIX}\b")
_PARTNERS = re.compile(
    rf"(?<![\w@#]){_CAPW}(?:,[ \t]+{_CAPW}){{1,3}},?[ \t]+(?:and|&)[ \t]+{_CAPW}(?![\w])"
)
_HYPHENED = re.compile(
    r"(?<![\w@#\-])[A-Z][a-z]+-[A-Z][a-z]+(?=[ \t]+(?:Inc|LLC|Ltd|PLC|Group|Store))"
)
_BRANDS = re.compile(
    r"\b(?:Ford|Dell|Disney|Boeing|Porsche|Ferrari|Honda|Toyota|Chanel|Gucci|Prada|Armani|"
    r"Versace|Dior|Hilton|Marriott|Walmart|Tesla|Nestl[eé]|Philips|Siemens|Bosch|Adidas|Puma|"
    r"Kellogg'?s?|Heinz|Hershey|Deloitte|Accenture|McDonald'?s|Wendy'?s|Macy'?s|Ikea|IKEA|"
    r"Google|Microsoft|Amazon|Apple|Meta|Facebook|LinkedIn|Twitter|Netflix|Spotify|Uber|"
    r"Airbnb|Oracle|Intel|Nvidia|Samsung|Sony|Nokia|Ericsson|Volvo|Renault|Peugeot|Citroen|"
    r"Cadillac|Chevrolet|Lincoln|Dodge|Chrysler|Bentley|Rolls-Royce|Lamborghini|Maserati)\b"
)


_SUFFIX_WORDS = frozenset(
    w.replace("\\", "").replace("?", "") for w in _SUFFIX[3:-1].split("|") if "\\." not in w
) | {"Studio"}
_BRAND_NAMES = [b for b in _BRANDS.pattern[6:-3].split("|")]


def _brand_variants() -> dict[str, str]:
    """Capitalised word -> brand part of it ("Ford's" -> "Ford", "Kelloggs" -> "Kelloggs")."""
    out: dict[str, str] = {}
    for b in _BRAND_NAMES:
        forms = {b}
        if b.endswith("'?s?"):
            stem = b[:-4]
            forms = {stem, stem + "s", stem + "'s"}
        elif b.endswith("'?s"):
            stem = b[:-3]
            forms = {stem + "s", stem + "'s"}
        elif "[eé]" in b:
            forms = {b.replace("[eé]", "e"), b.replace("[eé]", "é")}
        for f in forms:
            out[f] = f
            for tail in ("'s", "’s", "."):
                if not f.endswith("s"):
                    out.setdefault(f + tail, f)
    return out


_BRAND_TOKENS = _brand_variants()
_TOKEN_HINTS = frozenset(_BRAND_TOKENS) | frozenset(
    w + tail for w in _SUFFIX_WORDS for tail in ("", ".", "'s", "’s", "s'", "s’")
)


_PEOPLE_BEFORE = re.compile(
    r"(?i)\b(?:founders?|co-?founders|friends|members|parents|kids|children|sons|daughters|"
    r"siblings|brothers|sisters|guests|speakers|authors|winners|players|students|colleagues|"
    r"family|team|staff|employees|people|artists|singers)\b[^.\n]{0,16}$"
)


def _and_positions(text: str) -> list[int]:
    """Positions of " and "/" & " followed by a capital letter (partnership names)."""
    out: list[int] = []
    for needle in (" and ", " & "):
        p = text.find(needle)
        while p >= 0:
            q = p + len(needle)
            if text[q : q + 1].isupper():
                out.append(q)
            p = text.find(needle, q)
    out.sort()
    return out


@register
class OrgRecognizer(Recognizer):
    name = "org"
    labels = frozenset({Label.ORG})
    exact_labels = True
    max_score = 0.9  # every finding scores at most this (analyzer)

    def find(self, text: str) -> Iterator[Finding]:
        spans = cap_spans(text)
        if not spans:
            return
        suffixes: list[int] = []
        yield from self._brands(text, spans, cap_words(text), suffixes)
        if suffixes or "L.L.C" in text or "S.A" in text:
            yield from self._suffixed(text, suffixes)
        if ", " in text:
            ands = _and_positions(text)
            if ands:
                yield from self._partners(text, windows_around(text, ands, 140, 0))

    def _brands(
        self, text: str, spans: list[tuple[int, int]], words: list[str], suffixes: list[int]
    ) -> Iterator[Finding]:
        """Known brands that are also surnames; collects where suffix words start."""
        if _TOKEN_HINTS.isdisjoint(words):
            return
        for i in [i for i, w in enumerate(words) if w in _TOKEN_HINTS]:
            s, w = spans[i][0], words[i]
            if w in _BRAND_TOKENS:
                b = _BRAND_TOKENS[w]
                yield Finding(s, s + len(b), Label.ORG, 0.88, self.name, "known brand")
            elif s and text[s - 1] in " \t":
                suffixes.append(s)

    def _suffixed(self, text: str, suffixes: list[int]) -> Iterator[Finding]:
        """Capitalised words ending in a legal suffix ("Acme Ltd")."""
        # the longest match is five capitalised words and a suffix; scan just those
        wins = [(0, len(text))] if not suffixes else windows_around(text, suffixes, 160, 0)
        for lo, hi in wins:
            for m in _SUFFIXED.finditer(text, lo, hi):
                if m.group().endswith(("Court", "Office")) and _HOUSE_NUMBER.search(
                    text, max(0, m.start() - 12), m.start()
                ):
                    continue  # "29 Hernandez Court": a street address, not a court
                yield Finding(m.start(), m.end(), Label.ORG, 0.9, self.name, "organisation suffix")

    def _partners(self, text: str, wins: list[tuple[int, int]]) -> Iterator[Finding]:
        lex = lexicon.names()
        for m in (m for lo, hi in wins for m in _PARTNERS.finditer(text, lo, hi)):
            parts = re.findall(r"[A-Z][\w'’&\-]*", m.group(0))
            flags = [lex.get(p.lower(), (0, 0))[0] for p in parts]
            # "Alice, Bob and Carol" is a list of people, not a firm
            if sum(1 for f in flags if f & lexicon.FIRST and not f & lexicon.LAST) >= 1:
                continue
            # "our 3 founders: Rudi, Jackson and Campos"
            if _PEOPLE_BEFORE.search(text, max(0, m.start() - 40), m.start()):
                continue
            yield Finding(m.start(), m.end(), Label.ORG, 0.88, self.name, "partnership name")
