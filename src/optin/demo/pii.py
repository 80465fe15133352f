"""Synthetic personal data for the demo, valid in form: phones that ``phonenumbers``
accepts, Luhn-valid cards, mod-97-valid IBANs, SSN/NINO in valid format. Pure: every
function takes the ``random.Random`` to draw from, so a seed fixes the output.
"""

from __future__ import annotations

import random
import unicodedata
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from optin.privacy.checksums import iban_check_digits, luhn_check_digit, luhn_valid
from optin.privacy.checksums import iban_valid as iban_valid  # re-exported: the demo's check

#: the Luhn check the demo's cards pass (over the digits as written)
luhn_ok = luhn_valid

PROFILE_BASE = "https://demo.optin.social/in/"
MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "hey.com")


@lru_cache(maxsize=1 << 16)
def ascii_fold(text: str) -> str:
    """``"Zoë Müller-Łukasz"`` -> ``"Zoe Muller-Lukasz"`` (drops what cannot be folded)."""
    text = text.replace("ł", "l").replace("Ł", "L").replace("ß", "ss").replace("đ", "d")
    text = text.replace("Đ", "D").replace("ø", "o").replace("Ø", "O").replace("ı", "i")
    norm = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in norm if ord(ch) < 128 and not unicodedata.combining(ch))


def _slug(text: str) -> str:
    return "".join(ch for ch in ascii_fold(text).lower() if ch.isalnum())


# -- e-mail ---------------------------------------------------------------------------


def email_local(first: str, last: str, rng: random.Random) -> str:
    f, la = _slug(first) or "member", _slug(last) or "x"
    style = rng.randrange(5)
    if style == 0:
        return f"{f}.{la}"
    if style == 1:
        return f"{f[0]}{la}"
    if style == 2:
        return f"{f}_{la}{rng.randrange(1, 99)}"
    if style == 3:
        return f"{f}{rng.randrange(70, 100)}"
    return f"{la}.{f}"


def email_variant(local: str, domain: str, rng: random.Random) -> str:
    """The address as people write it: mostly plain, sometimes upper-case or obfuscated."""
    r = rng.random()
    if r < 0.72:
        return f"{local}@{domain}"
    if r < 0.82:
        parts = [p.capitalize() for p in local.split(".")]
        labels = domain.split(".")
        return f"{'.'.join(parts)}@{labels[0].capitalize()}.{'.'.join(labels[1:]).upper()}"
    if r < 0.86:
        return f"{local}@{domain}".upper()
    dom = domain.replace(".", " dot ")
    if r < 0.94:
        return f"{local.replace('.', ' dot ')} at {dom}"
    return f"{local} [at] {domain.replace('.', ' [dot] ')}"


# -- phone ----------------------------------------------------------------------------


@cache
def _example(country: str) -> phonenumbers.PhoneNumber | None:
    for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
        ex = phonenumbers.example_number_for_type(country, kind)
        if ex is not None:
            return ex
    return None


def phone(country: str, rng: random.Random, *, international: bool) -> str:
    """A valid-looking number of ``country`` in national or international format."""
    ex = _example(country) or _example("US")
    assert ex is not None
    nsn = str(ex.national_number)
    num = ex
    for _ in range(10):
        k = min(6, len(nsn) - 2)
        digits = nsn[:-k] + "".join(str(rng.randrange(10)) for _ in range(k))
        cand = phonenumbers.PhoneNumber(
            country_code=ex.country_code,
            national_number=int(digits),
            italian_leading_zero=ex.italian_leading_zero,
        )
        if phonenumbers.is_valid_number(cand):
            num = cand
            break
    fmt = PhoneNumberFormat.INTERNATIONAL if international else PhoneNumberFormat.NATIONAL
    return str(phonenumbers.format_number(num, fmt))


# -- cards, IBANs, government ids -----------------------------------------------------


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return body + str(luhn_check_digit(body))


def credit_card(rng: random.Random) -> str:
    """A Luhn-valid Visa, Mastercard or Amex number, grouped as people type them."""
    kind = rng.randrange(3)
    if kind == 2:
        n = _luhn_complete(rng.choice(("34", "37")), 15, rng)
        groups = [n[:4], n[4:10], n[10:]]
    else:
        n = _luhn_complete("4" if kind == 0 else f"5{rng.randrange(1, 6)}", 16, rng)
        groups = [n[i : i + 4] for i in range(0, 16, 4)]
    sep = rng.choice((" ", "-", " ", ""))
    return sep.join(groups)


#: BBAN shape per country: (count, kind) with kind n = digit, a = upper-case letter.
_BBAN: dict[str, tuple[tuple[int, str], ...]] = {
    "DE": ((18, "n"),),
    "GB": ((4, "a"), (14, "n")),
    "FR": ((23, "n"),),
    "ES": ((20, "n"),),
    "IT": ((1, "a"), (22, "n")),
    "NL": ((4, "a"), (10, "n")),
    "BE": ((12, "n"),),
    "AT": ((16, "n"),),
    "CH": ((17, "n"),),
    "PL": ((24, "n"),),
    "SE": ((20, "n"),),
    "NO": ((11, "n"),),
    "DK": ((14, "n"),),
    "IE": ((4, "a"), (14, "n")),
    "PT": ((21, "n"),),
    "FI": ((14, "n"),),
    "IS": ((22, "n"),),
    "TR": ((22, "n"),),
    "AE": ((19, "n"),),
    "SA": ((20, "n"),),
    "BR": ((23, "n"), (1, "a"), (1, "n")),
}
IBAN_COUNTRIES = tuple(sorted(_BBAN))


