"""SQLAlchemy 2 table models: the only schema definition (Alembic migrations follow it).

Times are stored as timezone-aware UTC (``DateTime(timezone=True)``; on SQLite the
:class:`UTCDateTime` type normalises to UTC on the way in and out).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from optin.storage.light import fold_handle

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def sqlite_datetime(value: datetime) -> str:
    """The text SQLAlchemy stores for an aware datetime in a SQLite DATETIME column
    (naive UTC, microseconds), for raw-cursor bulk paths and comparisons."""
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _folded_handle(context: Any) -> str:
    return fold_handle(context.get_current_parameters()["handle"])


def _since(context: Any) -> datetime:
    return context.get_current_parameters()["since"]  # type: ignore[no-any-return]


class MemberRow(Base):
    """A member. ``handle_folded`` (filled from ``handle`` on insert by the storage
    layer) carries the unique index: handles are unique case-insensitively, on every
    backend."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    handle_folded: Mapped[str] = mapped_column(String(64), default=_folded_handle)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    role: Mapped[str] = mapped_column(String(16), default="member")
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: once erased: the member's directory entry as keyed hashes (JSON; see
    #: :func:`optin.privacy.detect.directory.erasure_marker`), so mentions of them in
    #: other members' texts are still redacted; no name, handle or URL in clear
    erasure_marker: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("uq_members_handle_folded", "handle_folded", unique=True),)


class MemberCountryRow(Base):
    __tablename__ = "member_countries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    country: Mapped[str] = mapped_column(String(2))
    #: when the platform recorded the change (default: ``since``); a decision as of T
    #: uses only changes recorded by T
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_since)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)

    # covering, newest first: "country at T" is the first index entry with since <= T
    # and recorded_at <= T (index-only on both backends)
    __table_args__ = (
        Index(
            "ix_member_countries_member_since",
            "member_id",
            text("since DESC"),
            text("id DESC"),
            "country",
            "recorded_at",
        ),
        # the members whose history changed in a time window (incremental builds)
        Index("ix_member_countries_since", "since"),
        Index("ix_member_countries_recorded", "recorded_at"),
    )


class MemberStatusRow(Base):
    __tablename__ = "member_statuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    #: when the platform recorded the change (default: ``since``); a decision as of T
    #: uses only changes recorded by T
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_since)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)

    # covering, newest first, like the countries' index
    __table_args__ = (
        Index(
            "ix_member_statuses_member_since",
            "member_id",
            text("since DESC"),
            text("id DESC"),
            "status",
            "recorded_at",
        ),
        Index("ix_member_statuses_since", "since"),
        Index("ix_member_statuses_recorded", "recorded_at"),
    )


class MemberBirthDateRow(Base):
    """A recorded birth-date correction (the member's current ``birth_date`` is updated
    too). A decision as of T uses the birth date known at T: that of the latest
    correction effective and recorded by T, else ``previous`` of the first one."""

    __tablename__ = "member_birth_dates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    previous: Mapped[date | None] = mapped_column(Date, nullable=True)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_member_birth_dates_member", "member_id", "effective_at"),)


class ContentRow(Base):
    __tablename__ = "content_items"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    visibility: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_content_items_author", "author_id"),
        Index("ix_content_items_created", "created_at"),
    )


class PolicyVersionRow(Base):
    __tablename__ = "policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    document: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    material: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of purpose ids
    summary: Mapped[str] = mapped_column(Text, default="")
    # when the version starts to apply (None: at effective_at); later during a notice
    in_force_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsentEventRow(Base):
    """The consent ledger. Append-only; ``hash`` chains every row to the one before.

    ``personal`` holds the event's personal fields (country, IP, user agent ...) as
    JSON encrypted with the member's key (kept in the key store, apart from the
    database: :mod:`optin.storage.keystore`); the chain hashes the
    ciphertext, so destroying the key erases them without breaking verification.
    """

    __tablename__ = "consent_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    member_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    policy_version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64))
    personal: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        # covering, newest first: the latest event per (member, purpose) at T is the first
        # index entry with at <= T and recorded_at <= T (index-only; no sort on either
        # backend)
        Index(
            "ix_consent_events_member_purpose_at",
            "member_id",
            "purpose",
            text("at DESC"),
            text("seq DESC"),
            "action",
            "policy_version",
            "event_id",
            "recorded_at",
        ),
        Index("ix_consent_events_purpose_at", "purpose", "at"),
        Index("ix_consent_events_purpose_recorded", "purpose", "recorded_at"),
    )


