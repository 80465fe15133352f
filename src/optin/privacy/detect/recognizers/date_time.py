"""Dates and times (label DATE_TIME).

Recognizer name ``date_time`` for ordinary dates (kept by ``default``), and
``date_of_birth`` when a birth cue ("born", "DOB", "date of birth", "birthday") precedes
the date; ``strict`` redacts every DATE_TIME finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import cap_words, digit_runs
from optin.privacy.findings import Finding, Label

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_TIME = (
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp]\.?[Mm]\.?)?(?:\s?(?:UTC|GMT|IST|[A-Z]{2,4}T))?)"
)
_DATE = re.compile(
    rf"(?<![\w\-/.])(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}{_TIME}?"
    rf"|\d{{1,2}}[/.]\d{{1,2}}[/.](?:\d{{4}}|\d{{2}})"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|{_MONTH}\s+\d{{4}}"
    rf"|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
    rf"|\d{{1,2}}:\d{{2}}(?::\d{{2}})?\s?(?:[AaPp]\.?[Mm]\.?)"
    rf"|(?:in|since|until|from|by|of|year)\s+(?:19|20)\d{{2}})(?![\w\-/])"
)
_DIGIT_DATE = re.compile(
    rf"\d(?<![\w\-/.].)(?:\d{{3}}-\d{{1,2}}-\d{{1,2}}{_TIME}?"
    rf"|\d?[/.]\d{{1,2}}[/.](?:\d{{4}}|\d{{2}})"
    rf"|\d?(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|\d?:\d{{2}}(?::\d{{2}})?\s?(?:[AaPp]\.?[Mm]\.?))(?![\w\-/])"
)
_LEAD = re.compile(
    r"(?<![A-Za-z])(?:Jan|January|Feb|February|Mar|March|Apr|April|May|Jun|June|Jul|July|Aug|"
    r"August|Sep|Sept|September|Oct|October|Nov|November|Dec|December|in|since|until|from|by|"
    r"of|year)\.?\s+$"
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAY_WORDS = frozenset(d + t for d in _WEEKDAYS for t in ("", ".", "'s", "’s", "s"))
_WEEKDAY = re.compile(r"(?<![\w\-/.])(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day(?![\w\-/])")
_BIRTH = re.compile(r"(?i)(?:born|birth|dob|d\.o\.b|birthday|b\.)\W{0,4}(?:\w+\W+){0,3}$")


def _word_before(text: str, s: int) -> int:
    """Start of the month name or cue word just before position ``s``, or -1."""
    if s < 3 or not text[s - 1].isspace():
        return -1
    c = text[s - 2]
    if not (c.isalpha() or c == "." or c.isspace()):
        return -1
    lo = max(0, s - 14)
    m = _LEAD.search(text, lo, s)
    return m.start() if m is not None else -1


@register
class DateTimeRecognizer(Recognizer):
    name = "date_time"
    labels = frozenset({Label.DATE_TIME})
    aliases = frozenset({"date_of_birth"})
    exact_labels = True
    max_score = 0.6  # every finding scores at most this (analyzer)

    def find(self, text: str) -> Iterator[Finding]:
        matches = _leftmost(_candidates(text))
        for m in matches:
            s, e = m.start(), m.end()
            word = m.group(0).split()[0].lower()
            if word in ("in", "since", "until", "from", "by", "of", "year"):
                s = e - 4
            birth = bool(_BIRTH.search(text, max(0, s - 30), s))
            yield Finding(
                s,
                e,
                Label.DATE_TIME,
                0.6,
                "date_of_birth" if birth else self.name,
                "date of birth" if birth else "date",
            )


def _candidates(text: str) -> list[re.Match[str]]:
    """Date matches: those that start with a digit (one fast scan), those that start
    with the word just before a digit run ("May 2020", "since 1999"), weekdays."""
    runs = digit_runs(text)
    matches: list[re.Match[str]] = []
    if runs:
        # (no match starts before the first digit; look-behinds still see before it)
        matches.extend(_DIGIT_DATE.finditer(text, runs[0][0]))
        for s, _, _ in runs:
            if s < 3 or not text[s - 1].isspace():
                continue
            k = _word_before(text, s)
            if k >= 0:
                m = _DATE.match(text, k)
                if m is not None:
                    matches.append(m)
    if "day" in text and not _WEEKDAY_WORDS.isdisjoint(cap_words(text)):
        matches.extend(_WEEKDAY.finditer(text))
    return matches


def _leftmost(matches: list[re.Match[str]]) -> list[re.Match[str]]:
    """Leftmost non-overlapping matches, like one scan of the whole pattern."""
    if len(matches) < 2:
        return matches
    matches.sort(key=lambda m: m.start())
    kept: list[re.Match[str]] = []
    for m in matches:
        if not kept or m.start() >= kept[-1].end():
            kept.append(m)
    return kept
