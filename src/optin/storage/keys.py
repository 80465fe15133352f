"""Per-member keys that encrypt the personal fields of ledger events (crypto-shredding).

Each member gets a random 256-bit AES-GCM key on first use (:class:`MemberKeyRow`).
Personal fields are sealed as ``nonce(12) || ciphertext+tag`` with the event id as
associated data, so a ciphertext cannot be moved to another event unnoticed. Destroying
the key (:func:`destroy_member_key`) makes every sealed value of that member unreadable,
while the ledger chain, which hashes the ciphertext, still verifies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from optin.storage.models import MemberKeyRow

NONCE_BYTES = 12


class KeyRing:
    """Keys loaded for one transaction; creates missing keys on demand."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._keys: dict[str, bytes | None] = {}

    def load(self, member_ids: Iterable[str]) -> None:
        """Fetch the keys of ``member_ids`` in a few queries (bulk paths call this first)."""
        wanted = sorted({m for m in member_ids if m not in self._keys})
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = self.session.execute(
                select(MemberKeyRow.member_id, MemberKeyRow.key).where(
                    MemberKeyRow.member_id.in_(chunk)
                )
            ).all()
            found = {r[0]: r[1] for r in rows}
            for m in chunk:
                if m in found:
                    self._keys[m] = found[m]

    def key_for_write(self, member_id: str, now: datetime) -> bytes | None:
        """The member's key, created if the member has none; None once destroyed."""
        if member_id not in self._keys:
            self.load([member_id])
        if member_id not in self._keys:
            key = AESGCM.generate_key(bit_length=256)
            self.session.add(MemberKeyRow(member_id=member_id, key=key, created_at=now))
            self.session.flush()
            self._keys[member_id] = key
        return self._keys[member_id]

    def create_missing(self, member_ids: Iterable[str], now: datetime) -> None:
        """Create keys for every member in ``member_ids`` that has none (one insert)."""
        ids = set(member_ids)
        self.load(ids)
        missing = sorted(m for m in ids if m not in self._keys)
        if not missing:
            return
        rows = []
        for m in missing:
            key = AESGCM.generate_key(bit_length=256)
            self._keys[m] = key
            rows.append({"member_id": m, "key": key, "created_at": now, "destroyed_at": None})
        self.session.execute(insert(cast(Table, MemberKeyRow.__table__)), rows)

    def key_for_read(self, member_id: str) -> bytes | None:
        if member_id not in self._keys:
            self.load([member_id])
        return self._keys.get(member_id)


def seal(key: bytes, event_id: str, personal: dict[str, Any]) -> bytes:
    data = json.dumps(personal, sort_keys=True, separators=(",", ":")).encode("utf-8")
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, event_id.encode("utf-8"))


def unseal(key: bytes | None, event_id: str, blob: bytes | None) -> dict[str, Any] | None:
    """Decrypt personal fields; None when there are none or the key was destroyed."""
    if blob is None or key is None:
        return None
    try:
        data = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], event_id.encode())
    except InvalidTag:
        return None
    out = json.loads(data)
    return out if isinstance(out, dict) else None


def destroy_member_key(session: Session, member_id: str, *, now: datetime) -> bool:
    """Erase the member's key at ``now``; False when the member had no key or it was gone."""
    when = now
    res = session.execute(
        update(MemberKeyRow)
        .where(MemberKeyRow.member_id == member_id, MemberKeyRow.key.is_not(None))
        .values(key=None, destroyed_at=when)
    )
    if res.rowcount:  # type: ignore[attr-defined]
        return True
    exists = session.execute(
        select(MemberKeyRow.member_id).where(MemberKeyRow.member_id == member_id)
    ).first()
    if exists is None:
        # remember the erasure so that no key is ever created for this member again
        session.add(MemberKeyRow(member_id=member_id, key=None, created_at=when, destroyed_at=when))
        session.flush()
    return False