class LedgerHeadRow(Base):
    """One row (id=1): the ledger's length and head hash; the append lock."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class SnapshotRow(Base):
    __tablename__ = "snapshots"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # building | complete | failed | withdrawn
    path: Mapped[str] = mapped_column(Text)
    engine: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(32))
    record_count: Mapped[int] = mapped_column(BigInteger, default=0)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manifest: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON copy
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # derived from
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # child id


class SnapshotStaleRow(Base):
    """Withdrawal propagation: a member's records in a snapshot that are no longer
    eligible (by the domain rule at ``at``), with the reason of the change that made them
    so. A snapshot is stale while it has any row here."""

    __tablename__ = "snapshot_stale_members"

    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    records: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class LineageEdgeRow(Base):
    """One edge of the lineage graph beyond the provenance rows (see
    :mod:`optin.storage.lineage` for the kinds and what ``src``/``dst`` name)."""

    __tablename__ = "lineage_edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    src: Mapped[str] = mapped_column(String(128))
    dst: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    meta: Mapped[str] = mapped_column(Text, default="{}")  # JSON object

    __table_args__ = (
        Index("ix_lineage_edges_src", "kind", "src"),
        Index("ix_lineage_edges_dst", "kind", "dst"),
    )


class SnapshotRecordRow(Base):
    """Provenance: record id -> content, author, and the consent that made it eligible.

    Never shipped with the shards.
    """

    __tablename__ = "snapshot_records"

    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_id: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[str] = mapped_column(String(64))
    consent_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    policy_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shard: Mapped[str] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_snapshot_records_author", "author_id"),
        Index("ix_snapshot_records_content", "content_id"),
    )


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public prefix
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[str] = mapped_column(Text)  # space-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebSessionRow(Base):
    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginFailureRow(Base):
    """One failed web login, kept for the rate-limit window only (see
    :mod:`optin.storage.ratelimit`). ``key_hash`` is SHA-256 of (client address, handle):
    no handle or address is stored in clear."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_login_failures_key_at", "key_hash", "at"),
        Index("ix_login_failures_at", "at"),
    )


# the provider tables register themselves on Base
from optin.storage import provider_models as _provider_models  # noqa: E402,F401

# -- transparency log (optin.storage.tlog; issue 13) ------------------------------------


class TlogLeafRow(Base):
    """One leaf of the transparency log per ledger event (``idx = seq - 1``): the salted
    commitment, and the salt sealed with the member's key (NULL once unreadable)."""

    __tablename__ = "tlog_leaves"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    salt: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class TlogNodeRow(Base):
    """The hash of every complete (perfect) subtree: ``2**level`` leaves from
    ``idx * 2**level``; level 0 holds the leaf hashes."""

    __tablename__ = "tlog_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class TlogStateRow(Base):
    """One row (id=1): the tree's size and root; the integration lock."""

    __tablename__ = "tlog_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary)


class TlogCheckpointRow(Base):
    """A signed checkpoint, and the note with the witnesses' cosignatures added."""

    __tablename__ = "tlog_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text)
    cosigned: Mapped[str] = mapped_column(Text)
    cosigners: Mapped[str] = mapped_column(Text, default="")  # space-separated names


# -- data-subject requests (optin.storage.dsr; issue 12) --------------------------------


class DsrRequestRow(Base):
    """A data-subject request (access, erasure, objection) and its current state; every
    change of state is a row of ``dsr_request_events``. ``member_id`` has no foreign key:
    the request (and its history) outlives an erasure of the member's data. No personal
    data is stored here: ``identity_method`` says how identity was checked, never the
    document itself."""

    __tablename__ = "dsr_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))  # web | admin | api | cli
    opened_by: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rule: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    extended_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    identity_method: Mapped[str | None] = mapped_column(Text, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(40), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # refusal / extension
    package_path: Mapped[str | None] = mapped_column(Text, nullable=True)  # rel. to home
    package_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    package_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    package_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_dsr_requests_member_kind", "member_id", "kind", "state"),
        Index("ix_dsr_requests_state_due", "state", "due_at"),
    )


class DsrRequestEventRow(Base):
    """One dated change of a request's state: who did it, why, what the member was told."""

    __tablename__ = "dsr_request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("dsr_requests.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    notice: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_dsr_request_events_request", "request_id", "id"),)


class DsrDownloadRow(Base):
    """A single-use download link for an access package: only the token's SHA-256 is
    kept; ``used_at`` is set by the one download it allows."""

    __tablename__ = "dsr_downloads"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("dsr_requests.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_dsr_downloads_request", "request_id"),)


# -- erasure (optin.services.erasure; issue 12) ------------------------------------------


class ErasureRecordRow(Base):
    """One place an erasure reached: what was erased (``what``: a field or kind of
    record, never a value), where (``place``: a table, a file area, a model), how many,
    when, by which request and actor. No personal data: ``target`` is an opaque id (a
    member id, snapshot id, export id, file area) and ``detail`` a short JSON object of
    counts and ids."""

    __tablename__ = "erasure_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    erasure_id: Mapped[str] = mapped_column(String(36))
    member_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # deleted | blanked | destroyed | ...
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    detail: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (
        Index("ix_erasure_records_member", "member_id"),
        Index("ix_erasure_records_erasure", "erasure_id"),
    )


# the model registry tables (issue 14) register themselves on Base
from optin.storage import model_tables as _model_tables  # noqa: E402,F401
