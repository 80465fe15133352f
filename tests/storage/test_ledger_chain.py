"""The chain entry: the one place that spells the payload and computes the hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from optin.storage import ledger
from optin.storage.ledger.chain import ChainEntry

AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _entry(seq: int, personal: bytes | None = b"sealed") -> ChainEntry:
    return ChainEntry.of(seq, "e1", "m1", "train_own_models", "grant", AT, AT, 1, "web", personal)


def test_payload_is_the_documented_canonical_json() -> None:
    e = _entry(7)
    expected = json.dumps(
        {
            "seq": 7,
            "event_id": "e1",
            "member_id": "m1",
            "purpose": "train_own_models",
            "action": "grant",
            "at": "2024-03-01T12:00:00.000000+00:00",
            "recorded_at": "2024-03-01T12:00:00.000000+00:00",
            "policy_version": 1,
            "source": "web",
            "personal_sha256": hashlib.sha256(b"sealed").hexdigest(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert e.payload() == expected
    assert (
        e.digest(ledger.GENESIS) == hashlib.sha256((ledger.GENESIS + expected).encode()).hexdigest()
    )
    assert ledger.chain_hash(ledger.GENESIS, expected) == e.digest(ledger.GENESIS)


def test_other_time_zones_are_canonicalised_to_utc() -> None:
    cet = timezone(timedelta(hours=1))
    e = ChainEntry.of(
        1, "e1", "m1", "train_own_models", "grant", AT.astimezone(cet), AT, 1, "web", None
    )
    assert e == _entry(1, None)
    with pytest.raises(ValueError, match="naive"):
        ChainEntry.of(
            1, "e1", "m1", "train_own_models", "grant", AT.replace(tzinfo=None), AT, 1, "web", None
        )


@pytest.mark.parametrize("seq", [1, 9, 12345678901])
def test_sql_parts_splice_to_the_same_payload(seq: int) -> None:
    prefix, suffix = _entry(-1).sql_parts()
    assert prefix + str(seq) + suffix == _entry(seq).payload()
    with pytest.raises(ValueError):
        _entry(3).sql_parts()


def test_legacy_helpers_agree_with_the_entry() -> None:
    e = _entry(2)
    args = (2, "e1", "m1", "train_own_models", "grant")
    assert ledger.canonical_payload(*args, AT, AT, 1, "web", b"sealed") == e.payload()
    assert ledger.payload_from_iso(*args, e.at, e.recorded_at, 1, "web", b"sealed") == e.payload()
