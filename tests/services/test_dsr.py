"""Data-subject requests on SQLite and PostgreSQL: opening (channels, deadlines per
country), duplicate linking, the state machine through the service, extension with a
notice, objection as withdrawals, erasure without the engine, the access package, and
single-use, expiring download links."""

from __future__ import annotations

import json
import os
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from optin.errors import ConflictError, InputError, NotFoundError
from optin.services import dsr
from optin.services.consent import consent_history, record_consent
from optin.services.receipts import receipt
from optin.storage.database import Database
from tests.factories import add_content, add_member

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture()
def home(db: Database, tmp_path: Path) -> Path:
    h = db.home or tmp_path / "home"
    h.mkdir(parents=True, exist_ok=True)
    return h


def _people(db: Database) -> None:
    add_member(
        db, "m-ada", handle="ada", country="US", display_name="Ada Quill", email="ada@example.org"
    )
    add_member(db, "m-bo", handle="bo", country="DE", display_name="Bo Brandt")
    add_member(db, "m-ind", handle="ind", country="IN")
    add_content(db, "m-ada", "c1", "Ada's first post about tidal gardens")
    add_content(
        db, "m-ada", "c2", "Ada's second, deleted later", deleted_at=NOW - timedelta(days=1)
    )
    add_content(db, "m-bo", "c3", "Bo writes about lighthouse keepers")


def test_opening_sets_the_deadline_by_country_rule(db: Database) -> None:
    _people(db)
    us = dsr.open_request(db, "m-ada", "access", channel="web", actor="member:m-ada", now=NOW)
    de = dsr.open_request(db, "@bo", "access", channel="web", actor="member:m-bo", now=NOW)
    other = dsr.open_request(db, "m-ind", "access", channel="web", actor="member:m-ind", now=NOW)
    assert (us.rule, us.timezone, us.country) == ("ccpa", "America/Los_Angeles", "US")
    assert us.due_at == datetime(2026, 4, 25, 7, 0, tzinfo=UTC)  # 10 Mar + 45 days, PDT
    assert (de.rule, de.timezone) == ("gdpr", "Europe/Brussels")
    assert de.due_at == datetime(2026, 4, 10, 22, 0, tzinfo=UTC)  # end of 10 Apr, CEST
    assert other.rule == "gdpr"  # the policy's default rule
    # the member's own session is the identity check
    assert us.state == "verified" and us.identity_method == dsr.WEB_IDENTITY
    assert [e.to_state for e in us.history] == ["received", "verified"]
    assert us.history[0].actor == "member:m-ada"


def test_admin_must_record_how_identity_was_verified(db: Database) -> None:
    _people(db)
    with pytest.raises(InputError, match="how the member's identity was verified"):
        dsr.open_request(db, "m-ada", "erasure", channel="admin", actor="admin:x", now=NOW)
    r = dsr.open_request(
        db,
        "m-ada",
        "erasure",
        channel="admin",
        actor="admin:x",
        now=NOW,
        identity_method="video call, ID document seen",
        received_at=NOW - timedelta(days=3),
    )
    assert r.state == "verified" and r.identity_method == "video call, ID document seen"
    assert r.received_at == NOW - timedelta(days=3)
    with pytest.raises(InputError, match="future"):
        dsr.open_request(
            db,
            "m-bo",
            "access",
            channel="cli",
            actor="cli:x",
            now=NOW,
            received_at=NOW + timedelta(days=1),
        )
    with pytest.raises(NotFoundError):
        dsr.open_request(db, "nobody", "access", channel="cli", actor="cli:x", now=NOW)
    with pytest.raises(InputError, match="unknown request kind"):
        dsr.open_request(db, "m-ada", "rectify", channel="cli", actor="cli:x", now=NOW)


