"""Check digits, in one place: detection validates with them, anonymization makes fakes
that fail them, and the demo makes numbers that pass them.

It sits beside :mod:`optin.privacy.findings` because both halves (``detect`` and
``anonymize``, which may not import each other) and :mod:`optin.demo.pii` use it. Pure
functions on strings. The ``*_ok`` functions take a compact value (digits only, or an
IBAN without spaces); the ``*_valid`` functions accept a value as written (grouped,
spaced) and check its digits.

The check-digit algorithms are python-stdnum's (Luhn, Verhoeff, ISO 7064 mod 97-10 for
IBANs, the Dutch BSN 11-test, the Spanish DNI/NIE letter, the French NIR key, the
Brazilian CPF digits, the Indian Aadhaar and PAN rules); the US SSN/ITIN structure
rules, which are no check digits, stay here.
"""

from __future__ import annotations

import re

from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum import verhoeff as _verhoeff
from stdnum.br import cpf as _cpf
from stdnum.es import dni as _dni
from stdnum.es import nie as _nie
from stdnum.fr import nir as _nir
from stdnum.in_ import aadhaar as _aadhaar
from stdnum.in_ import pan as _pan
from stdnum.nl import bsn as _bsn

_NON_DIGIT = re.compile(r"\D")
_SPACE = re.compile(r"\s+")


def digits_only(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def luhn_ok(number: str) -> bool:
    """Luhn (mod 10) check over a digit string."""
    return number.isdigit() and _luhn.is_valid(number)


def luhn_check_digit(payload: str) -> int:
    """The digit that makes ``payload + digit`` pass the Luhn check."""
    return int(_luhn.calc_check_digit(payload))


def luhn_valid(number: str) -> bool:
    """Luhn check over the digits of ``number`` as written ("4111 1111 1111 1111")."""
    digits = _NON_DIGIT.sub("", number)
    return len(digits) > 1 and _luhn.is_valid(digits)


def iban_check_digits(country: str, bban: str) -> int:
    """The two check digits of the IBAN ``country`` + ?? + ``bban`` (ISO 13616)."""
    return int(_iban.calc_check_digits(country + "00" + bban))


def _mod97_ok(s: str) -> bool:
    # ISO 13616 mod 97-10 and the BBAN structure registered for the country (stdnum);
    # the country's own national check digits are not required
    return _iban.is_valid(s, check_country=False)


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN as written (spaces allowed, any case)."""
    s = _SPACE.sub("", iban).upper()
    if len(s) < 5 or not s.isalnum():
        return False
    return _mod97_ok(s)


def iban_ok(iban: str) -> bool:
    """ISO 13616 mod-97 check (spaces already removed, any case)."""
    s = iban.upper()
    if len(s) < 15 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    return _mod97_ok(s)


def verhoeff_ok(number: str) -> bool:
    """Verhoeff check over a digit string."""
    return number.isdigit() and _verhoeff.is_valid(number)


def aadhaar_ok(number: str) -> bool:
    """Indian Aadhaar: 12 digits, not starting with 0 or 1, not a palindrome, Verhoeff."""
    return number.isdigit() and _aadhaar.is_valid(number)


def pan_ok(value: str) -> bool:
    """Indian PAN: five letters (the fourth a known holder type), four digits, a letter."""
    return _pan.is_valid(value)


def cpf_ok(value: str) -> bool:
    """Brazilian CPF: 11 digits with two check digits (written ``123.456.789-09``)."""
    return _cpf.is_valid(value)


def bsn_ok(number: str) -> bool:
    """Dutch BSN 11-test (9 digits, last weight -1)."""
    return len(number) == 9 and number.isdigit() and _bsn.is_valid(number)


def spanish_dni_ok(value: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter)."""
    v = value.upper().replace("-", "").replace(" ", "")
    if len(v) != 9:
        return False
    return _nie.is_valid(v) if v[0] in "XYZ" else _dni.is_valid(v)


def french_nir_ok(value: str) -> bool:
    """French NIR (13 digits + 2-digit key = 97 - n mod 97); Corsica 2A/2B handled."""
    v = value.upper().replace(" ", "")
    return len(v) == 15 and v[0] in "12" and _nir.is_valid(v)


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
