"""Tables of the provider registry, provider exports and the deletion-notice outbox.

Registered on :class:`optin.storage.models.Base` (``models`` imports this module), so
Alembic and the schema test see them like every other table.

* ``providers`` - third-party AI providers as data: name (as the policy's recipients
  name it), webhook URL, agreement deadline in days, public id.
* ``provider_exports`` - one row per export: the sharing record (who, when, the
  snapshot, policy version, legal basis and the consent events that justify it) and the
  export's state (``complete`` or ``stale`` with the count and reason).
* ``export_records`` - which records (and whose) went into each export; ``noticed_at``
  is set when a deletion notice has asked the provider to purge the record.
* ``deletion_notices`` - the transactional outbox: written in the same transaction as
  the stale marking, delivered at least once by the worker (``attempts``,
  ``next_attempt_at``, a lease in ``locked_until``), acknowledged by the provider.
* ``provider_keys`` - binds an API key (scope ``provider:ack``) to one provider.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from optin.storage.models import Base, UTCDateTime


class ProviderRow(Base):
    __tablename__ = "providers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public id
    name: Mapped[str] = mapped_column(String(200), unique=True)
    webhook_url: Mapped[str] = mapped_column(Text)
    deadline_days: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProviderExportRow(Base):
    __tablename__ = "provider_exports"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    snapshot_id: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)  # relative to the data directory
    record_count: Mapped[int] = mapped_column(BigInteger, default=0)
    policy_version: Mapped[int] = mapped_column(Integer)
    legal_basis: Mapped[str] = mapped_column(String(32))
    consent_events: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))  # complete | stale
    stale_count: Mapped[int] = mapped_column(BigInteger, default=0)
    stale_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    stale_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    sharing_record: Mapped[str] = mapped_column(Text)  # JSON

    __table_args__ = (Index("ix_provider_exports_snapshot", "snapshot_id"),)


class ExportRecordRow(Base):
    __tablename__ = "export_records"

    export_id: Mapped[str] = mapped_column(
        ForeignKey("provider_exports.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str] = mapped_column(String(64))
    consent_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_export_records_member", "member_id"),
        Index("ix_export_records_content", "content_id"),
    )


class DeletionNoticeRow(Base):
    __tablename__ = "deletion_notices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the idempotency key
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    export_id: Mapped[str] = mapped_column(ForeignKey("provider_exports.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    record_count: Mapped[int] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON body (signed on delivery)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(32), nullable=True)  # API key id

    __table_args__ = (
        Index("ix_deletion_notices_pending", "delivered_at", "next_attempt_at"),
        Index("ix_deletion_notices_provider", "provider_id"),
        Index("ix_deletion_notices_export", "export_id"),
    )


class ProviderKeyRow(Base):
    __tablename__ = "provider_keys"

    key_id: Mapped[str] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))


__all__ = [
    "DeletionNoticeRow",
    "ExportRecordRow",
    "ProviderExportRow",
    "ProviderKeyRow",
    "ProviderRow",
]
