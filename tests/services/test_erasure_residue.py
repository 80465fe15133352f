"""The residue scan of an erasure (issue 12, "How we will know"), on SQLite and PostgreSQL.

A small demo platform → snapshots of both purposes, a provider export, an access package
and a leftover temporary file → a member who authored posts, is in a snapshot and the
export, and is mentioned by other members → the raw bytes are scanned for the member's
name, e-mail, handle and the text of each of their posts (and of their records in the
shards): SQLite's ``.db``, ``-wal`` and ``-shm`` files; PostgreSQL's ``pg_dump`` of the
schema and every page of its tables, TOAST tables and indexes (``pageinspect``); and
every file of the data directory (Parquet shards decoded, zip members unpacked). Before
the erasure the scan finds the member in each kind of place (it is not vacuous); after
it, nowhere. Then: the ledger verifies, the transparency log verifies, the next
snapshot leaves the member out and redacts a later mention of them by keyed hash, the
derived snapshot verifies (the parent says ``retired``), and the provider stub has the
deletion notice.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from optin.services import dsr, provider_exports, providers
from optin.services.demo import generate_demo
from optin.services.erasure import (
    MENTION_MARKER,
    compact_database,
    erase_member,
    erasure_records,
)
from optin.services.outbox import OutboxWorker, RetryPolicy
from optin.services.snapshots import build_snapshot
from optin.services.tlog import integrate, verify_log
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.models import ContentRow, MemberRow, SnapshotRecordRow, SnapshotRow
from optin.storage.provider_models import ExportRecordRow
from tests.provider_stub import ProviderStub
from tests.provider_world import RECIPIENT, Clock

pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ERASED_AT = NOW + timedelta(hours=1)
LATER = NOW + timedelta(hours=2)
TRAIN, SHARE = "train_own_models", "share_with_providers"


# -- the scan --------------------------------------------------------------------------


def _variants(value: str) -> set[bytes]:
    """The byte forms a value takes in the places scanned: UTF-8, lower case, JSON
    escaped (with and without ASCII escapes), PostgreSQL COPY text escaped."""
    out = set()
    for v in {value, value.lower()}:
        out.add(v.encode())
        out.add(json.dumps(v, ensure_ascii=False)[1:-1].encode())
        out.add(json.dumps(v)[1:-1].encode())
        copy = (
            v.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
        )
        out.add(copy.encode())
    return {b for b in out if b}


def _blobs(path: Path) -> Iterator[bytes]:
    """A file's raw bytes, and the decoded values of a Parquet file / members of a zip."""
    data = path.read_bytes()
    yield data
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        for col in table.column_names:
            t = table.schema.field(col).type
            if pa.types.is_string(t) or pa.types.is_large_string(t):
                yield "\n".join(v or "" for v in table[col].to_pylist()).encode()
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                yield z.read(name)


def _hits(
    blobs: dict[str, Iterator[bytes] | list[bytes]], needles: dict[str, set[bytes]]
) -> dict[str, set[str]]:
    """place -> names of the needles found there."""
    found: dict[str, set[str]] = {}
    for place, parts in blobs.items():
        for part in parts:
            for name, forms in needles.items():
                if any(f in part for f in forms):
                    found.setdefault(place, set()).add(name)
    return found


