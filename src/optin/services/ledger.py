"""The consent ledger as the adapters see it: its head, and a full verification.

::

    report = verify_ledger(db)      # LedgerReport: ok, length, head_hash, first_bad_seq
    head = ledger_status(db)        # LedgerHead: seq, hash (cheap: one row)
"""

from __future__ import annotations

from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.ledger import LedgerHead, LedgerReport


def verify_ledger(db: Database) -> LedgerReport:
    """Re-check the whole hash chain and the head row."""
    with db.session() as s:
        return ledger.verify(s)


def ledger_status(db: Database) -> LedgerHead:
    """The ledger's length and head hash."""
    with db.session() as s:
        return ledger.ledger_head(s)


__all__ = ["LedgerHead", "LedgerReport", "ledger_status", "verify_ledger"]
