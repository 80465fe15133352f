"""The consent ledger: append-only, hash-chained, verifiable, erasable personal fields.

Three parts, re-exported here (``from optin.storage import ledger``; ``ledger.append``):

* :mod:`~optin.storage.ledger.chain` - :class:`ChainEntry`, the one place that spells
  the canonical hash payload and computes the hash;
* :mod:`~optin.storage.ledger.append` - :func:`append` (one event) and
  :func:`append_many` (imports, demo), both under the head-row lock, both taking the
  append's ``now``;
* :mod:`~optin.storage.ledger.verify` - :func:`verify` (re-check the chain and the
  head) and row readers.

Personal fields are sealed with the member's key, so destroying that key
(crypto-shredding, :func:`destroy_member_key`) leaves the chain intact.
"""

from __future__ import annotations

from optin.storage.keys import destroy_member_key
from optin.storage.ledger.append import (
    EventDraft,
    LedgerHead,
    append,
    append_erasure,
    append_many,
    ensure_head,
    ledger_head,
    lock,
    personal_fields,
)
from optin.storage.ledger.chain import (
    GENESIS,
    ChainEntry,
    canonical_payload,
    chain_hash,
    iso,
    payload_from_iso,
)
from optin.storage.ledger.verify import LedgerReport, iter_rows, verify
from optin.storage.light import is_erasure, row_to_event

__all__ = [
    "GENESIS",
    "ChainEntry",
    "EventDraft",
    "LedgerHead",
    "LedgerReport",
    "append",
    "append_erasure",
    "append_many",
    "canonical_payload",
    "chain_hash",
    "destroy_member_key",
    "ensure_head",
    "is_erasure",
    "iso",
    "iter_rows",
    "ledger_head",
    "lock",
    "payload_from_iso",
    "personal_fields",
    "row_to_event",
    "verify",
]
