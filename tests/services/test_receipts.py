"""Consent receipts (ISO/IEC TS 27560 field groups, DPV terms) and the directory."""

from __future__ import annotations

from datetime import timedelta

import pytest

from optin.errors import NotFoundError
from optin.services.consent import record_consent
from optin.services.receipts import receipt
from optin.storage.database import Database
from optin.storage.keys import destroy_member_key
from tests.factories import T0, add_member

#: the append time passed to the ledger (time is a parameter in storage)
NOW = T0 + timedelta(days=400)

GROUPS = {
    "record",
    "principal",
    "notice",
    "purposes",
    "processing",
    "jurisdiction",
    "event",
    "state",
    "method",
    "withdrawal",
    "proof",
}


def test_when_granted_then_receipt_has_every_field_group(db: Database) -> None:
    add_member(db, "m1", country="BR", display_name="Ana Souza", email="ana@example.com")
    ev = record_consent(
        db,
        "m1",
        "share_with_providers",
        "on",
        source="web",
        at=T0 + timedelta(days=1),
        personal={"ip": "203.0.113.9"},
        now=T0 + timedelta(days=1),
    )
    rec = receipt(db, ev.event_id)
    assert rec.keys() >= GROUPS
    assert rec["@type"] == "dpv:ConsentRecord" and rec["schema_version"]
    assert rec["record"]["dct:identifier"] == ev.event_id
    assert rec["principal"]["dpv:hasDataSubject"]["@id"] == "optin:member/m1"
    assert rec["notice"]["dpv:hasNotice"]["version"] == 1
    assert len(rec["notice"]["dpv:hasNotice"]["sha256"]) == 64
    assert rec["purposes"][0]["@id"].endswith("share_with_providers")
    assert rec["processing"]["dpv:hasRecipient"]
    assert rec["jurisdiction"] == {"dpv:hasJurisdiction": "BR", "regime": "opt_in", "erased": False}
    assert rec["event"]["dpv:isIndicatedAtTime"].startswith("2024-02-02T00:00:00")
    assert rec["state"] == {"dpv:hasConsentStatus": "dpv:ConsentGiven", "value": "given"}
    assert rec["method"]["source"] == "web"
    assert "off" in rec["withdrawal"]["cli"]
    assert rec["proof"]["ledger_seq"] == ev.seq and len(rec["proof"]["hash"]) == 64
    text = repr(rec)
    for secret in ("Ana", "Souza", "ana@example.com", "203.0.113.9"):
        assert secret not in text


@pytest.mark.parametrize(
    ("action", "source", "state"), [("off", "web", "withdrawn"), ("off", "gpc", "objected")]
)
def test_when_withdrawn_or_objected_then_state_says_so(
    db: Database, action: str, source: str, state: str
) -> None:
    add_member(db, "m1")
    ev = record_consent(
        db,
        "m1",
        "train_own_models",
        action,
        source=source,
        at=T0 + timedelta(days=1),
        now=T0 + timedelta(days=1),
    )
    assert receipt(db, ev.event_id)["state"]["value"] == state


def test_when_member_erased_then_receipt_has_no_jurisdiction(db: Database) -> None:
    add_member(db, "m1", country="JP")
    ev = record_consent(
        db,
        "m1",
        "train_own_models",
        "on",
        source="web",
        at=T0 + timedelta(days=1),
        now=T0 + timedelta(days=1),
    )
    with db.session() as s:
        destroy_member_key(s, "m1", now=NOW)
    rec = receipt(db, ev.event_id)
    assert rec["jurisdiction"]["dpv:hasJurisdiction"] is None
    assert rec["jurisdiction"]["erased"] is True


def test_when_event_unknown_then_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError, match="consent history"):
        receipt(db, "nope")