def test_duplicates_are_linked_to_the_first_and_not_run_twice(db: Database, home: Path) -> None:
    _people(db)
    first = dsr.open_request(db, "m-ada", "access", channel="web", actor="member:m-ada", now=NOW)
    dup = dsr.open_request(
        db, "m-ada", "access", channel="api", actor="api:k", now=NOW + timedelta(hours=1)
    )
    other_kind = dsr.open_request(
        db, "m-ada", "erasure", channel="web", actor="member:m-ada", now=NOW
    )
    assert dup.duplicate_of == first.id and dup.state == first.state == "verified"
    assert dup.due_at == first.due_at
    assert other_kind.duplicate_of is None
    assert dsr.show_request(db, first.id, NOW).linked == (dup.id,)
    with pytest.raises(ConflictError, match="linked to an earlier open request"):
        dsr.complete(db, home, dup.id, actor="cli:x", now=NOW)
    done = dsr.complete(db, home, first.id, actor="cli:x", now=NOW + timedelta(hours=2))
    assert done.state == "completed" and done.package_available
    assert dsr.show_request(db, dup.id, NOW).state == "completed"
    packages = list((home / dsr.PACKAGES_DIR).glob("*.zip"))
    assert len(packages) == 1  # run once
    # once the first is closed, a new request is not linked
    again = dsr.open_request(
        db, "m-ada", "access", channel="web", actor="member:m-ada", now=NOW + timedelta(days=1)
    )
    assert again.duplicate_of is None


def test_state_machine_through_the_service(db: Database, home: Path) -> None:
    _people(db)
    r = dsr.open_request(db, "m-bo", "access", channel="cli", actor="cli:op", now=NOW)
    assert r.state == "received"
    with pytest.raises(ConflictError, match="from received it can go to"):
        dsr.start(db, r.id, actor="cli:op", now=NOW)
    with pytest.raises(ConflictError, match="from received it can go to"):
        dsr.complete(db, home, r.id, actor="cli:op", now=NOW)
    with pytest.raises(InputError, match="say how"):
        dsr.verify(db, r.id, method="  ", actor="cli:op", now=NOW)
    r = dsr.verify(db, r.id, method="reply from the account's e-mail", actor="cli:op", now=NOW)
    r = dsr.start(db, r.id, actor="cli:op", now=NOW)
    assert r.state == "in_progress"
    with pytest.raises(InputError, match="reason is required"):
        dsr.refuse(db, r.id, reason="", actor="cli:op", now=NOW)
    r = dsr.refuse(db, r.id, reason="manifestly unfounded", actor="cli:op", now=NOW)
    assert r.state == "refused" and r.reason == "manifestly unfounded" and r.closed_at == NOW
    with pytest.raises(ConflictError, match="already refused"):
        dsr.complete(db, home, r.id, actor="cli:op", now=NOW)
    assert [(e.from_state, e.to_state) for e in r.history] == [
        (None, "received"),
        ("received", "verified"),
        ("verified", "in_progress"),
        ("in_progress", "refused"),
    ]
    with pytest.raises(NotFoundError, match="dsr list"):
        dsr.show_request(db, "dsr_nope", NOW)


def test_extension_once_with_a_notice_and_only_before_the_deadline(db: Database) -> None:
    _people(db)
    r = dsr.open_request(db, "m-bo", "access", channel="web", actor="member:m-bo", now=NOW)
    e = dsr.extend(db, r.id, reason="many archived items to collect", actor="admin:a", now=NOW)
    assert e.state == "extended" and e.extended
    assert e.first_due_at == r.due_at
    assert e.due_at == datetime(2026, 6, 10, 22, 0, tzinfo=UTC)  # 10 Mar + 3 months, CEST
    assert e.notices and "many archived items" in e.notices[0] and "new deadline" in e.notices[0]
    # the member is told the last day in the rule's zone, not a UTC instant
    assert "the end of 2026-06-10 (Europe/Brussels time" in e.notices[0]
    with pytest.raises(ConflictError, match="already extended once"):
        dsr.extend(db, r.id, reason="again", actor="admin:a", now=NOW)
    late = dsr.open_request(
        db,
        "m-ind",
        "access",
        channel="cli",
        actor="cli:op",
        now=NOW,
        received_at=NOW - timedelta(days=40),
    )
    with pytest.raises(ConflictError, match="has passed"):
        dsr.extend(db, late.id, reason="late", actor="admin:a", now=NOW)
    # an extended request goes on to completion
    assert dsr.start(db, r.id, actor="admin:a", now=NOW).state == "in_progress"
    assert dsr.list_requests(db, NOW, open_only=True, kind="access")[0].id == late.id


