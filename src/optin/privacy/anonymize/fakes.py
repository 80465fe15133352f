"""Deterministic fake values for the ``surrogate`` operator, one generator per label.

Every fake is drawn from a :class:`random.Random` seeded by the keyed HMAC of the
entity, so the same entity gets the same fake under one key. Fakes are chosen so that
they are never a real identifier: e-mails and URLs use the RFC 2606 ``example.com``
domain, phones the fictional NANP range 555-0100..0199, IPs the documentation networks
(RFC 5737 / RFC 3849), cards FAIL the Luhn check, IBANs FAIL mod-97, US SSNs use the
never-issued area 000, UK NINOs the never-issued prefix QQ.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import re
from collections.abc import Callable
from functools import cache
from importlib import resources

from optin.privacy.checksums import iban_check_digits, iban_valid, luhn_check_digit
from optin.privacy.findings import Label

_DOC_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_RESERVED_HOST = re.compile(
    r"(?:^|[/@.])example\.(?:com|org|net)(?:[/:?#]|$)|\.(?:example|test|invalid)(?:[/:?#]|$)",
    re.IGNORECASE,
)
_FICTIONAL_PHONE = re.compile(r"555[\s.\-]?01\d\d\s*$")
_SSN = re.compile(r"^\d{3}([\s\-]?)\d{2}\1\d{4}$")
_NINO = re.compile(r"^[A-Z]{2}(\s?)\d{2}\1\d{2}\1\d{2}\1[A-D]$", re.IGNORECASE)
_AREA_CODES = ("202", "212", "312", "415", "617", "720")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@cache
def _words(name: str) -> tuple[str, ...]:
    text = resources.files("optin.privacy.anonymize").joinpath("data", name).read_text("utf-8")
    return tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def first_name(rng: random.Random) -> str:
    return rng.choice(_words("first_names.txt"))


def last_name(rng: random.Random) -> str:
    return rng.choice(_words("last_names.txt"))


def is_reserved(value: str, label: Label) -> bool:
    """True when ``value`` is already in a reserved, never-real range for ``label``.

    Such values are kept as they are, which makes the surrogate operator idempotent
    for these labels (a fake e-mail is not replaced by another fake).
    """
    v = value.strip()
    if label in (Label.EMAIL, Label.URL):
        return bool(_RESERVED_HOST.search(v))
    if label is Label.PHONE:
        return bool(_FICTIONAL_PHONE.search(v))
    if label is Label.IP_ADDRESS:
        try:
            addr = ipaddress.ip_address(v.strip("[]"))
        except ValueError:
            return False
        return any(addr.version == n.version and addr in n for n in _DOC_NETS)
    return False


def _person(value: str, rng: random.Random, surname_only: bool) -> str:
    first, last = first_name(rng), last_name(rng)
    if surname_only:
        return last
    return first if len(value.split()) < 2 else f"{first} {last}"


def _handle(value: str, rng: random.Random) -> str:
    at = "@" if value.startswith("@") else ""
    return f"{at}{first_name(rng).lower()}_{rng.getrandbits(16):04x}"


def _email(value: str, rng: random.Random) -> str:
    return f"{first_name(rng)}.{last_name(rng)}@example.com".lower()


def _phone(value: str, rng: random.Random) -> str:
    return f"+1 {rng.choice(_AREA_CODES)}-555-01{rng.randrange(100):02d}"


def _url(value: str, rng: random.Random) -> str:
    slug = f"{first_name(rng)}-{last_name(rng)}".lower()
    return f"https://example.com/in/{slug}-{rng.getrandbits(16):04x}"


def _ip(value: str, rng: random.Random) -> str:
    if ":" in value:
        return f"2001:db8::{rng.getrandbits(16):x}"
    prefix = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{prefix}.{rng.randrange(1, 255)}"


def _positional(value: str, rng: random.Random, digits: str) -> str:
    """Replace characters of ``value`` in place, taking new digits from ``digits`` first."""
    out: list[str] = []
    feed = iter(digits)
    for ch in value:
        if ch.isdigit():
            out.append(next(feed, None) or str(rng.randrange(10)))
        elif ch.isalpha():
            letter = chr(ord("A") + rng.randrange(26))
            out.append(letter if ch.isupper() else letter.lower())
        else:
            out.append(ch)
    return "".join(out)


def _card(value: str, rng: random.Random) -> str:
    n = sum(ch.isdigit() for ch in value) or 16
    payload = "4" + "".join(str(rng.randrange(10)) for _ in range(n - 2))
    bad = (luhn_check_digit(payload) + 1 + rng.randrange(9)) % 10  # never the valid digit
    digits = payload + str(bad)
    if not any(ch.isdigit() for ch in value):
        return digits
    return "".join(_positional(value, rng, digits))


def _iban(value: str, rng: random.Random) -> str:
    compact = re.sub(r"[^0-9A-Za-z]", "", value).upper()
    country = compact[:2] if compact[:2].isalpha() and len(compact) >= 2 else "DE"
    bban = _positional(compact[4:] or "0" * 18, rng, "")
    valid = iban_check_digits(country, bban)
    check = (valid + 1 + rng.randrange(90)) % 97
    check = check if check != valid else (check + 1) % 97
    fake = f"{country}{check:02d}{bban}"
    if iban_valid(fake):  # paranoia: never emit a checksum-valid IBAN
        fake = f"{country}{(check + 1) % 97:02d}{bban}"
    out: list[str] = []
    feed = iter(fake)
    for ch in value:
        out.append(next(feed, "") if ch.isalnum() else ch)
    return "".join(out) + "".join(feed)


def _gov_id(value: str, rng: random.Random) -> str:
    v = value.strip()
    if _SSN.match(v):
        sep = _SSN.match(v).group(1)  # type: ignore[union-attr]
        return f"000{sep}{rng.randrange(1, 100):02d}{sep}{rng.randrange(1, 10000):04d}"
    if _NINO.match(v):
        return "QQ" + _positional(v[2:], rng, "")
    return _positional(v, rng, "")


def _location(value: str, rng: random.Random) -> str:
    if any(ch.isdigit() for ch in value):
        return f"{rng.randrange(1, 999)} {rng.choice(_words('streets.txt'))}"
    return rng.choice(_words("cities.txt"))


def _date(value: str, rng: random.Random) -> str:
    return f"{rng.choice(_MONTHS)} {rng.randrange(1, 29)}, {rng.randrange(1950, 2006)}"


def _org(value: str, rng: random.Random) -> str:
    return rng.choice(_words("orgs.txt"))


FAKERS: dict[Label, Callable[[str, random.Random], str]] = {
    Label.HANDLE: _handle,
    Label.EMAIL: _email,
    Label.PHONE: _phone,
    Label.URL: _url,
    Label.IP_ADDRESS: _ip,
    Label.CREDIT_CARD: _card,
    Label.IBAN: _iban,
    Label.GOV_ID: _gov_id,
    Label.LOCATION: _location,
    Label.DATE_TIME: _date,
    Label.ORG: _org,
}


def fake(
    value: str,
    label: Label,
    seed: bytes,
    *,
    surname_only: bool = False,
    avoid: Callable[[str], bool] | None = None,
) -> str:
    """A realistic fake for ``value``; ``[OTHER]``-style tag for labels without one.

    Never ``value`` itself (compared case-folded) and never a value ``avoid`` accepts
    (e.g. a platform member's name): such a draw is redrawn, and after
    :data:`REDRAWS` draws the type tag (``[PERSON]``) is returned instead.
    """
    faker = FAKERS.get(label)
    if faker is None and label is not Label.PERSON:
        return f"[{label}]"
    folded = value.casefold()
    for attempt in range(REDRAWS):
        if attempt:
            seed = hashlib.sha256(seed + b"\x01").digest()
        rng = random.Random(int.from_bytes(seed, "big"))
        out = _person(value, rng, surname_only) if faker is None else faker(value, rng)
        if out.casefold() != folded and (avoid is None or not avoid(out)):
            return out
    return f"[{label}]"


#: Draws of :func:`fake` before it falls back to the type tag.
REDRAWS = 8


def looks_fake(value: str, label: Label) -> bool:
    """True when ``value`` has the exact shape :func:`fake` gives ``label``: a reserved,
    never-real value (:func:`is_reserved`), or a person, handle, street or city built
    only from the surrogate word lists. ``snapshot verify`` uses it to tell the
    surrogates of a snapshot from residual personal data; a real name made only of
    list words is indistinguishable from a surrogate (the lists are small: see
    ``data/*.txt``)."""
    v = value.strip()
    if is_reserved(v, label):
        return True
    if label is Label.PERSON:
        toks = v.split()
        names = set(_words("first_names.txt")) | set(_words("last_names.txt"))
        return bool(toks) and all(t in names for t in toks)
    if label is Label.HANDLE:
        m = _FAKE_HANDLE.match(v)
        return bool(m) and m.group(1) in {n.lower() for n in _words("first_names.txt")}  # type: ignore[union-attr]
    if label is Label.LOCATION:
        m = _FAKE_STREET.match(v)
        if m:
            return m.group(1) in _words("streets.txt")
        return v in _words("cities.txt")
    if label is Label.GOV_ID:
        return v.startswith(("000", "QQ"))
    return False


def mentions_fake(value: str) -> bool:
    """True when ``value`` holds a word of the surrogate word lists (a fake first name,
    surname, street or city word) or a fake handle: a finding that overlaps a surrogate,
    as a finding that overlaps a ``[PERSON]`` tag overlaps a mask."""
    words = _surrogate_words()
    if any(w in words for w in _LIST_WORD.findall(value)):
        return True
    return any(m.group(1).capitalize() in words for m in _FAKE_HANDLE_IN.finditer(value))


def surrogate_words() -> frozenset[str]:
    """The words of the surrogate lists (fake first names, surnames, streets, cities)."""
    return _surrogate_words()


@cache
def _surrogate_words() -> frozenset[str]:
    out: set[str] = set()
    for name in ("first_names.txt", "last_names.txt", "streets.txt", "cities.txt"):
        for line in _words(name):
            out.update(_LIST_WORD.findall(line))
    return frozenset(out - _GENERIC)


_LIST_WORD = re.compile(r"[^\W\d_]+")
#: street-type words of the lists that are not fake by themselves
_GENERIC = frozenset({"Street", "Road", "Avenue", "Lane", "Way", "Drive", "Court", "Place"})
_FAKE_HANDLE_IN = re.compile(r"(?<![\w.])@?([a-z]+)_[0-9a-f]{4}\b")
_FAKE_HANDLE = re.compile(r"^@?([a-z]+)_[0-9a-f]{4}$")
_FAKE_STREET = re.compile(r"^\d{1,3} (.+)$")
