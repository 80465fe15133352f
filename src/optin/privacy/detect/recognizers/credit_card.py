"""Payment card numbers: 13-19 digits, known issuer prefix, Luhn check."""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.checksums import luhn_ok
from optin.privacy.findings import Finding, Label

_CANDIDATE = re.compile(r"(?<![\w.\-])\d(?:[ \-]?\d){12,18}(?![\w\-]|\.\d)")
_ISSUER = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6|35|1800|2131|62|8)")


@register
class CreditCardRecognizer(Recognizer):
    name = "credit_card"
    labels = frozenset({Label.CREDIT_CARD})

    def find(self, text: str) -> Iterator[Finding]:
        for m in _CANDIDATE.finditer(text):
            raw = m.group(0)
            digits = raw.replace(" ", "").replace("-", "")
            if not 13 <= len(digits) <= 19 or not _ISSUER.match(digits):
                continue
            if len(set(digits)) < 3 or not luhn_ok(digits):
                continue
            yield Finding(m.start(), m.end(), Label.CREDIT_CARD, 1.0, self.name, "Luhn-valid")