def iban(country: str, rng: random.Random, *, grouped: bool) -> str:
    """A mod-97-valid IBAN of ``country`` (or of DE when it has none)."""
    if country not in _BBAN:
        country = rng.choice(("DE", "GB", "FR", "NL", "ES"))
    bban = ""
    for count, kind in _BBAN[country]:
        for _ in range(count):
            bban += chr(65 + rng.randrange(26)) if kind == "a" else str(rng.randrange(10))
    check = iban_check_digits(country, bban)
    s = f"{country}{check:02d}{bban}"
    if grouped:
        return " ".join(s[i : i + 4] for i in range(0, len(s), 4))
    return s


def ssn(rng: random.Random) -> str:
    """US SSN in valid format: area 001-899 but not 666, group 01-99, serial 0001-9999."""
    area = rng.randrange(1, 900)
    while area == 666:
        area = rng.randrange(1, 900)
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"
_NINO_BAD = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def nino(rng: random.Random) -> str:
    """UK National Insurance number in valid format, e.g. ``QQ 12 34 56 C``."""
    while True:
        pre = rng.choice(_NINO_FIRST) + rng.choice(_NINO_SECOND)
        if pre not in _NINO_BAD:
            break
    d = f"{rng.randrange(1000000):06d}"
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{pre} {d[:2]} {d[2:4]} {d[4:]} {suffix}"
    return f"{pre}{d}{suffix}"


def gov_id(kind: str | None, rng: random.Random) -> str:
    return nino(rng) if kind == "nino" else ssn(rng)


def ipv4(rng: random.Random) -> str:
    first = rng.choice((24, 37, 41, 62, 73, 81, 89, 102, 117, 151, 176, 185, 203, 212))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


# -- street addresses -----------------------------------------------------------------

_US_SUFFIX = ("Street", "Avenue", "Road", "Lane", "Drive", "Boulevard", "Court", "Way")
_GB_SUFFIX = ("Road", "Street", "Lane", "Close", "Gardens", "Crescent", "Terrace")
_EU_SUFFIX = ("straat", "straße", "gatan", "vej", "weg", "gasse")
_US_STATES = ("NY", "CA", "TX", "IL", "WA", "MA", "GA", "CO", "FL")
_CA_PROV = ("ON", "BC", "QC", "AB", "NS")


def street_address(style: str, city: str, surname: str, rng: random.Random) -> str:
    """A street address in the style of the member's country (``city`` is real, the rest
    made up)."""
    num = rng.randrange(1, 250)
    name = ascii_fold(surname).replace(" ", "") or "Main"
    if style == "us":
        zip_ = f"{rng.randrange(10000, 99999)}"
        state = rng.choice(_US_STATES)
        return f"{num} {name} {rng.choice(_US_SUFFIX)}, {city}, {state} {zip_}"
    if style == "ca":
        letters = "ABCEGHJKLMNPRSTVXY"
        pc = (
            f"{rng.choice(letters)}{rng.randrange(10)}{rng.choice(letters)} "
            f"{rng.randrange(10)}{rng.choice(letters)}{rng.randrange(10)}"
        )
        return f"{num} {name} {rng.choice(_US_SUFFIX)}, {city}, {rng.choice(_CA_PROV)} {pc}"
    if style in ("gb", "au"):
        if style == "au":
            return f"{num} {name} {rng.choice(_GB_SUFFIX)}, {city} {rng.randrange(2000, 7000)}"
        pc = (
            f"{chr(65 + rng.randrange(26))}{chr(65 + rng.randrange(26))}{rng.randrange(1, 20)} "
            f"{rng.randrange(10)}{chr(65 + rng.randrange(26))}{chr(65 + rng.randrange(26))}"
        )
        return f"{num} {name} {rng.choice(_GB_SUFFIX)}, {city} {pc}"
    if style == "fr":
        return f"{num} rue {surname}, {rng.randrange(10, 96)}{rng.randrange(0, 999):03d} {city}"
    if style == "eu":
        suffix = rng.choice(_EU_SUFFIX)
        return f"{name}{suffix} {num}, {rng.randrange(1000, 99999)} {city}"
    if style == "latam":
        return (
            f"Rua {surname}, {num} - {city}"
            if rng.random() < 0.5
            else f"Calle {surname} {num}, {city}"
        )
    if style == "in":
        return f"{num}, {surname} Nagar, {city} {rng.randrange(110001, 800000)}"
    if style == "jp":
        return f"{rng.randrange(1, 9)}-{rng.randrange(1, 30)}-{num} {name}-cho, {city}"
    return f"{num} {name} {rng.choice(_US_SUFFIX)}, {city}"
