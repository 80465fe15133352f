"""Per-member keys that encrypt the personal fields of ledger events (crypto-shredding).

Each member gets a random 256-bit AES-GCM key on first use, kept in the session's key
store (:mod:`optin.storage.keystore`; by default files under ``$OPTIN_HOME/keys``,
wrapped by a master key), never in the database. Personal fields are sealed as
``nonce(12) || ciphertext+tag`` with the event id as associated data, so a ciphertext
cannot be moved to another event unnoticed. Destroying the key
(:func:`destroy_member_key`) makes every sealed value of that member unreadable, while
the ledger chain, which hashes the ciphertext, still verifies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from optin.storage.keystore import KeyStore, keystore_of

NONCE_BYTES = 12


class KeyRing:
    """Keys loaded for one transaction; creates missing keys on demand."""

    def __init__(self, session: Session, store: KeyStore | None = None) -> None:
        self.session = session
        self.store = store if store is not None else keystore_of(session)
        self._keys: dict[str, bytes | None] = {}

    def load(self, member_ids: Iterable[str]) -> None:
        """Fetch the keys of ``member_ids`` (bulk paths call this first)."""
        wanted = sorted({m for m in member_ids if m not in self._keys})
        if wanted:
            self._keys.update(self.store.get(wanted))

    def key_for_write(self, member_id: str, now: datetime) -> bytes | None:
        """The member's key, created if the member has none; None once destroyed."""
        if member_id not in self._keys:
            self.create_missing([member_id], now)
        return self._keys[member_id]

    def create_missing(self, member_ids: Iterable[str], now: datetime) -> None:
        """Create keys for every member in ``member_ids`` that has none.

        Race-free: the store's ``create`` is get-or-create, so when two transactions
        create a member's first key at once one key wins and both use it (before,
        the loser failed on ``UNIQUE member_keys.member_id``).
        """
        ids = set(member_ids)
        self.load(ids)
        for m in sorted(ids - self._keys.keys()):
            self._keys[m] = self.store.create(m, now)

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
    """Erase the member's key at ``now``; False when the member had no key or it was gone.
    No key is ever created for the member again."""
    return keystore_of(session).destroy(member_id, now)