def _file_blobs(home: Path, skip: set[Path]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for p in sorted(home.rglob("*")):
        if p.is_file() and p not in skip:
            out[f"file:{p.relative_to(home)}"] = list(_blobs(p))
    return out


def _sqlite_blobs(db: Database) -> dict[str, list[bytes]]:
    path = Path(make_url(db.url).database or "")
    out = {}
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        out[f"sqlite:{p.name}"] = [p.read_bytes()] if p.exists() else []
    return out


def _pg_schema(db: Database) -> str:
    options = make_url(db.url).query.get("options", "")
    if isinstance(options, str) and "search_path=" in options:
        return options.split("search_path=")[1]
    return "public"  # this module's own database (see the ``db`` fixture below)


def _pg_blobs(db: Database) -> dict[str, list[bytes]]:
    """``pg_dump`` of the test schema, and every page of its relations (heap, TOAST,
    indexes) read with pageinspect after a CHECKPOINT (what is on disk)."""
    schema = _pg_schema(db)
    u = make_url(db.url)
    dump = subprocess.run(
        ["pg_dump", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432),
         "-U", u.username or "postgres", "-n", schema, u.database or "test"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    out: dict[str, list[bytes]] = {"pg_dump": [dump]}
    with db.engine.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA public"))
        conn.commit()
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("CHECKPOINT")
        rels = (
            conn.execute(
                text(
                    "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind IN ('r','i') "
                    "UNION SELECT t.oid::regclass::text FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace JOIN pg_class t ON t.oid = c.reltoastrelid "
                    "WHERE n.nspname = :s "
                    "UNION SELECT i.indexrelid::regclass::text FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace JOIN pg_index i ON i.indrelid = c.reltoastrelid "
                    "WHERE n.nspname = :s"
                ),
                {"s": schema},
            )
            .scalars()
            .all()
        )
        for rel in rels:
            pages = conn.execute(
                text("SELECT pg_relation_size(CAST(:r AS regclass)) / 8192"), {"r": rel}
            ).scalar_one()
            out[f"pg:{rel}"] = [
                bytes(
                    conn.execute(
                        text("SELECT public.get_raw_page(:r, :b)"), {"r": rel, "b": b}
                    ).scalar_one()
                )
                for b in range(int(pages))
            ]
    return out


def _db_blobs(db: Database) -> dict[str, list[bytes]]:
    return _sqlite_blobs(db) if db.dialect == "sqlite" else _pg_blobs(db)


# -- the world ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, _sqlite_template: Path, tmp_path: Path
) -> Iterator[Database]:
    """As the suite's ``db``, but on PostgreSQL a database of its own rather than a schema
    in the shared one: ``VACUUM (FULL)`` keeps row versions that any transaction in the
    same database may still see, and the other test workers' transactions live in the
    shared database (the residue scan would then find a dead row that compaction had to
    keep; in production the same holds for a long transaction, which the compaction
    report flags)."""
    import uuid

    from sqlalchemy import create_engine

    from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
    from tests.conftest import PG_URL, _make_sqlite, require_pg

    if request.param == "sqlite":
        sdb = _make_sqlite(_sqlite_template, tmp_path)
        yield sdb
        sdb.dispose()
        return
    require_pg()
    name = f"optin_residue_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    pdb = Database(url, home=tmp_path / "home")
    try:
        init_database(
            pdb,
            now=datetime.now(UTC),
            effective_at=DEFAULT_POLICY_EFFECTIVE_AT,
            allow_backdate=True,
        )
        yield pdb
    finally:
        pdb.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def stub(db_settings: Settings) -> Iterator[ProviderStub]:
    s = ProviderStub(providers.public_key_info(db_settings)["public_key"]).up()
    yield s
    s.down()


def _texts(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as s:
        return [
            (r.id, r.author_id, r.text)
            for r in s.execute(select(ContentRow.id, ContentRow.author_id, ContentRow.text))
        ]


def _pick_victim(db: Database, share_sid: str, export_id: str) -> MemberRow:
    """A member with records in the share snapshot and the export, mentioned by name in
    another member's text, whose name, handle and e-mail are nobody else's substrings."""
    texts = _texts(db)
    with db.session() as s:
        members = list(s.execute(select(MemberRow)).scalars())
        in_share = set(
            s.execute(
                select(SnapshotRecordRow.author_id).where(
                    SnapshotRecordRow.snapshot_id == share_sid
                )
            ).scalars()
        )
        exported = set(
            s.execute(
                select(ExportRecordRow.member_id).where(ExportRecordRow.export_id == export_id)
            ).scalars()
        )
    fields = {
        m.id: " ".join(filter(None, (m.display_name, m.handle, m.email))).lower() for m in members
    }
    for m in sorted(members, key=lambda m: m.id):
        if m.id not in in_share or m.id not in exported or len(m.handle) < 6 or not m.email:
            continue
        mine = [t for t in texts if t[1] == m.id]
        named = [t for t in texts if t[1] != m.id and m.display_name in t[2]]
        if not mine or not named:
            continue
        needles = [m.display_name.lower(), m.handle.lower(), m.email.lower()]
        if any(n in fields[o] for o in fields if o != m.id for n in needles):
            continue
        return m
    raise AssertionError("the demo has no member who fits the scan")


def _needles(
    db: Database, victim: MemberRow, home: Path, others: set[str]
) -> dict[str, set[bytes]]:
    """The member's name, e-mail, handle, the text of each of their posts and of their
    records in the shards, less any text that another member's item has too."""
    texts = _texts(db)
    own = [t for _c, a, t in texts if a == victim.id]
    foreign = [t for _c, a, t in texts if a != victim.id]
    needles = {
        "name": _variants(victim.display_name),
        "email": _variants(victim.email or ""),
        "handle": _variants(victim.handle),
    }
    for i, t in enumerate(own):
        if len(t) >= 20 and not any(t in f for f in foreign):
            needles[f"post{i}"] = _variants(t)
    with db.session() as s:
        mine = set(
            s.execute(
                select(SnapshotRecordRow.record_id).where(SnapshotRecordRow.author_id == victim.id)
            ).scalars()
        )
    for p in _record_files(home):
        table = pq.read_table(p, columns=["record_id", "text"])
        for rid, t in zip(table["record_id"].to_pylist(), table["text"].to_pylist(), strict=True):
            if rid in mine and t and len(t) >= 20 and t not in others:
                needles[f"record:{rid}"] = _variants(t)
    return needles


def _record_files(home: Path) -> list[Path]:
    """Parquet files with records (``_incremental/rows.parquet`` holds keys, no texts)."""
    return [p for p in sorted(home.rglob("*.parquet")) if "_incremental" not in p.parts]


def _other_record_texts(home: Path, mine: set[str]) -> set[str]:
    out = set()
    for p in _record_files(home):
        table = pq.read_table(p, columns=["record_id", "text"])
        for rid, t in zip(table["record_id"].to_pylist(), table["text"].to_pylist(), strict=True):
            if rid not in mine and t:
                out.add(t)
    return out


def _world(db: Database, settings: Settings, stub: ProviderStub) -> tuple[str, str, str]:
    generate_demo(db, members=300, posts=2400, seed=5, now=NOW, accounts=False)
    train = build_snapshot(db, settings, TRAIN, now=NOW).snapshot_id
    share = build_snapshot(db, settings, SHARE, now=NOW).snapshot_id
    providers.add_provider(db, RECIPIENT, webhook_url=stub.url, now=NOW)
    export = provider_exports.create_export(
        db, settings, share, RECIPIENT, "openai-chat-jsonl", now=NOW, actor="test"
    ).id
    integrate(db, now=NOW)  # the transparency log holds every event (and its salt)
    return train, share, export


def test_when_member_erased_then_no_residue_anywhere_and_everything_still_verifies(
    db: Database, db_settings: Settings, stub: ProviderStub
) -> None:
    if db.dialect == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    settings = db_settings
    home = settings.home
    train, share, export = _world(db, settings, stub)
    victim = _pick_victim(db, share, export)
    with db.session() as s:
        mine = set(
            s.execute(
                select(SnapshotRecordRow.record_id).where(SnapshotRecordRow.author_id == victim.id)
            ).scalars()
        )
    needles = _needles(db, victim, home, _other_record_texts(home, mine))
    # an access package (the request queue writes them under dsr/) and a writer's leftover
    pkg = home / "dsr" / victim.id / "access.zip"
    pkg.parent.mkdir(parents=True)
    with zipfile.ZipFile(pkg, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("profile.json", json.dumps({"name": victim.display_name, "email": victim.email}))
    leftover = home / "exports" / ".notes.json.4194999.abcdefgh.tmp"
    leftover.write_text(victim.display_name)
    # the request queue: a real access package and a link, an extension notice and an
    # identity check whose words name the member (free texts of the dsr tables)
    said = f"reply from {victim.email}; {victim.display_name} (@{victim.handle}) on a call"
    acc = dsr.open_request(
        db, victim.id, "access", channel="admin", actor="admin:test", now=NOW,
        identity_method=said,
    )  # fmt: skip
    dsr.extend(db, acc.id, reason=f"{victim.display_name} asked for paper", actor="t", now=NOW)
    dsr.complete(db, home, acc.id, actor="admin:test", now=NOW)
    dsr.create_download_link(db, home, victim.id, acc.id, now=NOW)
    req = dsr.open_request(
        db, victim.id, "erasure", channel="admin", actor="admin:test", now=NOW,
        identity_method=said,
    )  # fmt: skip
    db_file = {Path(make_url(db.url).database or "")} if db.dialect == "sqlite" else set()
    skip = {p for f in db_file for p in (f, Path(f"{f}-wal"), Path(f"{f}-shm"))}

    before = _hits({**_db_blobs(db), **_file_blobs(home, skip)}, needles)
    places = " ".join(before)
    for kind in ("sqlite:" if db.dialect == "sqlite" else "pg:", "pg_dump" if db.dialect != "sqlite" else "sqlite:",
                 "file:snapshots", "file:exports", "file:dsr", "file:demo"):  # fmt: skip
        assert kind in places, f"the scan is vacuous: nothing found in {kind} ({sorted(before)})"
    assert {"name", "email", "handle"} <= set().union(*before.values())
    assert any(n.startswith("post") for n in set().union(*before.values()))

    report = erase_member(
        db, settings, victim.id, now=ERASED_AT, request_id=req.id, actor="test-admin"
    )

    assert report.key_destroyed and report.content_deleted > 0 and report.mentions_rewritten > 0
    assert set(report.snapshots_retired) == {train, share} & set(report.snapshots_retired)
    assert share in report.snapshots_retired and export in report.exports_stale
    assert report.access_files_deleted == 2 and report.temp_files_deleted >= 1
    assert report.request_texts_rewritten >= 4  # identity x2 (+ history), reason, notice
    assert report.compaction is not None and report.compaction.complete
    after = _hits({**_db_blobs(db), **_file_blobs(home, skip)}, needles)
    for _ in range(3 if after and db.dialect != "sqlite" else 0):
        # PostgreSQL: VACUUM (FULL) keeps a deleted row version while any backend's
        # snapshot may still see it; a backend that has not chosen its database yet (a
        # parallel test worker connecting) counts too, and the compaction report cannot
        # see it. Compaction is idempotent: run it again once that backend is gone.
        time.sleep(1.0)
        assert compact_database(db).complete
        after = _hits({**_db_blobs(db), **_file_blobs(home, skip)}, needles)
        if not after:
            break
    assert after == {}, f"residue after erasure: {after}"

    # the ledger, the log, the erasure record
    with db.session() as s:
        assert ledger.verify(s).ok
    assert verify_log(db, settings).ok
    records = erasure_records(db, victim.id)
    assert {r.place for r in records} >= {"keystore", "members", "content_items", "snapshot",
                                           "export", "export_files", "consent_events", "files"}  # fmt: skip
    assert all(r.request_id == req.id and r.actor == "test-admin" for r in records)
    assert not dsr.show_request(db, acc.id, LATER).package_available
    dump = json.dumps([r.to_dict() for r in records])
    assert not any(f in dump.encode() for forms in needles.values() for f in forms)

    # the provider stub gets the deletion notice
    worker = OutboxWorker(
        db, settings, clock=Clock(ERASED_AT), policy=RetryPolicy(base_seconds=0.01)
    )
    try:
        assert worker.run(once=True).delivered >= 1
    finally:
        worker.close()
    with db.session() as s:
        exported = set(
            s.execute(
                select(ExportRecordRow.record_id).where(ExportRecordRow.member_id == victim.id)
            ).scalars()
        )
    assert exported and exported <= set(stub.record_ids())

    # the derived snapshots verify; the parents say retired
    for child in report.snapshots_derived:
        assert verify_snapshot(db, settings, child, now=LATER).status == "pass"
    assert verify_snapshot(db, settings, share, now=LATER).status == "retired"

    # the next snapshot leaves them out, and a later mention of them is still redacted
    with db.session() as s:
        train_child = s.execute(
            select(SnapshotRow.id).where(
                SnapshotRow.id.in_(report.snapshots_derived), SnapshotRow.purpose == TRAIN
            )
        ).scalar_one()
        other = (
            s.execute(
                select(SnapshotRecordRow.author_id)
                .where(SnapshotRecordRow.snapshot_id == train_child)
                .order_by(SnapshotRecordRow.author_id)
            )
            .scalars()
            .first()
        )
        s.add(ContentRow(
            id="c-after-erasure", author_id=other, kind="post", visibility="public",
            text=f"Thinking back on the workshop with {victim.display_name} about resilient "
                 "supply chains, careful planning and honest retrospectives for growing teams.",
            language="en", created_at=ERASED_AT, edited_at=None, deleted_at=None,
        ))  # fmt: skip
    nxt = build_snapshot(db, settings, TRAIN, now=LATER)
    with db.session() as s:
        authors = set(
            s.execute(
                select(SnapshotRecordRow.author_id).where(
                    SnapshotRecordRow.snapshot_id == nxt.snapshot_id
                )
            ).scalars()
        )
        [rid] = (
            s.execute(
                select(SnapshotRecordRow.record_id).where(
                    SnapshotRecordRow.snapshot_id == nxt.snapshot_id,
                    SnapshotRecordRow.content_id == "c-after-erasure",
                )
            )
            .scalars()
            .all()
        )
    assert victim.id not in authors
    shard_texts = {
        r: t
        for p in sorted((nxt.path / "data").glob("*.parquet"))
        for r, t in zip(
            *pq.read_table(p, columns=["record_id", "text"]).to_pydict().values(), strict=True
        )
    }
    assert "workshop with " in shard_texts[rid]  # a surrogate name (the default operator)
    assert victim.display_name not in json.dumps(shard_texts)
    assert MENTION_MARKER  # mentions made before the erasure were rewritten (counted above)
