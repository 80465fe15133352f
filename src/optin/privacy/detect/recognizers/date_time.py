"""Dates and times (label DATE_TIME).

Recognizer name ``date_time`` for ordinary dates (kept by ``default``), and
``date_of_birth`` when a birth cue ("born", "DOB", "date of birth", "birthday") precedes
the date; ``strict`` redacts every DATE_TIME finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import number_windows
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
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAY = re.compile(r"(?<![\w\-/.])(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day(?![\w\-/])")
_BIRTH = re.compile(r"(?i)(?:born|birth|dob|d\.o\.b|birthday|b\.)\W{0,4}(?:\w+\W+){0,3}$")


@register
class DateTimeRecognizer(Recognizer):
    name = "date_time"
    labels = frozenset({Label.DATE_TIME})

    def find(self, text: str) -> Iterator[Finding]:
        matches = [m for lo, hi in number_windows(text, 1) for m in _DATE.finditer(text, lo, hi)]
        if any(d in text for d in _WEEKDAYS):
            matches.extend(_WEEKDAY.finditer(text))
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