def test_objection_withdraws_every_purpose_with_source_objection(db: Database) -> None:
    _people(db)
    record_consent(
        db, "m-ada", "train_own_models", "grant", source="web", now=NOW - timedelta(minutes=1)
    )
    r = dsr.open_request(db, "m-ada", "objection", channel="web", actor="member:m-ada", now=NOW)
    assert r.state == "completed"  # verified by the session: done at once
    events = consent_history(db, "m-ada")
    objections = [e for e in events if str(e.source) == "objection"]
    assert {e.purpose for e in objections} == {"train_own_models", "share_with_providers"}
    assert all(str(e.action) == "withdraw" for e in objections)
    rec = receipt(db, objections[0].event_id)
    assert rec["state"]["value"] == "objected" and rec["method"]["source"] == "objection"
    assert "objection recorded" in (r.history[-1].reason or "")


def test_completing_an_erasure_request_runs_the_erasure_engine(db: Database, home: Path) -> None:
    from optin.services.erasure import erasure_records
    from optin.services.members import show_member

    _people(db)
    r = dsr.open_request(db, "m-ada", "erasure", channel="web", actor="member:m-ada", now=NOW)
    assert r.state == "verified"
    done = dsr.complete(db, home, r.id, actor="admin:a", now=NOW)
    assert done.state == "completed"
    assert "erased: erasure" in (done.history[-1].reason or "")
    records = erasure_records(db, "m-ada")
    assert records and {str(x.request_id) for x in records} == {r.id}
    assert show_member(db, "m-ada", NOW)["display_name"] != "Ada Quill"


def _package(home: Path, r: dsr.DsrRequest) -> zipfile.ZipFile:
    files = sorted((home / dsr.PACKAGES_DIR).glob(f"*{r.id}*.zip"))
    assert len(files) == 1
    return zipfile.ZipFile(files[0])


def test_access_package_holds_everything_and_only_the_member(db: Database, home: Path) -> None:
    _people(db)
    record_consent(
        db, "m-ada", "train_own_models", "grant", source="web", now=NOW - timedelta(minutes=2)
    )
    record_consent(
        db, "m-ada", "train_own_models", "withdraw", source="web", now=NOW - timedelta(minutes=1)
    )
    r = dsr.open_request(db, "m-ada", "access", channel="web", actor="member:m-ada", now=NOW)
    r = dsr.complete(db, home, r.id, actor="admin:a", now=NOW)
    with _package(home, r) as z:
        names = set(z.namelist())
        data = json.loads(z.read("data.json"))
        index = z.read("index.html").decode("utf-8")
        receipts = [n for n in names if n.startswith("receipts/")]
        first_receipt = json.loads(z.read(receipts[0]))
    assert {"index.html", "data.json"} <= names and len(receipts) == 2
    assert data["format"] == "optin-access-package/1" and data["member_id"] == "m-ada"
    assert (
        data["profile"]["email"] == "ada@example.org"
        and data["profile"]["display_name"] == "Ada Quill"
    )
    texts = {c["text"] for c in data["content"]}
    assert texts == {"Ada's first post about tidal gardens", "Ada's second, deleted later"}
    assert [c for c in data["content"] if c["deleted_at"]]
    assert [e["action"] for e in data["consent_history"]] == ["grant", "withdraw"]
    assert all(e["receipt_file"] in names for e in data["consent_history"])
    assert first_receipt["principal"]["dpv:hasDataSubject"]["@id"] == "optin:member/m-ada"
    assert {d["purpose"] for d in data["decisions"]} == {"train_own_models", "share_with_providers"}
    assert all(d["decision"]["reason"] and d["decision"]["explanation"] for d in data["decisions"])
    assert {"snapshots", "exports", "models", "provider_exports", "deletion_notices"} <= set(
        data["lineage"]
    )
    assert data["requests"][0]["id"] == r.id
    # readable, offline, escaped, and nobody else's data
    assert "Ada&#39;s first post about tidal gardens" in index and "Ada Quill" in index
    assert "lighthouse" not in index and "lighthouse" not in json.dumps(data)
    assert not re.search(r"<(script|link|img|iframe)\b", index)
    assert not re.search(r"(src|href)=\"(https?:)?//", index)
    pkg = next((home / dsr.PACKAGES_DIR).glob("*.zip"))
    assert pkg.stat().st_mode & 0o777 == 0o600


