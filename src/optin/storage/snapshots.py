"""Snapshot SQL: content selection, snapshot rows and provenance rows (the only SQL the
snapshot services use besides the ledger and member repositories)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, KeysView, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Table, and_, case, delete, func, select
from sqlalchemy.orm import Session

from optin.storage.models import ContentRow, SnapshotRecordRow, SnapshotRow, sqlite_datetime

_INSERT_CHUNK = 5_000

#: Arrow schema of selected content (equal to ``optin.pipeline.schema.INPUT``; a test
#: keeps them in step, storage does not import the pipeline layer).
CONTENT_SCHEMA = pa.schema(
    [
        ("content_id", pa.string()),
        ("author_id", pa.string()),
        ("text", pa.large_string()),
        ("kind", pa.string()),
        ("language", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _selected(kinds: Sequence[str], visibilities: Sequence[str], as_of: datetime) -> Any:
    return and_(
        ContentRow.deleted_at.is_(None),
        ContentRow.kind.in_(list(kinds)),
        ContentRow.visibility.in_(list(visibilities)),
        ContentRow.created_at <= as_of,
    )


def selection_counts(
    session: Session, kinds: Sequence[str], visibilities: Sequence[str], as_of: datetime
) -> dict[str, int]:
    """Content rows by selection outcome: ``selected`` or the first reason it is not.

    Reasons, in order: ``deleted``, ``kind_not_allowed``, ``visibility_not_allowed``,
    ``created_after_as_of``.
    """
    outcome = case(
        (ContentRow.deleted_at.is_not(None), "deleted"),
        (ContentRow.kind.not_in(list(kinds)), "kind_not_allowed"),
        (ContentRow.visibility.not_in(list(visibilities)), "visibility_not_allowed"),
        (ContentRow.created_at > as_of, "created_after_as_of"),
        else_="selected",
    )
    if _sqlite(session):  # one plain table scan (see selected_author_counts)
        sql = (
            "SELECT CASE WHEN c.deleted_at IS NOT NULL THEN 'deleted' "
            "WHEN c.kind NOT IN (SELECT value FROM json_each(?)) THEN 'kind_not_allowed' "
            "WHEN c.visibility NOT IN (SELECT value FROM json_each(?)) "
            "THEN 'visibility_not_allowed' "
            "WHEN c.created_at > ? THEN 'created_after_as_of' ELSE 'selected' END AS outcome, "
            "count(*) FROM content_items AS c NOT INDEXED GROUP BY outcome"
        )
        rows = _raw(session).execute(sql, _sqlite_params(kinds, visibilities, as_of)).fetchall()
    else:
        rows = session.execute(select(outcome, func.count()).group_by(outcome)).all()
    return {str(r): int(n) for r, n in rows}


def selection_fingerprint(
    session: Session, kinds: Sequence[str], visibilities: Sequence[str], as_of: datetime
) -> list[str]:
    """Cheap facts that change when the selected content changes (count, newest edit,
    id range), for deciding whether an earlier unfinished build can be resumed."""
    if _sqlite(session):  # one plain table scan; values formatted as the ORM gives them
        sql = (
            "SELECT count(*), max(c.id), min(c.id), max(c.edited_at), max(c.created_at), "
            "sum(length(c.text)) FROM content_items AS c NOT INDEXED "
            f"WHERE {_SQLITE_SELECTED}"
        )
        n, max_id, min_id, edited, created, chars = (
            _raw(session).execute(sql, _sqlite_params(kinds, visibilities, as_of)).fetchone()
        )
        return [str(v) for v in (n, max_id, min_id, _aware(edited), _aware(created), chars)]
    row = session.execute(
        select(
            func.count(),
            func.max(ContentRow.id),
            func.min(ContentRow.id),
            func.max(ContentRow.edited_at),
            func.max(ContentRow.created_at),
            func.sum(func.length(ContentRow.text)),
        ).where(_selected(kinds, visibilities, as_of))
    ).one()
    return [str(v) for v in row]


def selected_author_counts(
    session: Session, kinds: Sequence[str], visibilities: Sequence[str], as_of: datetime
) -> dict[str, int]:
    """Selected content rows per author (the consent gate's exclusion counts come from
    these, so texts are only read for the authors who pass it)."""
    if _sqlite(session):
        # a plain table scan: the created_at index would cost a random lookup per row
        sql = (
            "SELECT c.author_id, count(*) FROM content_items AS c NOT INDEXED "
            f"WHERE {_SQLITE_SELECTED} GROUP BY c.author_id"
        )
        cur = _raw(session).execute(sql, _sqlite_params(kinds, visibilities, as_of))
        return {str(a): int(n) for a, n in cur.fetchall()}
    rows = session.execute(
        select(ContentRow.author_id, func.count())
        .where(_selected(kinds, visibilities, as_of))
        .group_by(ContentRow.author_id)
    ).all()
    return {str(a): int(n) for a, n in rows}


def iter_selected(
    session: Session,
    kinds: Sequence[str],
    visibilities: Sequence[str],
    as_of: datetime,
    *,
    authors: Collection[str] | None = None,
    batch_size: int = 10_000,
) -> Iterator[pa.Table]:
    """Selected content in primary-key order, as Arrow tables of :data:`CONTENT_SCHEMA`;
    with ``authors``, only their rows. Memory is bounded by ``batch_size``.

    On SQLite this streams one raw cursor (the author set goes in as a JSON parameter)
    and builds the Arrow columns in bulk; elsewhere it pages through the ORM query.
    """
    if _sqlite(session):
        yield from _iter_selected_sqlite(
            session, kinds, visibilities, as_of, authors=authors, batch_size=batch_size
        )
        return
    # a set-like container: each row's author is looked up in it (an Arrow ``is_in``
    # would hash every eligible author again for every batch)
    keep = (
        None
        if authors is None
        else authors
        if isinstance(authors, (set, frozenset, KeysView))
        else set(authors)
    )
    last: str | None = None
    cols = (
        ContentRow.id,
        ContentRow.author_id,
        ContentRow.text,
        ContentRow.kind,
        ContentRow.language,
        ContentRow.created_at,
    )
    while True:
        q = select(*cols).where(_selected(kinds, visibilities, as_of))
        if last is not None:
            q = q.where(ContentRow.id > last)
        rows = session.execute(q.order_by(ContentRow.id).limit(batch_size)).all()
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        arrays = [
            pa.array(list(c), type=f.type) for c, f in zip(columns, CONTENT_SCHEMA, strict=True)
        ]
        table = pa.table(arrays, schema=CONTENT_SCHEMA)
        if keep is not None:
            table = table.filter(pa.array([a in keep for a in columns[1]], pa.bool_()))
        if table.num_rows:
            yield table
        last = rows[-1][0]


# -- SQLite fast path ------------------------------------------------------------------

_SQLITE_SELECTED = (
    "c.deleted_at IS NULL AND c.kind IN (SELECT value FROM json_each(?)) "
    "AND c.visibility IN (SELECT value FROM json_each(?)) AND c.created_at <= ?"
)


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _raw(session: Session) -> Any:
    """The session's DBAPI (sqlite3) connection: same transaction, no ORM types."""
    return session.connection().connection.driver_connection


