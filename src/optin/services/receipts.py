"""Consent receipts: one ledger event as a consent record.

The record follows the field groups of ISO/IEC TS 27560 (consent record information
structure) as mapped onto the W3C Data Privacy Vocabulary (DPV) by the DPV consent
guide: record, principal (data subject), notice, purpose, processing and recipients,
jurisdiction, event, state, method, withdrawal, plus optin's proof (ledger seq + hash).
Keys use DPV / Dublin Core terms (``dpv:``, ``dct:``) where one fits. The principal is
the pseudonymous member id; no name, e-mail, IP or user agent appears.
"""

from __future__ import annotations

from typing import Any

from optin.domain.model import ConsentAction, ConsentSource
from optin.errors import NotFoundError
from optin.services.policy import policy_set
from optin.storage.database import Database
from optin.storage.ledger import is_erasure, iso
from optin.storage.repos import consents

SCHEMA_VERSION = "optin-consent-record/1 (ISO/IEC TS 27560:2023 via W3C DPV 2.x)"
CONTEXT = {
    "dpv": "https://w3id.org/dpv#",
    "dct": "http://purl.org/dc/terms/",
    "optin": "https://optin.social/ns#",
}
#: Where a member switches a purpose off (web) and the equivalent command.
WITHDRAWAL_UI = "Settings & Privacy → Data privacy → Data for Generative AI Improvement"
WITHDRAWAL_CLI = "optin consent set {member} {purpose} off"

_METHOD = {
    ConsentSource.WEB: "dpv:ConsentIndicatedByWebForm",
    ConsentSource.API: "dpv:ConsentIndicatedByAPI",
    ConsentSource.CLI: "optin:RecordedByOperatorCLI",
    ConsentSource.IMPORT: "optin:ImportedFromPlatformRecords",
    ConsentSource.DEMO: "optin:SyntheticDemoData",
    ConsentSource.GPC: "optin:GlobalPrivacyControlSignal",
    ConsentSource.SYSTEM: "optin:RecordedBySystem",
    ConsentSource.OBJECTION: "optin:DataSubjectObjection",
}


def _state(action: ConsentAction, source: ConsentSource) -> tuple[str, str]:
    if action is ConsentAction.GRANT:
        return "given", "dpv:ConsentGiven"
    if source in (ConsentSource.GPC, ConsentSource.OBJECTION):
        return "objected", "dpv:ConsentRefused"
    return "withdrawn", "dpv:ConsentWithdrawn"


def receipt(db: Database, event_id: str) -> dict[str, Any]:
    """Render ledger event ``event_id`` as a consent record (JSON-LD-ish dict)."""
    with db.session() as s:
        row = consents.event_row(s, event_id)
        if row is None:
            raise NotFoundError(
                f"consent event {event_id!r} does not exist; "
                "`optin consent history MEMBER` lists a member's event ids"
            )
        if is_erasure(row):
            raise NotFoundError(
                f"ledger event {event_id!r} records an erasure, not a consent choice; "
                "its erasure record lists what was erased (`optin dsr erasure-record MEMBER`)"
            )
        personal, erased = consents.personal_of(s, row)
    ps = policy_set(db)
    pv = ps.by_version(row.policy_version)
    purpose = pv.purposes.get(row.purpose) if pv else None
    action = ConsentAction(row.action)
    source = ConsentSource(row.source)
    state, dpv_state = _state(action, source)
    country = (personal or {}).get("country")
    regime = str(pv.jurisdictions.regime(country)) if pv and country else None
    return {
        "@context": CONTEXT,
        "@type": "dpv:ConsentRecord",
        "schema_version": SCHEMA_VERSION,
        "record": {
            "dct:identifier": row.event_id,
            "dct:created": iso(row.recorded_at),
            "dpv:hasLegalBasis": "dpv:Consent" if regime != "opt_out" else "dpv:LegitimateInterest",
        },
        "principal": {
            "dpv:hasDataSubject": {
                "@id": f"optin:member/{row.member_id}",
                "@type": "dpv:User",
                "pseudonymous": True,
            },
        },
        "notice": {
            "dpv:hasNotice": {
                "dct:identifier": f"policy-v{row.policy_version}",
                "version": row.policy_version,
                "sha256": pv.sha256 if pv else None,
                "dct:title": purpose.title if purpose else None,
                "effective_at": iso(pv.effective_at) if pv else None,
            },
        },
        "purposes": [
            {
                "@id": f"optin:purpose/{row.purpose}",
                "@type": "dpv:Purpose",
                "dct:title": purpose.title if purpose else row.purpose,
                "dct:description": purpose.description if purpose else None,
                "dpv:hasPersonalData": ["dpv:Content"],
            }
        ],
        "processing": {
            "dpv:hasProcessing": ["dpv:Use", "dpv:Share"]
            if row.purpose == "share_with_providers"
            else ["dpv:Use"],
            "content_kinds": sorted(str(k) for k in purpose.kinds) if purpose else [],
            "visibility": sorted(str(v) for v in purpose.visibilities) if purpose else [],
            "dpv:hasRecipient": list(purpose.recipients) if purpose else [],
            "safeguards": ["personal data removed before training"],
        },
        "jurisdiction": {
            "dpv:hasJurisdiction": country,
            "regime": regime,
            "erased": erased,
        },
        "event": {
            "dpv:isIndicatedAtTime": iso(row.at),
            "dct:created": iso(row.recorded_at),
            # bitemporal: the time the event claims, and the time the ledger recorded it
            # (from the append, never from the caller); a decision as of T counts the
            # event only when both are at or before T
            "effective_at": iso(row.at),
            "recorded_at": iso(row.recorded_at),
            # the true source as the ledger keeps it (a declared import names its system,
            # e.g. import:legacy-system)
            "source": str(row.source),
        },
        "state": {"dpv:hasConsentStatus": dpv_state, "value": state},
        "method": {"dpv:hasIndicationMethod": _METHOD[source], "source": str(row.source)},
        "withdrawal": {
            "how": WITHDRAWAL_UI,
            "cli": WITHDRAWAL_CLI.format(member=row.member_id, purpose=row.purpose),
            "effect": purpose.off_effect if purpose else None,
        },
        "proof": {
            "ledger_seq": int(row.seq),
            "hash": row.hash,
            "prev_hash": row.prev_hash,
            "hash_algorithm": "sha256(prev_hash || canonical_payload)",
            # transparency log (issue 13): the event's leaf is seq - 1 (optin log prove)
            "log_leaf_index": int(row.seq) - 1,
        },
    }
