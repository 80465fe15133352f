"""Payment card numbers: 12-19 digits, Luhn check, and a known issuer prefix or a card word.

Only windows around digit runs with at least 12 digits are scanned (see ``scan``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.checksums import luhn_ok
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.context import words
from optin.privacy.detect.scan import number_windows
from optin.privacy.findings import Finding, Label

# not right after "+": "+55 11 98765 4321" is a phone, not a card
_CANDIDATE = re.compile(r"\d(?<![\w.\-+].)(?:[ \-]?\d){11,18}(?![\w\-]|\.\d)")
_CONTEXT = words("card", "cc", "credit", "debit", "visa", "mastercard", "maestro", "amex", "pay")
_ISSUER = re.compile(r"^(?:4|5|2[2-7]|3[47]|3[0689]|6|35|1800|2131|62|8)")


@register
class CreditCardRecognizer(Recognizer):
    name = "credit_card"
    labels = frozenset({Label.CREDIT_CARD})
    needs_digit = True

    def find(self, text: str) -> Iterator[Finding]:
        for lo, hi in number_windows(text, 12):
            yield from self._window(text, lo, hi)

    def _window(self, text: str, lo: int, hi: int) -> Iterator[Finding]:
        for m in _CANDIDATE.finditer(text, lo, hi):
            raw = m.group(0)
            digits = raw.replace(" ", "").replace("-", "")
            if not 12 <= len(digits) <= 19 or len(set(digits)) < 2 or not luhn_ok(digits):
                continue
            issuer = bool(_ISSUER.match(digits))
            # short numbers and unlisted issuer ranges (Maestro 0604/6390, private-label
            # cards) need a card word just before: "credit card 0604 2607 0011"
            if (len(digits) == 12 or not issuer) and not _CONTEXT.search(
                text, max(0, m.start() - 30), m.start()
            ):
                continue
            why = "Luhn-valid" if issuer else "Luhn-valid + card context"
            yield Finding(m.start(), m.end(), Label.CREDIT_CARD, 1.0, self.name, why)
