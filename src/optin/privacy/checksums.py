"""Check digits, in one place: detection validates with them, anonymization makes fakes
that fail them, and the demo makes numbers that pass them.

It sits beside :mod:`optin.privacy.findings` because both halves (``detect`` and
``anonymize``, which may not import each other) and :mod:`optin.demo.pii` use it. Pure
functions on strings. The ``*_ok`` functions take a compact value (digits only, or an
IBAN without spaces); the ``*_valid`` functions accept a value as written (grouped,
spaced) and check its digits.
"""

from __future__ import annotations

import re

_NON_DIGIT = re.compile(r"\D")
_SPACE = re.compile(r"\s+")

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def digits_only(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def luhn_ok(number: str) -> bool:
    """Luhn (mod 10) check over a digit string."""
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_check_digit(payload: str) -> int:
    """The digit that makes ``payload + digit`` pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    """Luhn check over the digits of ``number`` as written ("4111 1111 1111 1111")."""
    digits = _NON_DIGIT.sub("", number)
    return len(digits) > 1 and luhn_check_digit(digits[:-1]) == int(digits[-1])


def mod97(value: str) -> int:
    """``value`` (digits and letters, A=10 ... Z=35) as a number, modulo 97."""
    return int("".join(str(int(ch, 36)) for ch in value)) % 97


def iban_check_digits(country: str, bban: str) -> int:
    """The two check digits of the IBAN ``country`` + ?? + ``bban`` (ISO 13616)."""
    return 98 - mod97(bban + country + "00")


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN as written (spaces allowed, any case)."""
    s = _SPACE.sub("", iban).upper()
    if len(s) < 5 or not s.isalnum():
        return False
    return mod97(s[4:] + s[:4]) == 1


def iban_ok(iban: str) -> bool:
    """ISO 13616 mod-97 check (spaces already removed, any case)."""
    s = iban.upper()
    if len(s) < 15 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    return mod97(s[4:] + s[:4]) == 1


def verhoeff_ok(number: str) -> bool:
    """Verhoeff check (Indian Aadhaar)."""
    if not number.isdigit():
        return False
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def bsn_ok(number: str) -> bool:
    """Dutch BSN 11-test (9 digits, last weight -1)."""
    if len(number) != 9 or not number.isdigit() or number == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(number[:8], range(9, 1, -1), strict=True))
    total -= int(number[8])
    return total % 11 == 0


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def spanish_dni_ok(value: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter)."""
    v = value.upper().replace("-", "").replace(" ", "")
    if len(v) != 9 or not v[-1].isalpha():
        return False
    body = v[:-1]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    if not body.isdigit():
        return False
    return _DNI_LETTERS[int(body) % 23] == v[-1]


def french_nir_ok(value: str) -> bool:
    """French NIR (13 digits + 2-digit key = 97 - n mod 97); Corsica 2A/2B handled."""
    v = value.upper().replace(" ", "")
    if len(v) != 15:
        return False
    body, key = v[:13], v[13:]
    body = body.replace("2A", "19").replace("2B", "18")
    if not body.isdigit() or not key.isdigit() or body[0] not in "12":
        return False
    return 97 - int(body) % 97 == int(key)


def us_ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN structure rules: area not 000/666/9xx, group not 00, serial not 0000."""
    if area in ("000", "666") or area[0] == "9":
        return False
    if group == "00" or serial == "0000":
        return False
    # well-known advertising / sample numbers
    return f"{area}{group}{serial}" not in {"078051120", "219099999", "123456789"}


def us_itin_ok(area: str, group: str) -> bool:
    """US ITIN: starts with 9, group 50-65, 70-88, 90-92, 94-99."""
    if area[0] != "9":
        return False
    g = int(group)
    return 50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99
