"""Synthetic members: names from ~20 cultures, handles, birth dates, country moves,
closed accounts, and their consent histories. Pure: randomness and time are parameters.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources

from optin.demo import pii, templates
from optin.demo.countries import BY_CODE, COUNTRIES
from optin.demo.text import Person

TRAIN = "train_own_models"
SHARE = "share_with_providers"

#: (handle, display name, country, password); the first members, who can log in.
LOGIN_MEMBERS: tuple[tuple[str, str, str, str], ...] = (
    ("ada", "Ada Moreno", "US", "demo-ada-2024"),
    ("grace", "Grace Whitfield", "GB", "demo-grace-2024"),
    ("kofi", "Kofi Mensah", "NG", "demo-kofi-2024"),
)
ADMIN = ("admin", "Demo Administrator", "US", "demo-admin-2024")


@dataclass(frozen=True, slots=True)
class Timeline:
    """The demo's clock, all derived from ``now``: joins from ``start``, consent from the
    first policy's effective time, the material policy update at ``v2_effective``."""

    start: datetime
    now: datetime
    consent_from: datetime
    v2_effective: datetime

    def version_at(self, at: datetime) -> int:
        return 2 if at >= self.v2_effective else 1


@dataclass(frozen=True, slots=True)
class DemoEvent:
    at: datetime
    member_id: str
    purpose: str
    action: str  # grant | withdraw
    policy_version: int
    event_id: str


@dataclass(slots=True)
class DemoMember:
    id: str
    person: Person
    birth_date: date
    joined_at: datetime
    countries: list[tuple[datetime, str]]
    closed_at: datetime | None = None
    minor: bool = False
    events: list[DemoEvent] = field(default_factory=list)

    def country_at(self, at: datetime) -> str:
        code = self.countries[0][1]
        for since, c in self.countries:
            if since <= at:
                code = c
        return code


@cache
def names() -> dict[str, dict[str, list]]:
    raw = resources.files("optin.demo").joinpath("data/names.json").read_text("utf-8")
    data: dict[str, dict[str, list]] = json.loads(raw)
    return data


_CODES = [c.code for c in COUNTRIES]
_CUM_WEIGHTS = list(itertools.accumulate(c.weight for c in COUNTRIES))


def _between(rng: random.Random, a: datetime, b: datetime) -> datetime:
    """A time in [a, b), whole seconds."""
    span = max(0, int((b - a).total_seconds()))
    return a + timedelta(seconds=rng.randrange(span) if span else 0)


def _slug(s: str) -> str:
    return "".join(ch for ch in pii.ascii_fold(s).lower() if ch.isalnum())


def _handle(first: str, last: str, rng: random.Random, taken: set[str]) -> str:
    f, la = _slug(first) or "member", _slug(last) or "x"
    style = rng.randrange(4)
    base = (f"{f}.{la}", f"{f[0]}{la}", f"{f}_{la[:4]}", f"{la}{f[:3]}")[style][:30]
    h = base
    while h in taken:
        h = f"{base}{rng.randrange(2, 999)}"
    taken.add(h)
    return h


def event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_member(
    idx: int,
    rng: random.Random,
    tl: Timeline,
    taken: set[str],
    fixed: tuple[str, str, str, str] | None = None,
) -> DemoMember:
    """Member number ``idx``; ``fixed`` = a login member (handle, name, country, pw)."""
    if fixed is not None:
        handle, display, country, _pw = fixed
        taken.add(handle)
        first, last = display.split(" ", 1)
        culture = BY_CODE[country].culture
    else:
        country = rng.choices(_CODES, cum_weights=_CUM_WEIGHTS)[0]
        culture = BY_CODE[country].culture
        lists = names()[culture]
        first, last = rng.choice(lists["first"]), rng.choice(lists["last"])
        display = f"{first} {last}"
        handle = _handle(first, last, rng, taken)
        natives = lists.get("native")
        if natives and rng.random() < 0.4:  # written in the native script (ja, zh)
            nf, nl = rng.choice(natives)
            first, display = nf, f"{nl}{nf}" if culture in ("jp", "cn") else f"{nf} {nl}"
    joined = _between(rng, tl.start, tl.now - timedelta(days=7))
    minor = fixed is None and rng.random() < 0.03
    age = rng.randrange(13, 18) if minor else rng.randrange(19, 68)
    birth = tl.now.date() - timedelta(days=age * 365 + rng.randrange(0, 360))
    local = pii.email_local(display if fixed else first, last, rng)
    if fixed is None and not _slug(first):  # native-script first name
        local = pii.email_local(last, str(idx), rng)
    domain = rng.choice(pii.MAIL_DOMAINS)
    org = f"{rng.choice(templates.ORG_HEADS)} {rng.choice(templates.ORG_TAILS)}"
    person = Person(
        handle=handle,
        display_name=display,
        first=first,
        last=last,
        email=f"{local}@{domain}",
        country=country,
        org=org,
        role=rng.choice(templates.ROLES),
    )
    m = DemoMember(
        id=f"m{idx:07d}",
        person=person,
        birth_date=birth,
        joined_at=joined,
        countries=[(joined, country)],
        minor=minor,
    )
    if fixed is None and rng.random() < 0.04:  # moved country once
        moved = _between(rng, joined, tl.now)
        to = country
        while to == country:
            to = rng.choices(_CODES, cum_weights=_CUM_WEIGHTS)[0]
        m.countries.append((moved, to))
    if fixed is None and rng.random() < 0.01:  # closed the account
        m.closed_at = _between(rng, joined + (tl.now - joined) / 2, tl.now)
    return m


