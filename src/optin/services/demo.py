"""``optin demo``: a realistic synthetic professional network, deterministic for a seed.

::

    summary = generate_demo(db, members=2000, posts=10000, seed=7, now=fixed_now)

Members in 41 countries (excluded ones and minors included), posts, articles, comments,
private messages and profiles that mention other members and carry e-mails, phones,
profile URLs, addresses and, rarely, cards, IBANs and government ids; the ground-truth
span of every inserted piece of personal data goes to ``$OPTIN_HOME/demo/
ground_truth.jsonl`` (the format of the PII benchmarks, so ``score.py`` can score
redaction on demo content). Consent histories (opt-in: most members never consent) go
through the hash-chained ledger's bulk append, and a material policy update (version 2,
``share_with_providers``) lands partway through.

Everything is derived from ``seed`` and ``now``: the same pair gives the same database
content and the same ledger head hash (only the password hashes of the login accounts
differ, argon2 salts them). Content is generated and inserted in chunks, so memory stays
bounded by the member table, even for 100k members and 1M posts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from optin.demo.countries import BY_CODE
from optin.demo.people import (
    ADMIN,
    LOGIN_MEMBERS,
    SHARE,
    TRAIN,
    DemoMember,
    Timeline,
    consent_history,
    make_member,
)
from optin.demo.text import compose
from optin.domain.model import ConsentSource, JurisdictionRules, Regime
from optin.domain.policy import default_policy_text
from optin.errors import ConflictError, InputError
from optin.files import atomic_text
from optin.services.policy import policy_set, publish_policy
from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
from optin.services.statistics import consent_statistics
from optin.services.web_auth import hash_password
from optin.storage import demo as store
from optin.storage import ledger
from optin.storage.database import Database

log = logging.getLogger(__name__)

DEFAULT_MEMBERS = 2000
DEFAULT_POSTS = 10000
PURPOSES = (TRAIN, SHARE)
_CHUNK = store.CHUNK

#: content kind mix (cumulative thresholds) and visibility mix per kind
_KINDS = (("post", 0.60), ("article", 0.65), ("comment", 0.91), ("message", 0.98), ("profile", 1.0))
_LANGS_WITH_POSTS = {"de", "fr", "es", "pt", "it", "nl", "ja"}


@dataclass(frozen=True, slots=True)
class Account:
    handle: str
    password: str
    role: str


@dataclass
class DemoSummary:
    """What ``optin demo`` created (``to_dict`` for ``--json``).

    ``members_by_regime`` and ``consent_by_regime`` group members by their country at
    ``now``; ``consent_by_regime[regime][purpose]`` counts members whose latest choice
    for the purpose is a grant (a grant made stale by the material update still counts
    there). ``eligible`` and ``reasons`` come from the bulk eligibility engine at ``now``
    (the admin account included).
    """

    seed: int
    now: datetime
    members: int
    countries: int
    members_by_regime: dict[str, int]
    minors: int
    closed_accounts: int
    moved_country: int
    consent_by_regime: dict[str, dict[str, dict[str, float]]]
    eligible: dict[str, int]
    reasons: dict[str, dict[str, int]]
    content_by_kind: dict[str, int]
    content_by_visibility: dict[str, int]
    languages: dict[str, int]
    deleted: int
    edited: int
    pii_by_label: dict[str, int]
    ledger_events: int
    ledger_head: str
    policy_versions: list[dict[str, Any]]
    accounts: list[Account]
    ground_truth: str | None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["now"] = self.now.isoformat()
        return d


def _timeline(db: Database, now: datetime) -> Timeline:
    ps = policy_set(db)
    if len(ps) != 1:
        raise ConflictError(
            f"the database already has {len(ps)} policy versions; the demo needs a fresh "
            "database (use a new --home or OPTIN_DATABASE_URL)"
        )
    v1 = ps.versions[0]
    if now - v1.effective_at < timedelta(days=90):
        raise InputError(
            "the demo's 'now' must be at least 90 days after policy version 1 takes effect",
            field="now",
            value=now.isoformat(),
            allowed=f"after {(v1.effective_at + timedelta(days=90)).date()}",
        )
    v2 = v1.effective_at + (now - v1.effective_at) * 0.6
    v2 = v2.replace(hour=0, minute=0, second=0, microsecond=0)
    return Timeline(
        start=now - timedelta(days=3 * 365), now=now, consent_from=v1.effective_at, v2_effective=v2
    )


def _v2_text() -> str:
    """Policy version 2: a new provider for ``share_with_providers`` (material)."""
    text = default_policy_text()
    text = text.replace(
        'summary = "Initial policy: opt-in only; EU, EEA, Switzerland and the UK excluded."',
        'summary = "Version 2: a second AI provider receives shared content (material change '
        'for share_with_providers; please review and consent again)."',
    )
    return text.replace(
        'recipients = ["Azure OpenAI Service (Microsoft)"]',
        'recipients = ["Azure OpenAI Service (Microsoft)", "Mistral AI"]',
    )


def _rng(seed: int, part: str) -> random.Random:
    return random.Random(f"optin-demo:{seed}:{part}")


def _member_rows(ms: list[DemoMember], now: datetime) -> Iterator[dict[str, Any]]:
    for m in ms:
        yield {
            "id": m.id,
            "handle": m.person.handle,
            "display_name": m.person.display_name,
            "email": m.person.email,
            "birth_date": m.birth_date,
            "joined_at": m.joined_at,
            "role": "member",
            "password_hash": None,
            "erased_at": None,
        }


@dataclass(frozen=True)
class DemoPlan:
    """The checked inputs of one demo run (``now`` in UTC, whole seconds)."""

    members: int
    posts: int
    seed: int
    now: datetime
    ground_truth: Path | None
    accounts: bool

    @classmethod
    def check(
        cls,
        db: Database,
        *,
        members: int,
        posts: int,
        seed: int,
        now: datetime,
        ground_truth: Path | None,
        accounts: bool,
    ) -> DemoPlan:
        if now.tzinfo is None:
            raise InputError("time must be timezone-aware", field="now", value=str(now))
        if members < len(LOGIN_MEMBERS) + 1:
            raise InputError(
                "too few members",
                field="members",
                value=members,
                allowed=f">= {len(LOGIN_MEMBERS) + 1}",
            )
        if posts < 0:
            raise InputError("must not be negative", field="posts", value=posts, allowed=">= 0")
        if ground_truth is None and db.home is not None:
            ground_truth = db.home / "demo" / "ground_truth.jsonl"
        return cls(
            members,
            posts,
            seed,
            now.astimezone(UTC).replace(microsecond=0),
            ground_truth,
            accounts,
        )


def generate_demo(
    db: Database,
    *,
    members: int = DEFAULT_MEMBERS,
    posts: int = DEFAULT_POSTS,
    seed: int = 0,
    now: datetime,
    ground_truth: Path | None = None,
    accounts: bool = True,
) -> DemoSummary:
    """Fill an empty optin database with a synthetic network. See the module docstring.

    ``members`` counts platform members (the admin account comes on top); ``posts``
    counts content items of every kind. ``ground_truth`` defaults to
    ``<home>/demo/ground_truth.jsonl`` (no file when the database has no home).
    ``accounts=False`` skips the argon2 password hashes (faster tests).
    """
    plan = DemoPlan.check(
        db,
        members=members,
        posts=posts,
        seed=seed,
        now=now,
        ground_truth=ground_truth,
        accounts=accounts,
    )
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.perf_counter() - t0

    init_database(db, now=plan.now, effective_at=DEFAULT_POLICY_EFFECTIVE_AT, allow_backdate=True)
    _require_empty(db)
    tl = _timeline(db, plan.now)
    rules = policy_set(db).versions[0].jurisdictions
    ms = _people(plan, tl, rules)
    lap("members_generated")
    # policy version 2 (material for share_with_providers), published 30 days ahead
    publish_policy(
        db,
        _v2_text(),
        effective_at=tl.v2_effective,
        material={SHARE},
        now=tl.v2_effective - timedelta(days=30),
        source="demo policy v2",
    )
    made, head = _write_members(db, plan, ms, tl)
    lap("members_and_ledger")
    content = _content(db, ms, plan.posts, _rng(plan.seed, "content"), tl, plan.ground_truth)
    lap("content")
    stats = _statistics(db, plan.now)
    lap("eligibility")
    log.info(
        "demo: %d members, %d content items, %d ledger events in %.1fs",
        len(ms),
        plan.posts,
        head.seq,
        time.perf_counter() - t0,
    )
    return DemoSummary(
        seed=plan.seed,
        now=plan.now,
        members=len(ms),
        countries=len({c for m in ms for _, c in m.countries}),
        members_by_regime=stats.members_by_regime,
        minors=sum(m.minor for m in ms),
        closed_accounts=sum(m.closed_at is not None for m in ms),
        moved_country=sum(len(m.countries) > 1 for m in ms),
        consent_by_regime=stats.consent_by_regime,
        eligible=stats.eligible,
        reasons=stats.reasons,
        content_by_kind=content["kind"],
        content_by_visibility=content["visibility"],
        languages=content["language"],
        deleted=content["flags"].get("deleted", 0),
        edited=content["flags"].get("edited", 0),
        pii_by_label=content["label"],
        ledger_events=head.seq,
        ledger_head=head.hash,
        policy_versions=_versions(db),
        accounts=made,
        ground_truth=str(plan.ground_truth) if plan.ground_truth else None,
        seconds=round(time.perf_counter() - t0, 3),
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def _require_empty(db: Database) -> None:
    with db.session() as s:
        existing = store.member_count(s)
    if existing:
        raise ConflictError(
            f"the database already has {existing} members; the demo needs a "
            "fresh database (use a new --home or OPTIN_DATABASE_URL)"
        )


def _people(plan: DemoPlan, tl: Timeline, rules: JurisdictionRules) -> list[DemoMember]:
    """Members and their consent stories (in memory: bounded by the member count)."""

    def excluded(country: str) -> bool:
        return rules.regime(country) is Regime.EXCLUDED

    rng_m, rng_c = _rng(plan.seed, "members"), _rng(plan.seed, "consents")
    taken: set[str] = {ADMIN[0]}
    ms: list[DemoMember] = []
    scripts = ("both", "train", "none")
    for i in range(plan.members):
        fixed = LOGIN_MEMBERS[i] if i < len(LOGIN_MEMBERS) else None
        m = make_member(i + 1, rng_m, tl, taken, fixed)
        consent_history(
            m, rng_c, tl, excluded, script=scripts[i] if i < len(LOGIN_MEMBERS) else None
        )
        ms.append(m)
    return ms


def _write_members(
    db: Database, plan: DemoPlan, ms: list[DemoMember], tl: Timeline
) -> tuple[list[Account], ledger.LedgerHead]:
    """Members, their countries and statuses, the login accounts and every consent event
    (one bulk ledger append, in time order) in one transaction."""
    made: list[Account] = []
    with db.session() as s:
        store.insert_rows(s, store.MEMBERS, _member_rows(ms, plan.now))
        store.insert_rows(
            s,
            store.MEMBER_COUNTRIES,
            (
                {"member_id": m.id, "since": since, "country": c}
                for m in ms
                for since, c in m.countries
            ),
        )
        store.insert_rows(s, store.MEMBER_STATUSES, _status_rows(ms))
        if plan.accounts:
            logins = _accounts(ms, tl)
            for member_id, password_hash in logins.password_hashes:
                store.set_password_hash(s, member_id, password_hash)
            store.insert_rows(s, store.MEMBERS, [logins.admin])
            store.insert_rows(s, store.MEMBER_COUNTRIES, [logins.admin_country])
            store.insert_rows(s, store.MEMBER_STATUSES, [logins.admin_status])
            made = logins.accounts
        drafts = sorted(
            (e for m in ms for e in m.events), key=lambda e: (e.at, e.member_id, e.purpose)
        )
        head = ledger.append_many(
            s,
            [
                ledger.EventDraft(
                    member_id=e.member_id,
                    purpose=e.purpose,
                    action=e.action,
                    at=e.at,
                    policy_version=e.policy_version,
                    source=ConsentSource.DEMO,
                    event_id=e.event_id,
                    recorded_at=e.at,
                )
                for e in drafts
            ],
            now=plan.now,
            historical=True,  # the demo simulates a past: events recorded when they happened
        )
    return made, head


@dataclass
class _Statistics:
    members_by_regime: dict[str, int]
    consent_by_regime: dict[str, dict[str, dict[str, float]]]
    eligible: dict[str, int]
    reasons: dict[str, dict[str, int]]


def _statistics(db: Database, now: datetime) -> _Statistics:
    """The summary's consent figures, from the one statistics function
    (:func:`optin.services.statistics.consent_statistics`: bulk eligibility, and the latest
    choice per purpose by the regime of each member's country at ``now``)."""
    st = consent_statistics(db, now=now, purposes=PURPOSES)
    eligible = {p: st.purposes[p].eligible for p in PURPOSES}
    reasons = {p: dict(sorted(st.purposes[p].reasons.items())) for p in PURPOSES}
    by_regime = st.members_by_regime
    consent_by_regime = {
        regime: {
            p: {
                "granted": (g := st.purposes[p].by_regime.get(regime, {}).get("switched_on", 0)),
                "rate": round(g / n, 4) if n else 0.0,
            }
            for p in PURPOSES
        }
        for regime, n in sorted(by_regime.items())
    }
    return _Statistics(dict(sorted(by_regime.items())), consent_by_regime, eligible, reasons)


def _versions(db: Database) -> list[dict[str, Any]]:
    return [
        {
            "version": v.version,
            "effective_at": v.effective_at.isoformat(),
            "material": sorted(v.material),
        }
        for v in policy_set(db).versions
    ]


def _status_rows(ms: list[DemoMember]) -> Iterator[dict[str, Any]]:
    for m in ms:
        yield {"member_id": m.id, "since": m.joined_at, "status": "active"}
        if m.closed_at is not None:
            yield {"member_id": m.id, "since": m.closed_at, "status": "closed"}


@dataclass
class _Logins:
    """The demo's login accounts: password hashes of the login members, and the admin
    (its member, country and status rows)."""

    accounts: list[Account]
    password_hashes: list[tuple[str, str]]  # (member id, argon2 hash)
    admin: dict[str, Any]
    admin_country: dict[str, Any]
    admin_status: dict[str, Any]


def _accounts(ms: list[DemoMember], tl: Timeline) -> _Logins:
    """Password hashes for the login members and one admin (argon2: only these few)."""
    out: list[Account] = []
    hashes: list[tuple[str, str]] = []
    for (handle, _name, _c, password), m in zip(LOGIN_MEMBERS, ms, strict=False):
        hashes.append((m.id, hash_password(password)))
        out.append(Account(handle, password, "member"))
    handle, name, country, password = ADMIN
    joined = tl.start
    admin = {
        "id": "admin",
        "handle": handle,
        "display_name": name,
        "email": None,
        "birth_date": (tl.now - timedelta(days=40 * 365)).date(),
        "joined_at": joined,
        "role": "admin",
        "password_hash": hash_password(password),
        "erased_at": None,
    }
    out.append(Account(handle, password, "admin"))
    return _Logins(
        out,
        hashes,
        admin,
        {"member_id": "admin", "since": joined, "country": country},
        {"member_id": "admin", "since": joined, "status": "active"},
    )


def _pick_kind(r: float) -> str:
    for kind, upto in _KINDS:
        if r < upto:
            return kind
    return "post"


def _visibility(kind: str, r: float) -> str:
    if kind == "message":
        return "private"
    if kind == "profile":
        return "public"
    if kind == "comment":
        return "public" if r < 0.9 else "connections"
    return "public" if r < 0.82 else ("connections" if r < 0.95 else "private")


@dataclass(frozen=True, slots=True)
class _Item:
    """One generated content item: its row and the ground-truth spans of its PII."""

    row: dict[str, Any]
    spans: list[tuple[int, int, str]]

    def truth_line(self) -> str:
        r = self.row
        return json.dumps(
            {
                "id": r["id"],
                "text": r["text"],
                "spans": [{"start": a, "end": b, "label": lab} for a, b, lab in self.spans],
                "meta": {
                    "kind": r["kind"],
                    "visibility": r["visibility"],
                    "language": r["language"],
                    "deleted": r["deleted_at"] is not None,
                },
            },
            ensure_ascii=False,
        )


class _ContentPlan:
    """Draws content items, one after another, from one seeded generator (the order of
    the draws is part of the demo's determinism)."""

    def __init__(self, ms: list[DemoMember], rng: random.Random, tl: Timeline) -> None:
        self.ms = ms
        self.rng = rng
        self.tl = tl
        self.people = [m.person for m in ms]

    def pick_other(self) -> Any:
        return self.people[self.rng.randrange(len(self.ms))]

    def _language(self, kind: str, m: DemoMember) -> str:
        country = BY_CODE[m.country_at(self.tl.now)]
        if (
            kind == "post"
            and country.language in _LANGS_WITH_POSTS
            and self.rng.random() < country.lang_share
        ):
            return country.language
        return "en"

    def _times(self, m: DemoMember) -> tuple[datetime, datetime | None, datetime | None]:
        """(created, edited, deleted): about 8% edited, 2% deleted."""
        rng, end = self.rng, m.closed_at or self.tl.now
        created = (m.joined_at + (end - m.joined_at) * rng.random()).replace(microsecond=0)
        r = rng.random()
        if r < 0.08:
            return created, created + (end - created) * rng.random() * 0.2, None
        if r < 0.10:
            return created, None, created + (self.tl.now - created) * rng.random()
        return created, None, None

    def item(self, i: int) -> _Item:
        rng = self.rng
        m = self.ms[int(len(self.ms) * rng.random() ** 1.7)]
        kind = _pick_kind(rng.random())
        vis = _visibility(kind, rng.random())
        lang = self._language(kind, m)
        created, edited, deleted = self._times(m)
        text, spans = compose(kind, lang, rng, m.person, self.pick_other)
        row = {
            "id": f"c{i + 1:09d}",
            "author_id": m.id,
            "kind": kind,
            "visibility": vis,
            "text": text,
            "language": lang,
            "created_at": created,
            "edited_at": edited,
            "deleted_at": deleted,
        }
        return _Item(row, list(spans))


class _GroundTruth:
    """The ground-truth JSONL, streamed through the one atomic writer (renamed into place
    when the content is complete; nothing is left behind on failure; no file without a
    path)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stack = contextlib.ExitStack()
        self._out: IO[str] | None = None

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def __enter__(self) -> _GroundTruth:
        if self.path is not None:
            self._out = self._stack.enter_context(atomic_text(self.path, mode=0o600))
        return self

    def write(self, lines: list[str]) -> None:
        if self._out is not None:
            self._out.write("\n".join(lines) + "\n")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.__exit__(exc_type, exc, tb)


def _content(
    db: Database,
    ms: list[DemoMember],
    total: int,
    rng: random.Random,
    tl: Timeline,
    gt_path: Path | None,
) -> dict[str, dict[str, int]]:
    """Generate and insert ``total`` content items in chunks, streaming the ground truth
    alongside; returns counts for the summary."""
    stats: dict[str, Counter[str]] = {
        k: Counter() for k in ("kind", "visibility", "language", "label", "flags")
    }
    items = _ContentPlan(ms, rng, tl)
    with _GroundTruth(gt_path) as truth:
        for start in range(0, total, _CHUNK):
            batch = [items.item(i) for i in range(start, min(total, start + _CHUNK))]
            for it in batch:
                _count(stats, it)
            with db.session() as s:
                store.insert_rows(s, store.CONTENT, (it.row for it in batch))
            if truth.enabled:
                truth.write([it.truth_line() for it in batch])
    return {k: dict(sorted(v.items())) for k, v in stats.items()}


def _count(stats: dict[str, Counter[str]], item: _Item) -> None:
    row = item.row
    stats["kind"][row["kind"]] += 1
    stats["visibility"][row["visibility"]] += 1
    stats["language"][row["language"]] += 1
    if row["edited_at"] is not None:
        stats["flags"]["edited"] += 1
    if row["deleted_at"] is not None:
        stats["flags"]["deleted"] += 1
    for _s, _e, label in item.spans:
        stats["label"][label] += 1


__all__ = [
    "DEFAULT_MEMBERS",
    "DEFAULT_POSTS",
    "Account",
    "DemoPlan",
    "DemoSummary",
    "generate_demo",
]
