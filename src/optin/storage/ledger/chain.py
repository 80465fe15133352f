"""The chain: one entry's canonical payload and hash, spelled in exactly one place.

A ledger row's ``hash = sha256(prev_hash + canonical_payload)`` where the canonical
payload is sorted-key compact JSON of::

    seq, event_id, member_id, purpose, action, at, recorded_at, policy_version,
    source, personal_sha256

Times are ISO 8601 in UTC with microseconds (:func:`iso`). ``personal_sha256`` is the
SHA-256 of the encrypted personal fields (or null), so destroying a member's key
(crypto-shredding) leaves the chain intact. :class:`ChainEntry` is that payload as a
value; appends (Python or, on PostgreSQL, SQL) and verification all go through it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
#: Where ``seq`` sits in a payload built with ``seq=-1`` (keys are sorted, so ``"seq"``
#: comes between ``"recorded_at"`` and ``"source"``).
_SEQ_MARK = ',"seq":-1,"source":'


def iso(dt: datetime) -> str:
    """The canonical time format: UTC, microseconds, ``+00:00``."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime in the ledger; use UTC-aware datetimes")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """What the chain hashes for one event (times already canonical ISO text)."""

    seq: int
    event_id: str
    member_id: str
    purpose: str
    action: str
    at: str
    recorded_at: str
    policy_version: int
    source: str
    personal: bytes | None

    @classmethod
    def of(
        cls,
        seq: int,
        event_id: str,
        member_id: str,
        purpose: str,
        action: str,
        at: datetime,
        recorded_at: datetime,
        policy_version: int,
        source: str,
        personal: bytes | None,
    ) -> ChainEntry:
        """An entry from UTC-aware datetimes."""
        return cls(
            seq,
            event_id,
            member_id,
            purpose,
            action,
            iso(at),
            iso(recorded_at),
            policy_version,
            source,
            personal,
        )

    def payload(self) -> str:
        """The canonical payload: the one place its fields and format are spelled."""
        p = self.personal
        return _ENCODER.encode(
            {
                "seq": self.seq,
                "event_id": self.event_id,
                "member_id": self.member_id,
                "purpose": self.purpose,
                "action": self.action,
                "at": self.at,
                "recorded_at": self.recorded_at,
                "policy_version": self.policy_version,
                "source": self.source,
                "personal_sha256": hashlib.sha256(p).hexdigest() if p is not None else None,
            }
        )

    def digest(self, prev_hash: str) -> str:
        """This entry's chain hash after ``prev_hash``."""
        return chain_hash(prev_hash, self.payload())

    def sql_parts(self) -> tuple[str, str]:
        """The payload split around ``seq`` (this entry's ``seq`` must be -1): the
        PostgreSQL append splices the locked head's ``seq + 1`` in between and hashes
        in SQL, so SQL and Python hash the same bytes."""
        payload = self.payload()
        if self.seq != -1 or payload.count(_SEQ_MARK) != 1:
            raise ValueError("sql_parts needs an entry built with seq=-1")
        head, _, tail = payload.partition(_SEQ_MARK)
        return head + ',"seq":', ',"source":' + tail


def chain_hash(prev_hash: str, payload: str) -> str:
    """``sha256(prev_hash + payload)`` as hex."""
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def canonical_payload(
    seq: int,
    event_id: str,
    member_id: str,
    purpose: str,
    action: str,
    at: datetime,
    recorded_at: datetime,
    policy_version: int,
    source: str,
    personal: bytes | None,
) -> str:
    """The canonical payload from datetimes (see :class:`ChainEntry`)."""
    return ChainEntry.of(
        seq, event_id, member_id, purpose, action, at, recorded_at, policy_version, source, personal
    ).payload()


def payload_from_iso(
    seq: int,
    event_id: str,
    member_id: str,
    purpose: str,
    action: str,
    at: str,
    recorded_at: str,
    policy_version: int,
    source: str,
    personal: bytes | None,
) -> str:
    """The canonical payload with the times already in canonical ISO form."""
    return ChainEntry(
        seq, event_id, member_id, purpose, action, at, recorded_at, policy_version, source, personal
    ).payload()
