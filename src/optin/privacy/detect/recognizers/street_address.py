"""Street addresses (label LOCATION, recognizer ``street_address``).

Cities and countries are LOCATION findings of the ``location`` recognizer and are kept
by the ``default`` profile; findings of this recognizer are redacted by ``default``
through its ``redact_recognizers`` rule (see :mod:`optin.privacy.profiles`).

Forms: "221B Baker Street", "1600 Pennsylvania Ave NW, Apt. 4", "Via Franscini 71",
"Koskikatu 25", "Hauptstraße 5", "Rue de la Paix 12" / "12 rue de la Paix", number-last
"Elm Street 87", street names without a type word "Kingsway 180", multi-word foreign
names "Rua das Flores 123" / "Calle de Alcalá 42", unit designators ("Suite 838",
"Apt. 595") and "PO Box 123".
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import (
    cap_spans,
    cap_words,
    digit_runs,
    digit_windows,
    lower,
    windows_around,
)
from optin.privacy.findings import Finding, Label

_UP = "A-ZÀ-ÖØ-ÞĀ-ſ"
_WORD = rf"[{_UP}0-9][\w'’.\-]*"
_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|"
    r"Pl|Square|Sq|Squares|Terrace|Ter|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Close|Crescent|"
    r"Cres|Gardens|Grove|Row|Mews|Hill|Walk|Alley|Trail|Trl|Path|Pike|Loop|Plaza|Expressway|"
    r"Freeway|Turnpike|Crossing|Ridge|Heights|Park|Marg|Nagar|Chowk|Gali)"
)
_UNIT = (
    r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Fl|Floor|Room|Rm|Bldg|Building|#)\.?\s*#?\s*[\w\-]{1,6}"
)
_NUMBERED = re.compile(
    rf"\d(?<![\w\-.,].)\d{{0,5}}[A-Za-z]?(?:-\d{{1,4}})?,?[ \t]+"
    rf"(?:{_WORD}[ \t]+){{0,4}}{_SUFFIX}\b\.?"
    rf"(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\b)?"
    rf"(?:,?[ \t]*(?:{_UNIT}))?"
)
_ORDINAL_STREET = re.compile(rf"\d(?<![\w\-].)\d{{0,2}}(?:st|nd|rd|th)[ \t]+{_SUFFIX}\b")
_CONTINENTAL = re.compile(
    rf"(?<![\w\-])(?:[{_UP}][\w'’\-]*?(?:straße|strasse|str\.|gasse|weg|allee|platz|ring|"
    rf"katu|kuja|tie|polku|gatan|vägen|gränd|gade|vej|veien|gata|straat|laan|gracht|plein|"
    rf"utca|ulica|ul\.|ulice|rua|calle|carrer))(?:[ \t]+\d{{1,5}}[A-Za-z]?\b(?:[ \t]*[A-Z]\b)?)"
    rf"(?:,?[ \t]*(?:{_UNIT}))?"
)
_STREET_PARTICLE = "(?:de|del|de la|della|delle|dei|degli|des|du|di|da|dos|das|do|la|le|los|las)"
_PREFIXED = re.compile(
    rf"(?<![\w\-])(?:(?:\d{{1,5}},?[ \t]+)?(?:Via|Viale|Piazza|Corso|Rue|Avenue|Boulevard|Calle|"
    rf"Avenida|Av\.|Carrer|Rua|Travessa|Praça|Plaza|Paseo|Strada|Ulica|Ul\.|Utca)"
    rf"(?:[ \t]+(?:{_STREET_PARTICLE}\b|[{_UP}][\w'’\-]*)){{1,4}}"
    rf"(?:,?[ \t]+\d{{1,5}}[A-Za-z]?\b)?)"
)
# "Elm Street 87", "Baker St. 12B": a street type word, then the house number
_NUMBER_LAST = re.compile(
    rf"(?<![\w\-])(?:[{_UP}][\w'’\-]*[ \t]+){{1,3}}{_SUFFIX}\.?[ \t]+"
    rf"(?!(?:19|20)\d\d\b)\d{{1,5}}[A-Za-z]?\b"  # not a year: "Main Street 2024 survey"
    rf"(?![.,]\d|[ \t]*(?:%|km|mi|m|min|h|hours|years|people|am|pm)\b)"
)
# "Kingsway 180", "Broadway 1500": one word that is itself a street name, then a number
_COMPOUND = re.compile(
    rf"(?<![\w\-])[{_UP}][\w'’\-]*?(?:way|gate|street|road|lane)[ \t]+\d{{1,5}}[A-Za-z]?\b"
    rf"(?![.,]\d)"
)
_UNIT_ALONE = re.compile(
    r"(?<![\w\-])(?:Apt|Apartment|Suite|Ste|Unit|Flat)\.?[ \t]*#?[ \t]*\d[\w\-]{0,5}\b"
)
# Japanese block addresses, romanised: "7-26-168 Yamamoto-cho", "Ginza 4-5-6", "1-2-3
# Nishi-Shinjuku" (chōme-banchi-gō, then or after the district name)
_JP_DISTRICT = r"[A-Z][a-zāōū]+(?:-[A-Za-zāōū]+)*?-(?:cho|chō|machi|ku|shi|gun|mura|dori|dōri)"
_JAPANESE = re.compile(
    rf"(?<![\w\-])(?:\d{{1,4}}-\d{{1,4}}(?:-\d{{1,4}})?,?[ \t]+{_JP_DISTRICT}\b|"
    rf"\d{{1,2}}-\d{{1,2}}-\d{{1,4}},?[ \t]+[A-Z][a-z]+-[A-Z][a-z]+\b|"
    rf"{_JP_DISTRICT}[ \t]+\d{{1,4}}-\d{{1,4}}(?:-\d{{1,4}})?(?![\w\-]))"
)
# after a street address: city words, an optional state or province, then the postal code
# (US ZIP, Indian PIN, 4-digit codes that are not years, Canadian and UK forms), or a continental
# code before the city
_POSTAL_TAIL = re.compile(
    rf",?[ \t]+(?:(?:[{_UP}][\w'’\-]*[ \t]+){{0,2}}[{_UP}][\w'’\-]*,?(?:[ \t]+[A-Z]{{2}}\b)?"
    rf"[ \t]+(?P<code>\d{{5,6}}(?:-\d{{4}})?|(?!(?:19|20)\d\d\b)\d{{4}}|"
    rf"[A-Z]\d[A-Z][ \t]?\d[A-Z]\d|"
    rf"[A-Z]{{1,2}}\d[A-Z\d]?[ \t]\d[A-Z]{{2}})(?![\w\-])"
    rf"|(?P<code2>\d{{4,5}})[ \t]+[{_UP}][\w'’\-]+)"
)
# a gate (found or not): both forms hold a "-", so the pattern starts there (a literal
# is searched at C speed) and looks back for the digit of the first form
_JP_GATE = re.compile(r"-(?:(?<=\d-)\d{1,4}-\d|(?:cho|chō|machi|ku|shi|gun|mura|dori|dōri)\b)")
_HAS_DIGIT = re.compile(r"\d")
_PO_BOX = re.compile(r"(?i)(?<![\w])P\.?\s?O\.?\s?Box\s+\d{1,6}\b")


@register
class StreetAddressRecognizer(Recognizer):
    name = "street_address"
    labels = frozenset({Label.LOCATION})
    needs_digit = True

    def find(self, text: str) -> Iterator[Finding]:
        for f in self._streets(text):
            yield f
            # the postal code of the same address ("…, Atlanta, IL 97025", "…, Sydney
            # 2827", "…, 10115 Berlin"): redacted with the street, the city is kept
            m = _POSTAL_TAIL.match(text, f.end)
            if m:
                code = m.start("code") if m.group("code") else m.start("code2")
                end = m.end("code") if m.group("code") else m.end("code2")
                yield Finding(code, end, Label.LOCATION, 0.9, self.name, "postal code")

    def _streets(self, text: str) -> Iterator[Finding]:
        if not _HAS_DIGIT.search(text):
            return
        # every form holds a number: scan windows around digit runs only, and only with
        # the patterns whose key words occur in the text
        starts = _numbers_before_street_words(text)
        if starts:
            for lo, hi in windows_around(text, starts, 0, 70):
                for pattern, score, why in _NUMBER_FIRST:
                    for m in pattern.finditer(text, lo, hi):
                        yield Finding(m.start(), m.end(), Label.LOCATION, score, self.name, why)
        later = [p for p in _NUMBER_LATER if p[3](text)]
        if not later:
            return
        for lo, hi, _ in digit_windows(text, 50, 40):
            for pattern, score, why, _gate in later:
                for m in pattern.finditer(text, lo, hi):
                    if pattern is _PREFIXED:
                        if not any(ch.isdigit() for ch in m.group(0)):
                            # "Avenue Q" alone is not an address unless a number follows
                            continue
                        # street prefix + name + number outranks a name tag on one of
                        # its words ("Calle" as a first name)
                        yield Finding(
                            m.start(), m.end(), Label.LOCATION, 0.85, self.name, why + " + number"
                        )
                        continue
                    if pattern is _COMPOUND and m.group(0).split()[0].lower() in _NOT_COMPOUND:
                        continue
                    yield Finding(m.start(), m.end(), Label.LOCATION, score, self.name, why)


_CONTINENTAL_ENDS = (
    "straße", "strasse", "str.", "gasse", "weg", "allee", "platz", "ring", "katu", "kuja",
    "tie", "polku", "gatan", "vägen", "gränd", "gade", "vej", "veien", "gata", "straat",
    "laan", "gracht", "plein", "utca", "ulica", "ul.", "ulice", "rua", "calle", "carrer",
)  # fmt: skip
_PREFIX_WORDS = frozenset(
    w + tail
    for w in (
    "Via", "Viale", "Piazza", "Corso", "Rue", "Avenue", "Boulevard", "Calle", "Avenida",
    "Av.", "Carrer", "Rua", "Travessa", "Praça", "Plaza", "Paseo", "Strada", "Ulica", "Ul.",
    "Utca",
    )
    for tail in ("", ".")
)  # fmt: skip
_UNIT_WORDS = frozenset(
    w + tail for w in ("Apt", "Apartment", "Suite", "Ste", "Unit", "Flat") for tail in ("", ".")
)


_STREET_WORDS = frozenset(_SUFFIX[3:-1].split("|"))
# the capitalised-word forms of a street type: "St", "St.", "Street's"
_STREET_FORMS = frozenset(w + t for w in _STREET_WORDS for t in ("", ".", "'s", "’s"))


def _numbers_before_street_words(text: str) -> list[int]:
    """Starts of digit runs followed within 70 characters by a street type word."""
    words = cap_words(text)
    if _STREET_FORMS.isdisjoint(words):
        return []
    spans = cap_spans(text)
    at = [spans[i][0] for i, w in enumerate(words) if w in _STREET_FORMS]
    out: list[int] = []
    for s, e, _ in digit_runs(text):
        k = bisect.bisect_right(at, e)
        if k < len(at) and at[k] - e <= 70:
            out.append(s)
    return out


def _continental_gate(text: str) -> bool:
    """Some digit run follows a word ending like a street name ("Koskikatu 25")."""
    for s, _, d in digit_runs(text):
        if d <= 5 and s > 2 and text[s - 1] == " ":
            k = text.rfind(" ", max(0, s - 40), s - 1) + 1
            if text[k : k + 1].isupper() and text[k : s - 1].lower().endswith(_CONTINENTAL_ENDS):
                return True
    return False


def _number_last_gate(text: str) -> bool:
    """A street type word followed by a number ("Street 87")."""
    words = cap_words(text)
    if _STREET_FORMS.isdisjoint(words):
        return False
    spans = cap_spans(text)
    return any(
        w in _STREET_FORMS and _NUMBER_AFTER.match(text, spans[i][1]) for i, w in enumerate(words)
    )


_NUMBER_AFTER = re.compile(r"\.?[ \t]+\d")
_COMPOUND_ENDS = ("way", "gate", "street", "road", "lane")
# countries and words that end like a street name but are none
_NOT_COMPOUND = frozenset({"norway", "gateway", "highway", "runway", "subway", "halfway"})


def _compound_gate(text: str) -> bool:
    for s, _, d in digit_runs(text):
        if d <= 5 and s > 2 and text[s - 1] == " ":
            k = text.rfind(" ", max(0, s - 40), s - 1) + 1
            word = text[k : s - 1].lower()
            if (
                text[k : k + 1].isupper()
                and word.endswith(_COMPOUND_ENDS)
                and word not in _NOT_COMPOUND
                and word not in _COMPOUND_ENDS
            ):
                return True
    return False


def _has_any(words: frozenset[str]) -> Callable[[str], bool]:
    return lambda text: not words.isdisjoint(cap_words(text))


_NUMBER_FIRST = (
    (_NUMBERED, 0.8, "number + street type"),
    (_ORDINAL_STREET, 0.6, "ordinal street"),
)
_NUMBER_LATER: tuple[tuple[re.Pattern[str], float, str, Callable[[str], bool]], ...] = (
    (_CONTINENTAL, 0.75, "street name + number", _continental_gate),
    (_NUMBER_LAST, 0.8, "street type + number", _number_last_gate),
    (_COMPOUND, 0.7, "street name + number", _compound_gate),
    (_PREFIXED, 0.6, "street prefix", _has_any(_PREFIX_WORDS)),
    (_UNIT_ALONE, 0.6, "unit designator", _has_any(_UNIT_WORDS)),
    (_PO_BOX, 0.8, "PO box", lambda t: "box" in lower(t)),
    (_JAPANESE, 0.75, "Japanese block address", lambda t: _JP_GATE.search(t) is not None),
)