def _sqlite_params(
    kinds: Sequence[str], visibilities: Sequence[str], as_of: datetime
) -> tuple[str, str, str]:
    return json.dumps(list(kinds)), json.dumps(list(visibilities)), sqlite_datetime(as_of)


def _iter_selected_sqlite(
    session: Session,
    kinds: Sequence[str],
    visibilities: Sequence[str],
    as_of: datetime,
    *,
    authors: Collection[str] | None,
    batch_size: int,
) -> Iterator[pa.Table]:
    params: tuple[str, ...] = _sqlite_params(kinds, visibilities, as_of)
    where = _SQLITE_SELECTED
    if authors is not None:
        # unary + keeps SQLite on the primary-key scan (rows come out in id order with no
        # sort) instead of the author index
        where += " AND +c.author_id IN (SELECT value FROM json_each(?))"
        params = (*params, json.dumps(sorted(authors)))
    sql = (
        "SELECT c.id, c.author_id, c.text, c.kind, c.language, c.created_at "
        f"FROM content_items AS c WHERE {where} ORDER BY c.id"
    )
    cur = _raw(session).cursor()
    try:
        cur.execute(sql, params)
        while rows := cur.fetchmany(batch_size):
            ids, author_ids, texts, kinds_, langs, created = zip(*rows, strict=True)
            yield pa.table(
                [
                    pa.array(ids, pa.string()),
                    pa.array(author_ids, pa.string()),
                    pa.array(texts, pa.large_string()),
                    pa.array(kinds_, pa.string()),
                    pa.array(langs, pa.string()),
                    _sqlite_timestamps(created),
                ],
                schema=CONTENT_SCHEMA,
            )
    finally:
        cur.close()