def test_download_link_works_once_for_its_member_and_expires(db: Database, home: Path) -> None:
    _people(db)
    r = dsr.open_request(db, "m-ada", "access", channel="web", actor="member:m-ada", now=NOW)
    with pytest.raises(ConflictError, match="completed access request"):
        dsr.create_download_link(db, home, "m-ada", r.id, now=NOW)
    dsr.complete(db, home, r.id, actor="admin:a", now=NOW)
    with pytest.raises(NotFoundError):  # someone else's request
        dsr.create_download_link(db, home, "m-bo", r.id, now=NOW)
    token = dsr.create_download_link(db, home, "m-ada", r.id, now=NOW)
    with pytest.raises(NotFoundError, match="not valid"):  # someone else's link ...
        dsr.take_download(db, home, "m-bo", token, now=NOW)
    d = dsr.take_download(db, home, "m-ada", token, now=NOW)  # ... left unused for its owner
    assert d.path.is_file() and zipfile.is_zipfile(d.path)
    with pytest.raises(ConflictError, match="already used"):
        dsr.take_download(db, home, "m-ada", token, now=NOW)
    late = dsr.create_download_link(db, home, "m-ada", r.id, now=NOW)
    with pytest.raises(ConflictError, match="expired"):
        dsr.take_download(db, home, "m-ada", late, now=NOW + dsr.LINK_TTL + timedelta(seconds=1))
    with pytest.raises(NotFoundError):
        dsr.take_download(db, home, "m-ada", "not-a-token-at-all", now=NOW)
    # the package itself expires: the sweep removes the file
    gone = NOW + dsr.PACKAGE_TTL + timedelta(seconds=1)
    res = dsr.sweep(db, home, now=gone)
    assert res.packages_removed == 1 and not d.path.exists()
    assert not dsr.show_request(db, r.id, gone).package_available
    with pytest.raises(ConflictError, match="expired and was removed"):
        dsr.create_download_link(db, home, "m-ada", r.id, now=gone)


def test_sweep_removes_orphans_and_erasure_helper_removes_member_packages(
    db: Database, home: Path
) -> None:
    _people(db)
    pdir = home / dsr.PACKAGES_DIR
    pdir.mkdir(parents=True)
    orphan = pdir / "optin-access-orphan.zip"
    orphan.write_bytes(b"PK")
    fresh = pdir / "optin-access-fresh.zip"  # a build that has not recorded its file yet
    fresh.write_bytes(b"PK")
    old = (NOW - dsr.ORPHAN_GRACE - timedelta(minutes=1)).timestamp()
    os.utime(orphan, (old, old))
    os.utime(fresh, (NOW.timestamp(), NOW.timestamp()))
    r = dsr.open_request(db, "m-ada", "access", channel="web", actor="member:m-ada", now=NOW)
    dsr.complete(db, home, r.id, actor="admin:a", now=NOW)
    assert dsr.sweep(db, home, now=NOW).orphans_removed == 1
    assert not orphan.exists() and fresh.exists()
    assert len(list(pdir.glob("*.zip"))) == 2
    assert dsr.remove_member_packages(db, home, "m-ada", now=NOW) == 1
    assert list(pdir.glob("*.zip")) == [fresh]


def test_the_periodic_sweep_removes_an_expired_package(db: Database, home: Path) -> None:
    import time

    _people(db)
    r = dsr.open_request(db, "m-ada", "access", channel="web", actor="member:m-ada", now=NOW)
    dsr.complete(db, home, r.id, actor="admin:a", now=NOW)
    pkg = next((home / dsr.PACKAGES_DIR).glob("*.zip"))
    later = NOW + dsr.PACKAGE_TTL + timedelta(seconds=1)
    worker = dsr.SweepWorker(db, home, clock=lambda: later, interval=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while pkg.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert not pkg.exists()
    assert not dsr.show_request(db, r.id, later).package_available


def test_concurrent_duplicates_are_linked_not_run_twice(db: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _people(db)

    def one(i: int) -> dsr.DsrRequest:
        return dsr.open_request(
            db, "m-bo", "access", channel="api", actor=f"api:k{i}", now=NOW + timedelta(seconds=i)
        )

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(one, range(4)))
    firsts = [r for r in got if r.duplicate_of is None]
    assert len(firsts) == 1
    assert {r.duplicate_of for r in got if r.duplicate_of} == {firsts[0].id}
