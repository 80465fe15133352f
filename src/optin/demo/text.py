"""Fill text templates and keep the ground-truth span of every piece of personal data.

Pure: the caller passes the random generator, the author and a way to pick mentioned
members. Spans are ``(start, end, label)`` in Python string indices on the final text.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from optin.demo import pii, templates
from optin.demo.countries import BY_CODE, DemoCountry

Span = tuple[int, int, str]
Parts = tuple[tuple[str, str | None], ...]

_LABEL = {
    "me": "PERSON",
    "name": "PERSON",
    "name2": "PERSON",
    "first": "PERSON",
    "handle": "HANDLE",
    "handle2": "HANDLE",
    "email": "EMAIL",
    "phone": "PHONE",
    "url": "URL",
    "url_other": "URL",
    "address": "LOCATION",
    "card": "CREDIT_CARD",
    "iban": "IBAN",
    "govid": "GOV_ID",
    "ip": "IP_ADDRESS",
}


@dataclass(slots=True)
class Person:
    """What the composer needs to know about a member (mutable only for caching)."""

    handle: str
    display_name: str
    first: str  # as written in the display name
    last: str  # Latin script
    email: str  # canonical address; written in variants
    country: str
    org: str
    role: str
    phones: tuple[str, str] | None = field(default=None)

    @property
    def profile_url(self) -> str:
        return pii.PROFILE_BASE + self.handle


def parse(template: str) -> Parts:
    """``"Hi {first}!"`` -> ``(("Hi ", "first"), ("!", None))``."""
    out: list[tuple[str, str | None]] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append((literal, name))
    return tuple(out)


def _parse_all(items: Sequence[str]) -> tuple[Parts, ...]:
    return tuple(parse(t) for t in items)


POSTS = _parse_all(templates.POSTS_EN)
COMMENTS = _parse_all(templates.COMMENTS_EN)
MESSAGES = _parse_all(templates.MESSAGES_EN)
PARAGRAPHS = _parse_all(templates.ARTICLE_PARAGRAPHS_EN)
TITLES = _parse_all(templates.ARTICLE_TITLES_EN)
FOOTERS = _parse_all(templates.FOOTERS_EN)
OVERSHARE = _parse_all(templates.OVERSHARE_EN)
POSTS_OTHER = {lang: _parse_all(ts) for lang, ts in templates.POSTS_OTHER.items()}
PROFILE = parse(
    "{role} at {org}, based in {city}. Previously {org2}. Interested in {topic} "
    "and {topic2}. Contact: {email} | {phone} | {url}"
)


class Composer:
    """Builds one text from template parts, recording personal-data spans."""

    def __init__(
        self, rng: random.Random, author: Person, pick_other: Callable[[], Person]
    ) -> None:
        self.rng = rng
        self.author = author
        self.country: DemoCountry = BY_CODE[author.country]
        self._pick_other = pick_other
        self._mentions: dict[int, Person] = {}
        self._chunks: list[str] = []
        self._pos = 0
        self.spans: list[Span] = []

    # -- public ----------------------------------------------------------------------

    def add(self, parts: Parts) -> Composer:
        for literal, slot in parts:
            if literal:
                self._emit(literal, None)
            if slot is not None:
                self._emit(self._fill(slot), _LABEL.get(slot))
        return self

    def text(self) -> str:
        return "".join(self._chunks)

    # -- internals -------------------------------------------------------------------

    def _emit(self, value: str, label: str | None) -> None:
        if label is not None and value:
            self.spans.append((self._pos, self._pos + len(value), label))
        self._chunks.append(value)
        self._pos += len(value)

    def _mention(self, n: int) -> Person:
        p = self._mentions.get(n)
        if p is None:
            p = self._pick_other()
            self._mentions[n] = p
        return p

    def _phone(self) -> str:
        a = self.author
        if a.phones is None:
            a.phones = (
                pii.phone(a.country, self.rng, international=False),
                pii.phone(a.country, self.rng, international=True),
            )
        return a.phones[self.rng.random() < 0.5]

    def _fill(self, slot: str) -> str:
        rng, a = self.rng, self.author
        if slot == "me":
            return a.display_name
        if slot in ("name", "name2"):
            return self._mention(2 if slot == "name2" else 1).display_name
        if slot == "first":
            return self._mention(1).first
        if slot in ("handle", "handle2"):
            return "@" + self._mention(2 if slot == "handle2" else 1).handle
        if slot == "email":
            local, _, domain = a.email.partition("@")
            return pii.email_variant(local, domain, rng)
        if slot == "phone":
            return self._phone()
        if slot == "url":
            return a.profile_url
        if slot == "url_other":
            return self._mention(1).profile_url
        if slot == "address":
            return pii.street_address(
                self.country.address, rng.choice(self.country.cities), a.last, rng
            )
        if slot == "card":
            return pii.credit_card(rng)
        if slot == "iban":
            return pii.iban(a.country, rng, grouped=rng.random() < 0.6)
        if slot == "govid":
            return pii.gov_id(self.country.gov_id, rng)
        if slot == "ip":
            return pii.ipv4(rng)
        return self._plain(slot)

    def _plain(self, slot: str) -> str:
        rng, t = self.rng, templates
        if slot == "org":
            return self.author.org
        if slot == "org2":
            return f"{rng.choice(t.ORG_HEADS)} {rng.choice(t.ORG_TAILS)}"
        if slot == "role":
            return self.author.role
        if slot == "city":
            return rng.choice(self.country.cities)
        if slot == "conf":
            return rng.choice(t.CONFERENCES)
        if slot in ("topic", "topic2"):
            return rng.choice(t.TOPICS)
        if slot == "product":
            return rng.choice(t.PRODUCTS)
        if slot == "skill":
            return rng.choice(t.SKILLS)
        if slot in ("tag", "tag2"):
            return rng.choice(t.TAGS)
        if slot == "n":
            return str(rng.randrange(2, 10))
        if slot == "years":
            return str(rng.randrange(2, 15))
        raise KeyError(f"unknown template slot {slot!r}")


def compose(
    kind: str, language: str, rng: random.Random, author: Person, pick_other: Callable[[], Person]
) -> tuple[str, list[Span]]:
    """A text of ``kind`` (post, article, comment, message, profile) with its PII spans."""
    c = Composer(rng, author, pick_other)
    if kind == "post":
        if language != "en" and language in POSTS_OTHER:
            c.add(rng.choice(POSTS_OTHER[language]))
        else:
            c.add(rng.choice(POSTS))
            if rng.random() < 0.25:
                c.add(rng.choice(FOOTERS))
            if rng.random() < 0.03:
                c.add(rng.choice(OVERSHARE))
    elif kind == "article":
        c.add(rng.choice(TITLES)).add(parse("\n\n"))
        for i, para in enumerate(rng.sample(PARAGRAPHS, rng.randrange(3, 6))):
            if i:
                c.add(parse("\n\n"))
            c.add(para)
        if rng.random() < 0.5:
            c.add(rng.choice(FOOTERS))
    elif kind == "comment":
        c.add(rng.choice(COMMENTS))
    elif kind == "message":
        c.add(rng.choice(MESSAGES))
        if rng.random() < 0.3:
            c.add(rng.choice(FOOTERS))
    elif kind == "profile":
        c.add(PROFILE)
    else:
        raise ValueError(f"unknown content kind {kind!r}")
    return c.text(), c.spans