def _aware(value: str | None) -> datetime | None:
    """SQLite DATETIME text -> the aware UTC datetime ``UTCDateTime`` gives."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _sqlite_timestamps(values: Sequence[str]) -> pa.Array:
    """SQLite DATETIME text (naive UTC, ``YYYY-MM-DD HH:MM:SS[.ffffff]``) -> timestamp[us, UTC]."""
    naive = pc.cast(pa.array(values, pa.string()), pa.timestamp("us"))
    return naive.cast(pa.timestamp("us", tz="UTC"))


def get_snapshot(session: Session, snapshot_id: str) -> SnapshotRow | None:
    return session.get(SnapshotRow, snapshot_id)


def list_snapshots(session: Session, *, limit: int | None = None) -> list[SnapshotRow]:
    """Snapshots, newest build first (ties by id); the newest ``limit`` when given."""
    query = select(SnapshotRow).order_by(SnapshotRow.built_at.desc(), SnapshotRow.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def upsert_building(
    session: Session,
    *,
    snapshot_id: str,
    purpose: str,
    as_of: datetime,
    built_at: datetime,
    path: str,
    engine: str,
    profile: str,
) -> SnapshotRow:
    """Create the snapshot row in state ``building`` (or reset an unfinished one)."""
    row = session.get(SnapshotRow, snapshot_id)
    if row is None:
        row = SnapshotRow(
            id=snapshot_id,
            purpose=purpose,
            as_of=as_of,
            status="building",
            path=path,
            engine=engine,
            profile=profile,
            record_count=0,
        )
        session.add(row)
    row.built_at = built_at
    row.status = "building"
    row.engine = engine
    row.path = path
    session.flush()
    return row


def complete(
    session: Session,
    snapshot_id: str,
    *,
    built_at: datetime,
    record_count: int,
    manifest_text: str,
    manifest_sha256: str,
) -> None:
    row = session.get(SnapshotRow, snapshot_id)
    assert row is not None
    row.status = "complete"
    row.built_at = built_at
    row.record_count = record_count
    row.manifest = manifest_text
    row.manifest_sha256 = manifest_sha256
    session.flush()


def set_status(session: Session, snapshot_id: str, status: str) -> None:
    row = session.get(SnapshotRow, snapshot_id)
    if row is not None:
        row.status = status
        session.flush()


def replace_provenance(session: Session, snapshot_id: str, rows: Iterable[dict[str, Any]]) -> int:
    """Replace the snapshot's provenance rows (record id -> content, author, consent)."""
    session.execute(delete(SnapshotRecordRow).where(SnapshotRecordRow.snapshot_id == snapshot_id))
    # the table's Core insert (an executemany): about 40 % less CPU than the ORM's bulk
    # insert of the same dicts, and provenance rows need none of the ORM's work
    table = cast(Table, SnapshotRecordRow.__table__)
    n = 0
    chunk: list[dict[str, Any]] = []
    for r in rows:
        chunk.append({"snapshot_id": snapshot_id, **r})
        if len(chunk) >= _INSERT_CHUNK:
            session.execute(table.insert(), chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        session.execute(table.insert(), chunk)
        n += len(chunk)
    return n


def iter_provenance(session: Session, snapshot_id: str, *, chunk: int = 20_000) -> Iterator[Any]:
    """Provenance rows of a snapshot in record-id order (keyset pagination)."""
    last: str | None = None
    while True:
        q = select(
            SnapshotRecordRow.record_id,
            SnapshotRecordRow.content_id,
            SnapshotRecordRow.author_id,
            SnapshotRecordRow.consent_event_id,
            SnapshotRecordRow.policy_version,
            SnapshotRecordRow.shard,
        ).where(SnapshotRecordRow.snapshot_id == snapshot_id)
        if last is not None:
            q = q.where(SnapshotRecordRow.record_id > last)
        rows = session.execute(q.order_by(SnapshotRecordRow.record_id).limit(chunk)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].record_id


def provenance_versions(
    session: Session, snapshot_id: str, *, exclude: Collection[str] = ()
) -> list[int]:
    """The policy versions the snapshot's records were consented under (less ``exclude``)."""
    if not exclude:
        q = (
            select(SnapshotRecordRow.policy_version)
            .where(SnapshotRecordRow.snapshot_id == snapshot_id)
            .distinct()
        )
        return sorted(int(v) for v in session.execute(q).scalars() if v is not None)
    out: set[int] = set()
    for r in iter_provenance(session, snapshot_id):
        if r.record_id not in exclude and r.policy_version is not None:
            out.add(int(r.policy_version))
    return sorted(out)


def content_facts(session: Session, content_ids: Sequence[str]) -> dict[str, Any]:
    """content id -> row of (id, author_id, kind, visibility, created_at, deleted_at)."""
    out: dict[str, Any] = {}
    ids = list(content_ids)
    for i in range(0, len(ids), 900):
        for r in session.execute(
            select(
                ContentRow.id,
                ContentRow.author_id,
                ContentRow.kind,
                ContentRow.visibility,
                ContentRow.created_at,
                ContentRow.deleted_at,
            ).where(ContentRow.id.in_(ids[i : i + 900]))
        ):
            out[r.id] = r
    return out


def iter_directory_rows(session: Session, *, chunk: int = 20_000) -> Iterator[tuple[str, str]]:
    """(display name, handle) of every member not erased, in id order (for the privacy
    engine's platform directory)."""
    from optin.storage.models import MemberRow

    if _sqlite(session):  # one raw cursor, no ORM row objects
        cur = _raw(session).cursor()
        try:
            cur.execute(
                "SELECT display_name, handle FROM members WHERE erased_at IS NULL ORDER BY id"
            )
            while rows := cur.fetchmany(chunk):
                yield from rows
        finally:
            cur.close()
        return
    last: str | None = None
    while True:
        q = select(MemberRow.id, MemberRow.display_name, MemberRow.handle).where(
            MemberRow.erased_at.is_(None)
        )
        if last is not None:
            q = q.where(MemberRow.id > last)
        rows = session.execute(q.order_by(MemberRow.id).limit(chunk)).all()
        if not rows:
            return
        for r in rows:
            yield r.display_name, r.handle
        last = rows[-1].id


def ledger_hash_at(session: Session, seq: int) -> str | None:
    """The chain hash of ledger entry ``seq`` (None when there is no such entry)."""
    from optin.storage.models import ConsentEventRow

    return session.execute(
        select(ConsentEventRow.hash).where(ConsentEventRow.seq == seq)
    ).scalar_one_or_none()


# -- a member's records ('your data and AI') ------------------------------------------


def member_snapshots(session: Session, member_id: str) -> list[tuple[SnapshotRow, int]]:
    """Every snapshot holding records by ``member_id``, with their count; newest as-of
    first (ties by id)."""
    rows = session.execute(
        select(SnapshotRow, func.count(SnapshotRecordRow.record_id))
        .join(SnapshotRecordRow, SnapshotRecordRow.snapshot_id == SnapshotRow.id)
        .where(SnapshotRecordRow.author_id == member_id)
        .group_by(SnapshotRow.id)
        .order_by(SnapshotRow.as_of.desc(), SnapshotRow.id)
    ).all()
    return [(r, int(n)) for r, n in rows]


def member_record_count(session: Session, snapshot_id: str, member_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SnapshotRecordRow)
            .where(
                SnapshotRecordRow.snapshot_id == snapshot_id,
                SnapshotRecordRow.author_id == member_id,
            )
        )
        or 0
    )


def member_records(
    session: Session, snapshot_id: str, member_id: str, *, limit: int
) -> list[tuple[SnapshotRecordRow, ContentRow | None]]:
    """The member's provenance rows in one snapshot (content-id order) with the content
    row each names (None once erased)."""
    rows = session.execute(
        select(SnapshotRecordRow, ContentRow)
        .join(ContentRow, ContentRow.id == SnapshotRecordRow.content_id, isouter=True)
        .where(
            SnapshotRecordRow.snapshot_id == snapshot_id,
            SnapshotRecordRow.author_id == member_id,
        )
        .order_by(SnapshotRecordRow.content_id)
        .limit(limit)
    ).all()
    return [(rec, content) for rec, content in rows]
