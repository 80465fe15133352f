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
from typing import Any, cast

from sqlalchemy import Table, func, select

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
from optin.domain.model import ConsentSource, Regime
from optin.domain.policy import default_policy_text
from optin.errors import ConflictError, InputError
from optin.files import atomic_text
from optin.services.database import Database
from optin.services.eligibility import decide_all
from optin.services.policy import policy_set, publish_policy
from optin.services.web_auth import hash_password
from optin.storage import ledger
from optin.storage.models import (
    ContentRow,
    MemberCountryRow,
    MemberRow,
    MemberStatusRow,
)


def _t(model: type[Any]) -> Table:
    """The Core table of an ORM model (typed for mypy)."""
    return cast(Table, model.__table__)


log = logging.getLogger(__name__)

DEFAULT_MEMBERS = 2000
DEFAULT_POSTS = 10000
PURPOSES = (TRAIN, SHARE)
_CHUNK = 5000

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


def _insert(session: Any, table: Any, rows: Iterator[dict[str, Any]]) -> None:
    buf: list[dict[str, Any]] = []
    for r in rows:
        buf.append(r)
        if len(buf) >= _CHUNK:
            session.execute(table.insert(), buf)
            buf = []
    if buf:
        session.execute(table.insert(), buf)


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
    now = now.astimezone(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    db.init()
    with db.session() as s:
        existing = s.execute(select(func.count()).select_from(MemberRow)).scalar_one()
    if existing:
        raise ConflictError(
            f"the database already has {existing} members; the demo needs a "
            "fresh database (use a new --home or OPTIN_DATABASE_URL)"
        )
    tl = _timeline(db, now)
    rules = policy_set(db).versions[0].jurisdictions

    def excluded(country: str) -> bool:
        return rules.regime(country) is Regime.EXCLUDED

    # -- members and their consent stories (in memory: bounded by the member count) --
    rng_m, rng_c = _rng(seed, "members"), _rng(seed, "consents")
    taken: set[str] = {ADMIN[0]}
    ms: list[DemoMember] = []
    scripts = ("both", "train", "none")
    for i in range(members):
        fixed = LOGIN_MEMBERS[i] if i < len(LOGIN_MEMBERS) else None
        m = make_member(i + 1, rng_m, tl, taken, fixed)
        consent_history(
            m, rng_c, tl, excluded, script=scripts[i] if i < len(LOGIN_MEMBERS) else None
        )
        ms.append(m)
    timings["members_generated"] = time.perf_counter() - t0

    # -- policy version 2 (material for share_with_providers), published 30 days ahead --
    publish_policy(
        db,
        _v2_text(),
        effective_at=tl.v2_effective,
        material={SHARE},
        now=tl.v2_effective - timedelta(days=30),
        source="demo policy v2",
    )

    made: list[Account] = []
    with db.session() as s:
        _insert(s, _t(MemberRow), _member_rows(ms, now))
        _insert(
            s,
            _t(MemberCountryRow),
            (
                {"member_id": m.id, "since": since, "country": c}
                for m in ms
                for since, c in m.countries
            ),
        )
        _insert(s, _t(MemberStatusRow), _status_rows(ms))
        if accounts:
            made = _accounts(s, ms, rng_m, tl)
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
            now=now,
            historical=True,  # the demo simulates a past: events recorded when they happened
        )
    timings["members_and_ledger"] = time.perf_counter() - t0

    # -- content, streamed in chunks; ground truth written alongside --
    gt_path = ground_truth
    if gt_path is None and db.home is not None:
        gt_path = db.home / "demo" / "ground_truth.jsonl"
    stats = _content(db, ms, posts, _rng(seed, "content"), tl, gt_path)
    timings["content"] = time.perf_counter() - t0

    # -- summary: eligibility through the real bulk path --
    eligible: dict[str, int] = {}
    reasons: dict[str, dict[str, int]] = {}
    for p in PURPOSES:
        counts: Counter[str] = Counter()
        n_ok = 0
        for d in decide_all(db, p, now):
            counts[str(d.reason)] += 1
            n_ok += d.eligible
        eligible[p] = n_ok
        reasons[p] = dict(sorted(counts.items()))
    timings["eligibility"] = time.perf_counter() - t0

    by_regime: Counter[str] = Counter()
    granted: dict[str, Counter[str]] = {p: Counter() for p in PURPOSES}
    for m in ms:
        regime = str(rules.regime(m.country_at(now)))
        by_regime[regime] += 1
        last: dict[str, str] = {}
        for e in m.events:
            last[e.purpose] = e.action
        for p in PURPOSES:
            if last.get(p) == "grant":
                granted[p][regime] += 1
    consent_by_regime = {
        regime: {
            p: {
                "granted": granted[p][regime],
                "rate": round(granted[p][regime] / n, 4) if n else 0.0,
            }
            for p in PURPOSES
        }
        for regime, n in sorted(by_regime.items())
    }
    versions = [
        {
            "version": v.version,
            "effective_at": v.effective_at.isoformat(),
            "material": sorted(v.material),
        }
        for v in policy_set(db).versions
    ]
    log.info(
        "demo: %d members, %d content items, %d ledger events in %.1fs",
        len(ms),
        posts,
        head.seq,
        time.perf_counter() - t0,
    )
    return DemoSummary(
        seed=seed,
        now=now,
        members=len(ms),
        countries=len({c for m in ms for _, c in m.countries}),
        members_by_regime=dict(sorted(by_regime.items())),
        minors=sum(m.minor for m in ms),
        closed_accounts=sum(m.closed_at is not None for m in ms),
        moved_country=sum(len(m.countries) > 1 for m in ms),
        consent_by_regime=consent_by_regime,
        eligible=eligible,
        reasons=reasons,
        content_by_kind=stats["kind"],
        content_by_visibility=stats["visibility"],
        languages=stats["language"],
        deleted=stats["flags"].get("deleted", 0),
        edited=stats["flags"].get("edited", 0),
        pii_by_label=stats["label"],
        ledger_events=head.seq,
        ledger_head=head.hash,
        policy_versions=versions,
        accounts=made,
        ground_truth=str(gt_path) if gt_path else None,
        seconds=round(time.perf_counter() - t0, 3),
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def _status_rows(ms: list[DemoMember]) -> Iterator[dict[str, Any]]:
    for m in ms:
        yield {"member_id": m.id, "since": m.joined_at, "status": "active"}
        if m.closed_at is not None:
            yield {"member_id": m.id, "since": m.closed_at, "status": "closed"}


def _accounts(s: Any, ms: list[DemoMember], rng: random.Random, tl: Timeline) -> list[Account]:
    """Password hashes for the login members and one admin (argon2: only these few)."""
    out: list[Account] = []
    for (handle, _name, _c, password), m in zip(LOGIN_MEMBERS, ms, strict=False):
        s.execute(
            _t(MemberRow)
            .update()
            .where(MemberRow.id == m.id)
            .values(password_hash=hash_password(password))
        )
        out.append(Account(handle, password, "member"))
    handle, name, country, password = ADMIN
    joined = tl.start
    s.execute(
        _t(MemberRow).insert(),
        [
            {
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
        ],
    )
    s.execute(
        _t(MemberCountryRow).insert(),
        [{"member_id": "admin", "since": joined, "country": country}],
    )
    s.execute(
        _t(MemberStatusRow).insert(),
        [{"member_id": "admin", "since": joined, "status": "active"}],
    )
    out.append(Account(handle, password, "admin"))
    return out


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


def _content(
    db: Database,
    ms: list[DemoMember],
    total: int,
    rng: random.Random,
    tl: Timeline,
    gt_path: Path | None,
) -> dict[str, dict[str, int]]:
    """Generate and insert ``total`` content items in chunks, streaming the ground truth to
    a temporary file renamed into place at the end; returns counts for the summary."""
    stats: dict[str, Counter[str]] = {
        k: Counter() for k in ("kind", "visibility", "language", "label", "flags")
    }
    n = len(ms)
    people = [m.person for m in ms]

    def pick_other() -> Any:
        return people[rng.randrange(n)]

    table = _t(ContentRow)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(atomic_text(gt_path, mode=0o600)) if gt_path is not None else None
        done = 0
        while done < total:
            rows: list[dict[str, Any]] = []
            lines: list[str] = []
            for i in range(done, min(total, done + _CHUNK)):
                m = ms[int(n * rng.random() ** 1.7)]
                kind = _pick_kind(rng.random())
                vis = _visibility(kind, rng.random())
                country = BY_CODE[m.country_at(tl.now)]
                lang = "en"
                if (
                    kind == "post"
                    and country.language in _LANGS_WITH_POSTS
                    and rng.random() < country.lang_share
                ):
                    lang = country.language
                end = m.closed_at or tl.now
                created = m.joined_at + (end - m.joined_at) * rng.random()
                created = created.replace(microsecond=0)
                edited = deleted = None
                r = rng.random()
                if r < 0.08:
                    edited = created + (end - created) * rng.random() * 0.2
                    stats["flags"]["edited"] += 1
                elif r < 0.10:
                    deleted = created + (tl.now - created) * rng.random()
                    stats["flags"]["deleted"] += 1
                text, spans = compose(kind, lang, rng, m.person, pick_other)
                cid = f"c{i + 1:09d}"
                rows.append(
                    {
                        "id": cid,
                        "author_id": m.id,
                        "kind": kind,
                        "visibility": vis,
                        "text": text,
                        "language": lang,
                        "created_at": created,
                        "edited_at": edited,
                        "deleted_at": deleted,
                    }
                )
                stats["kind"][kind] += 1
                stats["visibility"][vis] += 1
                stats["language"][lang] += 1
                for _s, _e, label in spans:
                    stats["label"][label] += 1
                if out is not None:
                    lines.append(
                        json.dumps(
                            {
                                "id": cid,
                                "text": text,
                                "spans": [
                                    {"start": a, "end": b, "label": lab} for a, b, lab in spans
                                ],
                                "meta": {
                                    "kind": kind,
                                    "visibility": vis,
                                    "language": lang,
                                    "deleted": deleted is not None,
                                },
                            },
                            ensure_ascii=False,
                        )
                    )
            with db.session() as s:
                s.execute(table.insert(), rows)
            if out is not None:
                out.write("\n".join(lines) + "\n")
            done += len(rows)
    return {k: dict(sorted(v.items())) for k, v in stats.items()}


__all__ = ["DEFAULT_MEMBERS", "DEFAULT_POSTS", "Account", "DemoSummary", "generate_demo"]