def consent_history(
    m: DemoMember,
    rng: random.Random,
    tl: Timeline,
    excluded: Callable[[str], bool],
    *,
    script: str | None = None,
) -> None:
    """Fill ``m.events``: most members never consent (opt-in!), ~40% of adults in opt-in
    countries grant ``train_own_models``, fewer share with providers, some withdraw,
    some re-grant, some re-consent after the material policy update.

    ``script`` forces a story for the login members: "both", "train" or "none".
    """
    start = max(m.joined_at, tl.consent_from)
    end = m.closed_at or tl.now
    if start >= end - timedelta(days=1) or script == "none":
        return
    ev: list[tuple[datetime, str, str]] = []
    country = m.country_at(start)
    p_train = 0.30 if m.minor else (0.08 if excluded(country) else 0.42)
    if script is not None:
        p_train = 1.0
    if rng.random() >= p_train:
        if rng.random() < 0.03:  # shares without training
            ev.append((_between(rng, start, end), SHARE, "grant"))
        _finish(m, ev, rng, tl, end)
        return
    t_grant = _train_story(ev, rng, tl, start, end, script)
    if script == "both" or (script is None and rng.random() < 0.45):
        _share_story(ev, rng, tl, t_grant, end, script)
    _finish(m, ev, rng, tl, end)


Events = list[tuple[datetime, str, str]]


def _train_story(
    ev: Events,
    rng: random.Random,
    tl: Timeline,
    start: datetime,
    end: datetime,
    script: str | None,
) -> datetime:
    """The ``train_own_models`` grant, maybe withdrawn and re-granted; its time."""
    if script is None:
        t_grant = start + (end - start) * (rng.random() ** 1.5)
    else:  # well before the policy update, so the story shows the re-consent
        t_grant = start + (min(end, tl.v2_effective) - start) * 0.3
    t_grant = t_grant.replace(microsecond=0)
    ev.append((t_grant, TRAIN, "grant"))
    if script is None and rng.random() < 0.15:
        t_w = _between(rng, t_grant, end)
        ev.append((t_w, TRAIN, "withdraw"))
        if rng.random() < 0.3:
            ev.append((_between(rng, t_w, end), TRAIN, "grant"))
    return t_grant


def _share_story(
    ev: Events,
    rng: random.Random,
    tl: Timeline,
    t_grant: datetime,
    end: datetime,
    script: str | None,
) -> None:
    """A ``share_with_providers`` grant after the training one: withdrawn, or renewed
    after the material policy update."""
    t_s = t_grant + timedelta(seconds=40)
    if script is None and rng.random() < 0.5:
        t_s = _between(rng, t_grant, end)
    ev.append((t_s, SHARE, "grant"))
    withdrawn = script is None and rng.random() < 0.12
    if withdrawn:
        ev.append((_between(rng, t_s, end), SHARE, "withdraw"))
    elif t_s < tl.v2_effective < end and (script == "both" or rng.random() < 0.45):
        again = tl.v2_effective + timedelta(days=rng.expovariate(1 / 20))
        if again < end:
            ev.append((again.replace(microsecond=0), SHARE, "grant"))


def _finish(
    m: DemoMember,
    ev: list[tuple[datetime, str, str]],
    rng: random.Random,
    tl: Timeline,
    end: datetime,
) -> None:
    ev.sort()
    m.events = [
        DemoEvent(at, m.id, purpose, action, tl.version_at(at), event_id(rng))
        for at, purpose, action in ev
        if at < end
    ]
