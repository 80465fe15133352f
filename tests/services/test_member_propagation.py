"""Issue 9: member lifecycle changes propagate like withdrawals.

A closure, a suspension, a move to an excluded country and a birth-date correction that
makes someone a minor each mark the snapshots holding the member's records as stale,
with the reason of the change and the member's record count, whichever surface records
the change (the service behind ``optin member update``, the CLI itself, ``optin import
member-events``, ``POST /api/v1/members/{id}/events``); snapshot verify finds the same
count. A change recorded after the build, even one backdated to before the snapshot's
as-of time, leaves the snapshot sound as built: stale, never "not eligible at as-of".
On SQLite and PostgreSQL (``db``).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from optin.cli.main import run
from optin.domain.eligibility import eligibility
from optin.services import web_auth
from optin.services.demo import generate_demo
from optin.services.eligibility import decide_all, decide_member
from optin.services.imports import import_file
from optin.services.members import update_member
from optin.services.policy import policy_set
from optin.services.snapshots import get_snapshot
from optin.services.verify import verify_snapshot
from optin.services.web_auth import LoginRateLimiter
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.members import joined_times, member_histories
from optin.storage.models import SnapshotRecordRow
from optin.web import create_app
from tests.pipeline.helpers import AS_OF, DEMO_NOW, PURPOSE, build

LATER = DEMO_NOW + timedelta(hours=1)


def _authors(db: Database, sid: str) -> list[tuple[str, int]]:
    with db.session() as s:
        rows = s.execute(
            select(SnapshotRecordRow.author_id).where(SnapshotRecordRow.snapshot_id == sid)
        ).scalars()
        return sorted(Counter(rows).items(), key=lambda x: (-x[1], x[0]))


@pytest.fixture()
def built(db: Database, tmp_path: Path) -> Iterator[tuple[Database, Settings, str]]:
    generate_demo(db, members=120, posts=900, seed=2, now=DEMO_NOW, accounts=False)
    settings = Settings(home=tmp_path / "home", database_url=db.url)
    r = build(db, settings)
    assert r.records > 0
    # the manifest states both times of the bitemporal read
    assert r.manifest["as_of"] == AS_OF.isoformat()
    assert r.manifest["as_of_recorded"] == AS_OF.isoformat()
    yield db, settings, r.snapshot_id


def _stale(db: Database, sid: str) -> tuple[str, int, dict[str, int]]:
    snap = get_snapshot(db, sid)
    return snap.status, snap.stale_records, snap.stale_reasons


def test_when_members_change_then_their_snapshots_are_stale_with_reason_and_count(
    built, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    db, settings, sid = built
    (a, na), (b, nb), (c, nc), (d, nd), (e, _ne), *_ = _authors(db, sid)
    as_of_decisions = list(decide_all(db, PURPOSE, AS_OF))
    assert _stale(db, sid) == ("complete", 0, {})

    # 1. closure (the service behind `optin member update`), backdated to the as-of time
    r = update_member(db, a, status="closed", effective_at=AS_OF, now=LATER, source="cli")
    assert (r.reason, r.stale_records) == ("account_closed", na)
    assert _stale(db, sid) == ("stale", na, {"account_closed": na})

    # 2. suspension through the CLI itself
    monkeypatch.setenv("OPTIN_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    rc = run(["--home", str(settings.home), "member", "update", b, "--status", "suspended"])
    out = capsys.readouterr().out
    assert rc == 0 and f"{nb} record(s) of live snapshots are no longer eligible" in " ".join(
        out.split()
    )
    assert _stale(db, sid) == (
        "stale",
        na + nb,
        {"account_closed": na, "account_suspended": nb},
    )

    # 3. a move to an excluded country, by `optin import member-events` (backdated)
    f = settings.home / "moves.jsonl"
    f.write_text(
        json.dumps({"member_id": c, "effective_at": AS_OF.isoformat(), "country": "DE"}) + "\n"
    )
    now3 = datetime.now(UTC)
    assert import_file(db, "member-events", f, now=now3).inserted == 1
    assert _stale(db, sid)[2] == {
        "account_closed": na,
        "account_suspended": nb,
        "country_excluded": nc,
    }

    # 4. a birth-date correction that makes the member a minor, through the API
    app = create_app(settings, db=db, limiter=LoginRateLimiter())
    with db.session() as s:
        token = web_auth.create_api_key(s, "t", ["members:write"], now=now3).token
    minor = date(now3.year - 10, 1, 1).isoformat()
    resp = TestClient(app).post(
        f"/api/v1/members/{d}/events",
        json={"birth_date": minor},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["propagation_reason"], body["stale_records"]) == ("birth_date_corrected", nd)
    status, n, reasons = _stale(db, sid)
    assert status == "stale" and n == na + nb + nc + nd
    assert reasons == {
        "account_closed": na,
        "account_suspended": nb,
        "country_excluded": nc,
        "birth_date_corrected": nd,
    }

    # a move to a country where the grant still counts makes nothing stale
    now5 = datetime.now(UTC)
    r = update_member(db, e, country="CA", now=now5, source="cli")
    assert (r.reason, r.stale_records) == ("country_changed", 0)
    assert decide_member(db, e, PURPOSE, now5).eligible
    assert _stale(db, sid)[1] == n

    # verify judges the same: stale (sound at as-of and build time), the same count;
    # nothing recorded after the build changed a decision as of the snapshot's time
    assert list(decide_all(db, PURPOSE, AS_OF)) == as_of_decisions
    rep = verify_snapshot(db, settings, sid, now=datetime.now(UTC), rescan=False)
    assert rep.status == "stale", rep.to_dict()
    elig = next(x for x in rep.checks if x.name == "eligibility")
    assert elig.counts["no_longer_eligible"] == n and elig.counts["never_eligible"] == 0

    # reactivating the suspended member clears their rows
    r = update_member(db, b, status="active", now=datetime.now(UTC), source="cli")
    assert r.reason == "account_reactivated"
    assert _stale(db, sid)[2] == {
        "account_closed": na,
        "country_excluded": nc,
        "birth_date_corrected": nd,
    }


def test_when_random_member_changes_follow_a_build_then_verify_agrees_with_the_builder(
    built,
) -> None:  # type: ignore[no-untyped-def]
    """Random lifecycle changes recorded after the build (claiming any time since the
    member joined, some before the as-of time, some repeated): the builder's bulk
    decisions as of the snapshot's time are unchanged; verify's independent
    re-derivation (each author's full history through the domain rule) agrees with the
    bulk path on every member at as-of, build time and now, finds the snapshot sound as
    built (never "not eligible at as-of") and counts exactly the records propagation
    marked stale."""
    db, settings, sid = built
    rng = random.Random(11)
    authors = [a for a, _ in _authors(db, sid)]
    members = [d.member_id for d in decide_all(db, PURPOSE, AS_OF)]
    as_of_before = list(decide_all(db, PURPOSE, AS_OF))
    built_before = list(decide_all(db, PURPOSE, DEMO_NOW))
    with db.session() as s:
        joined = joined_times(s, members)
    now = LATER
    for _ in range(60):
        who = rng.choice(authors if rng.random() < 0.7 else members)
        now += timedelta(minutes=rng.randrange(1, 90))
        eff = joined[who] + (now - joined[who]) * rng.random()
        kind = rng.choice(["country", "status", "birth_date", "birth_date"])
        value: dict[str, object] = {
            "country": {"country": rng.choice(["US", "DE", "BR", "IN", "FR", "CN"])},
            "status": {"status": rng.choice(["suspended", "closed", "active", "active"])},
            "birth_date": {
                "birth_date": rng.choice([date(1985, 2, 2), date(2012, 7, 1), date(2007, 5, 31)])
            },
        }[kind]
        if kind == "birth_date" and rng.random() < 0.3:
            eff = now  # a correction effective when recorded
        r = update_member(db, who, effective_at=eff, now=now, source="cli", **value)  # type: ignore[arg-type]
        if any(c.recorded for c in r.changes):
            assert r.reason is not None
    assert list(decide_all(db, PURPOSE, AS_OF)) == as_of_before
    assert list(decide_all(db, PURPOSE, DEMO_NOW)) == built_before
    ps = policy_set(db)
    with db.session() as s:
        histories = member_histories(s, members)
    for t in (AS_OF, DEMO_NOW, now):
        for d in decide_all(db, PURPOSE, t):
            assert d == eligibility(histories[d.member_id], PURPOSE, t, ps), (d.member_id, t)
    rep = verify_snapshot(db, settings, sid, now=now, rescan=False)
    elig = next(x for x in rep.checks if x.name == "eligibility")
    assert elig.counts["never_eligible"] == 0, elig.problems
    snap = get_snapshot(db, sid)
    assert elig.counts["no_longer_eligible"] == snap.stale_records
    assert rep.status == ("stale" if snap.stale_records else "pass"), rep.to_dict()
    assert snap.stale_records > 0  # the random changes did touch the snapshot
    # verify names the domain's reasons, the capacity rule's among them
    assert "GRANT_GIVEN_AS_MINOR" in " ".join(elig.problems)


def test_when_a_change_is_already_recorded_then_nothing_propagates(built) -> None:  # type: ignore[no-untyped-def]
    db, _settings, sid = built
    (a, na), *_ = _authors(db, sid)
    first = update_member(db, a, status="closed", effective_at=AS_OF, now=LATER, source="cli")
    again = update_member(db, a, status="closed", effective_at=AS_OF, now=LATER, source="cli")
    assert (first.reason, first.stale_records) == ("account_closed", na)
    assert (again.reason, again.stale_records) == (None, 0)
    assert _stale(db, sid) == ("stale", na, {"account_closed": na})
