"""What a leaf holds: a salted commitment to an event's canonical receipt bytes.

``leaf data = SHA-256(salt || canonical)`` where ``canonical`` is the ledger's canonical
payload of the event (the bytes the hash chain covers: seq, event id, pseudonymous
member id, purpose, action, times, policy version, source, SHA-256 of the encrypted
personal fields) and ``salt`` is 32 random bytes kept sealed with the member's key. The
public tree so holds no personal data, and destroying the member's key (erasure)
destroys the salt while every proof stays valid.

The member's proof bundle puts ``{"salt", "canonical", "receipt"}`` (JSON) in the
``extra`` line of a ``c2sp.org/tlog-proof`` file, so one file carries the receipt, its
salt and the proof: :func:`opened_leaf` recomputes the leaf hash from it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from optin.tlog.merkle import leaf_hash
from optin.tlog.note import NoteError

__all__ = ["SALT_BYTES", "bundle_extra", "commitment", "opened_leaf"]

SALT_BYTES = 32


def commitment(salt: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(salt + canonical).digest()


def bundle_extra(salt: bytes, canonical: bytes, receipt: dict[str, Any] | None) -> bytes:
    """The ``extra`` data of a member's proof file."""
    body = {
        "salt": base64.b64encode(salt).decode("ascii"),
        "canonical": canonical.decode("utf-8"),
        "receipt": receipt,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def opened_leaf(extra: bytes) -> tuple[bytes, dict[str, Any]]:
    """``(leaf hash, canonical fields)`` from a proof file's ``extra`` data; raises
    :class:`NoteError` when it is malformed or the receipt names another event."""
    try:
        body = json.loads(extra)
        salt = base64.b64decode(body["salt"], validate=True)
        canonical = str(body["canonical"]).encode("utf-8")
        fields = json.loads(canonical)
    except (ValueError, KeyError, TypeError):
        raise NoteError("the proof file's extra data is not an optin receipt bundle") from None
    if not isinstance(fields, dict) or len(salt) != SALT_BYTES:
        raise NoteError("the proof file's extra data is not an optin receipt bundle")
    receipt = body.get("receipt")
    if isinstance(receipt, dict):
        rid = receipt.get("record", {}).get("dct:identifier")
        if rid is not None and rid != fields.get("event_id"):
            raise NoteError("the receipt in the proof file names another event than its leaf")
    return leaf_hash(commitment(salt, canonical)), fields
