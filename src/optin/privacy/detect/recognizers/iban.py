"""IBANs: country code, length per country, ISO 13616 mod-97 check."""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.checksums import iban_ok
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import digit_runs
from optin.privacy.findings import Finding, Label

# ISO 13616 registry lengths (subset covers all SEPA and common others).
_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
_CANDIDATE = re.compile(r"(?i)[A-Z](?<![\w].)[A-Z]\d{2}(?:[ \-]?[A-Z0-9]){11,30}(?![\w])")


@register
class IbanRecognizer(Recognizer):
    name = "iban"
    labels = frozenset({Label.IBAN})
    needs_digit = True

    def find(self, text: str) -> Iterator[Finding]:
        # an IBAN starts with two letters and two digits: "GB82..." -> a digit run that
        # starts right after two letters at a word start
        last = -1
        for s, _, d in digit_runs(text):
            if d < 2 or s < 2 or s - 2 < last:
                continue
            if not (text[s - 2].isalpha() and text[s - 1].isalpha()):
                continue
            m = _CANDIDATE.match(text, s - 2)
            if m is None:
                continue
            last = m.end()
            raw = m.group(0)
            compact = raw.replace(" ", "").replace("-", "").upper()
            want = _LENGTHS.get(compact[:2])
            if want is None:
                continue
            if len(compact) > want:
                # trailing text glued by a space ("... GB82WEST12345698765432 2020")
                cut = 0
                count = 0
                for i, ch in enumerate(raw):
                    if ch not in " -":
                        count += 1
                    if count == want:
                        cut = i + 1
                        break
                raw, compact = raw[:cut], compact[:want]
            if len(compact) != want or not iban_ok(compact):
                continue
            yield Finding(m.start(), m.start() + len(raw), Label.IBAN, 1.0, self.name, "mod-97")
