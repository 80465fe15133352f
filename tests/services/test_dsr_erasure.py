"""Erasure through the request queue, on SQLite and PostgreSQL: the request tables keep
no personal data of an erased member in clear (free texts rewritten, packages retired,
links deleted), several erasure requests are completed in one pass, and an incomplete
compaction is surfaced (warning, the request's history, an erasure record), not silent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from optin.errors import InputError
from optin.services import dsr
from optin.services.erasure import MENTION_MARKER, erasure_records
from optin.storage import erasure as erasure_repo
from optin.storage.database import Database
from optin.storage.models import DsrDownloadRow, DsrRequestEventRow, DsrRequestRow
from tests.factories import add_content, add_member

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=2)
ADA = ("Ada Quill", "ada@example.org", "quill", "+49 170 1234567")


@pytest.fixture()
def home(db: Database, tmp_path: Path) -> Path:
    h = db.home or tmp_path / "home"
    h.mkdir(parents=True, exist_ok=True)
    return h


def _people(db: Database) -> None:
    add_member(
        db, "m-ada", handle="quill", country="DE", display_name="Ada Quill",
        email="ada@example.org",
    )  # fmt: skip
    add_member(db, "m-bo", handle="bo", country="DE", display_name="Bo Brandt")
    add_member(db, "m-cy", handle="cy", country="DE", display_name="Cy Marlow")
    add_content(db, "m-ada", "c1", "Ada's first post about tidal gardens")
    add_content(db, "m-bo", "c2", "Bo writes about lighthouse keepers")


def _request_texts(db: Database) -> str:
    """Every stored value of the three request tables, as one string."""
    with db.session() as s:
        rows = [
            *s.execute(select(DsrRequestRow)).scalars(),
            *s.execute(select(DsrRequestEventRow)).scalars(),
            *s.execute(select(DsrDownloadRow)).scalars(),
        ]
        return "\n".join(
            str(getattr(r, c.key))
            for r in rows
            for c in r.__table__.columns  # type: ignore[attr-defined]
        )


def _erasure_request(db: Database, member: str) -> str:
    return dsr.open_request(
        db, member, "erasure", channel="admin", actor="admin:m-cy", now=NOW,
        identity_method="video call, ID document seen",
    ).id  # fmt: skip


def test_erasure_leaves_no_personal_data_in_the_request_tables(db: Database, home: Path) -> None:
    _people(db)
    # the member's own requests, with an operator's words naming them
    acc = dsr.open_request(
        db, "m-ada", "access", channel="admin", actor="admin:m-cy", now=NOW,
        identity_method="reply from ada@example.org; called Ada Quill on +49 170 1234567",
    )  # fmt: skip
    acc = dsr.complete(db, home, acc.id, actor="admin:m-cy", now=NOW)
    token = dsr.create_download_link(db, home, "m-ada", acc.id, now=NOW)
    assert token and acc.package_available
    obj = dsr.open_request(db, "m-ada", "objection", channel="cli", actor="cli:op", now=NOW)
    dsr.extend(
        db, obj.id, reason="Ada Quill (@quill) asked us to wait for her lawyer", actor="cli:op",
        now=NOW,
    )  # fmt: skip
    # another member's request that mentions her
    bo = dsr.open_request(
        db, "m-bo", "access", channel="admin", actor="admin:m-cy", now=NOW,
        identity_method="vouched for by Ada Quill in person",
    )  # fmt: skip
    before = _request_texts(db)
    assert all(v in before for v in ADA)  # the check is not vacuous

    rid = _erasure_request(db, "m-ada")
    done = dsr.complete(db, home, rid, actor="admin:m-cy", now=LATER)

    assert done.state == "completed"
    # (on PostgreSQL other test workers' transactions may hold snapshots: compaction is
    # then reported incomplete, which the tests below cover)
    compacted = (
        "compacted" if db.dialect == "sqlite" or not done.warnings else "compaction_incomplete"
    )
    after = _request_texts(db)
    for value in (*ADA, "Quill", "quill"):
        assert value not in after, f"{value!r} left in the request tables"
    # the requests and their history stay (the record that they were answered) ...
    ada = dsr.member_requests(db, "m-ada", LATER)
    assert {r.id for r in ada} == {acc.id, obj.id, rid}
    assert next(r for r in ada if r.id == obj.id).notices  # the notice stays, scrubbed
    # ... the other member's request keeps its words, less the mention
    bo_after = dsr.show_request(db, bo.id, LATER)
    assert bo_after.identity_method == f"vouched for by {MENTION_MARKER} in person"
    # the package is gone and so are the links
    assert not dsr.show_request(db, acc.id, LATER).package_available
    assert not list((home / dsr.PACKAGES_DIR).glob("*.zip"))
    with db.session() as s:
        assert not s.execute(
            select(DsrDownloadRow).where(DsrDownloadRow.member_id == "m-ada")
        ).first()
    records = erasure_records(db, "m-ada")
    places = {(r.place, r.what, r.action) for r in records}
    assert ("dsr_requests", "free_text", "rewritten") in places
    assert ("database", "freed_pages_and_dead_rows", compacted) in places
    assert {r.request_id for r in records} == {rid}
    assert {"dsr_requests", "dsr_request_events", "dsr_downloads"} <= set(
        erasure_repo.COMPACTED_TABLES
    )


def test_several_erasure_requests_are_completed_in_one_pass(db: Database, home: Path) -> None:
    _people(db)
    r_ada, r_bo = _erasure_request(db, "m-ada"), _erasure_request(db, "m-bo")
    acc = dsr.open_request(db, "m-cy", "access", channel="cli", actor="cli:op", now=NOW).id
    # checked before anything changes: an access request cannot join the batch
    with pytest.raises(InputError, match="only erasure requests"):
        dsr.complete_erasures(db, home, [r_ada, acc], actor="cli:op", now=LATER)
    assert dsr.show_request(db, r_ada, LATER).state == "verified"
    assert not erasure_records(db, "m-ada")

    done = dsr.complete_erasures(db, home, [r_bo, r_ada], actor="cli:op", now=LATER)

    assert [r.id for r in done] == [r_bo, r_ada]
    assert all(r.state == "completed" for r in done)
    assert all("erased: erasure" in (r.history[-1].reason or "") for r in done)
    ada, bo = erasure_records(db, "m-ada"), erasure_records(db, "m-bo")
    assert {r.request_id for r in ada} == {r_ada} and {r.request_id for r in bo} == {r_bo}
    assert {r.erasure_id for r in ada} == {r.erasure_id for r in bo}  # one pass


# -- an incomplete compaction is surfaced ---------------------------------------------


@pytest.fixture()
def old_snapshot(db: Database) -> Iterator[None]:
    """Another session that holds a snapshot older than the erasure (PostgreSQL: a
    REPEATABLE READ transaction, which keeps its ``backend_xmin``; it touches no table,
    so it takes no lock that VACUUM FULL would wait for), or a SQLite reader in the
    middle of a read transaction (the WAL cannot be truncated)."""
    conn = db.engine.connect()
    try:
        if db.dialect == "postgresql":
            conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ")
            conn.exec_driver_sql("SELECT 1")
        else:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("SELECT count(*) FROM policy_versions")
        yield
    finally:
        conn.rollback()
        conn.close()


def test_incomplete_compaction_is_in_the_warning_history_and_record(
    db: Database, home: Path, old_snapshot: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasure_repo, "COMPACT_WAIT_SECONDS", 0.4)
    _people(db)
    rid = _erasure_request(db, "m-ada")

    done = dsr.complete(db, home, rid, actor="admin:m-cy", now=LATER)

    assert done.state == "completed"
    assert len(done.warnings) == 1 and "compaction incomplete" in done.warnings[0]
    assert "optin dsr compact" in done.warnings[0]
    assert "compaction incomplete" in (done.history[-1].reason or "")
    assert "compaction incomplete" in (dsr.show_request(db, rid, LATER).history[-1].reason or "")
    [rec] = [r for r in erasure_records(db, "m-ada") if r.place == "database"]
    assert rec.action == "compaction_incomplete" and rec.detail is not None
    assert rec.detail["complete"] is False and rec.detail["backend"] == db.dialect
    if db.dialect == "postgresql":
        assert rec.detail["holders"] >= 1
        assert "PostgreSQL session" in done.warnings[0]
    else:
        assert "SQLite WAL" in done.warnings[0]


def test_compaction_completes_once_the_old_snapshot_ends(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasure_repo, "COMPACT_WAIT_SECONDS", 0.4)
    conn = db.engine.connect()
    if db.dialect == "postgresql":
        conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ")
        conn.exec_driver_sql("SELECT 1")
    else:
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("SELECT count(*) FROM policy_versions")
    with db.session() as s:  # something for the WAL to hold
        s.execute(text("UPDATE members SET role = role"))
    held = erasure_repo.compact(db.engine)
    conn.rollback()
    conn.close()
    assert not held.complete and held.problem and "optin dsr compact" in held.problem
    assert held.to_dict()["problem"] == held.problem
    if db.dialect == "sqlite":  # on PostgreSQL other test workers may hold snapshots too
        again = erasure_repo.compact(db.engine)
        assert again.complete and again.problem is None


def test_postgresql_compaction_does_not_hang_on_a_table_lock(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table locks against VACUUM FULL are PostgreSQL's (SQLite has none to wait on)."""
    db = pg_db
    monkeypatch.setattr(erasure_repo, "COMPACT_WAIT_SECONDS", 0.4)
    conn = db.engine.connect()
    try:
        conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ")
        conn.exec_driver_sql("SELECT count(*) FROM members")  # ACCESS SHARE until it ends
        done = erasure_repo.compact(db.engine, ("members", "content_items"))
    finally:
        conn.rollback()
        conn.close()
    assert not done.complete and done.locked == ("members",)
    assert done.steps == ("VACUUM (FULL, ANALYZE) content_items",)
    assert done.problem and "locks on members" in done.problem
