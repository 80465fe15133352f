"""View models for the member pages: what each purpose card says, computed from the
policy in force, the member's ledger history and the eligibility decision now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from optin.domain.countries import country_name
from optin.domain.eligibility import Decision, Reason
from optin.domain.model import (
    ConsentAction,
    ConsentSource,
    ContentKind,
    PolicyVersion,
    Purpose,
    Regime,
    Visibility,
)
from optin.services.consent import GPC_PURPOSE, can_switch

__all__ = [
    "GPC_PURPOSE",
    "HeldIn",
    "HistoryEvent",
    "PurposeCard",
    "ReceiptGroup",
    "ReceiptRow",
    "as_history_event",
    "card_for",
    "never_text",
    "receipt_view",
    "used_text",
    "withdrawal_feedback",
]

_KIND_WORDS = {
    ContentKind.POST: "posts",
    ContentKind.ARTICLE: "articles",
    ContentKind.COMMENT: "comments",
    ContentKind.PROFILE: "your profile",
    ContentKind.MESSAGE: "private messages",
}
_VIS_WORDS = {
    Visibility.PUBLIC: "public",
    Visibility.CONNECTIONS: "shared with your connections",
    Visibility.PRIVATE: "private",
}
_KIND_ORDER = [ContentKind.POST, ContentKind.ARTICLE, ContentKind.COMMENT, ContentKind.PROFILE]


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def used_text(p: Purpose) -> str:
    vis = _join([_VIS_WORDS[v] for v in Visibility if v in p.visibilities])
    kinds = _join([_KIND_WORDS[k] for k in _KIND_ORDER if k in p.kinds])
    return f"Your {vis} {kinds}."


def never_text(p: Purpose) -> str:
    never = ["private messages"]
    never += [_KIND_WORDS[k] for k in _KIND_ORDER if k not in p.kinds]
    never += [f"anything {_VIS_WORDS[v]}" for v in Visibility if v not in p.visibilities]
    return _join(never).capitalize() + "."


@dataclass
class HistoryEvent:
    event_id: str
    seq: int
    purpose: str
    action: str
    at: datetime
    recorded_at: datetime | None
    source: str
    policy_version: int


@dataclass
class PurposeCard:
    id: str
    title: str
    description: str
    used: str
    never: str
    recipients: tuple[str, ...]
    off_effect: str
    checked: bool
    disabled: bool
    disabled_reason: str | None
    decision: Decision
    regime: str | None
    opt_out_default: bool
    stale: bool
    material_in: int | None
    last: HistoryEvent | None
    gpc: HistoryEvent | None = None
    void_reason: str | None = None  # a grant that does not count (minor, excluded)
    notes: list[str] = field(default_factory=list)

    @property
    def in_use(self) -> bool:
        return self.decision.eligible


def _minor_text(decision: Decision, policy: PolicyVersion) -> str:
    """What happens to a minor's content, true of the rules in force: the country's own
    minimum age; in an opt-out country the use starts by default at that age."""
    rules = policy.jurisdictions
    country = decision.country
    age = rules.min_age(country) if country else rules.minimum_age
    head = f"Your content is not used for this purpose because you are under {age}."
    if decision.regime is Regime.OPT_OUT:
        return (
            f"{head} In {country_name(country) if country else 'your country'} this platform "
            "uses an opt-out model: once you reach that age, your content is used for this "
            "purpose by default unless you switch it off then."
        )
    if policy.capacity.void_grants_given_as_minor:
        return (
            f"{head} This stays off until you reach that age, and even then only if you "
            "switch it on after that; a choice recorded before then does not count."
        )
    return f"{head} This stays off until you reach that age."


_VOID_TEXT = {
    Reason.GRANT_GIVEN_AS_MINOR: (
        "Off: you switched this on while you were under the minimum age, and a choice made "
        "then does not count. Your content is not used for it unless you switch it on again."
    ),
    Reason.GRANT_GIVEN_WHILE_EXCLUDED: (
        "Off: you switched this on while your account was in a country where this platform "
        "does not use members' content for AI training, and a choice made there does not "
        "count. Your content is not used for it unless you switch it on again."
    ),
}


def _disabled_reason(decision: Decision, policy: PolicyVersion) -> str | None:
    """Why the member cannot switch this purpose (None when they can)."""
    reason = decision.reason
    country = country_name(decision.country) if decision.country else None
    if reason is Reason.EXCLUDED_JURISDICTION:
        return (
            f"Your content is never used for this purpose because your account is in "
            f"{country}, where this platform does not use members' content for AI training. "
            "Nothing you or we switch here changes that."
        )
    if reason is Reason.MINOR:
        return _minor_text(decision, policy)
    if reason in (Reason.UNKNOWN_AGE, Reason.UNKNOWN_JURISDICTION):
        return "Your content is not used for this purpose because we do not know your " + (
            "age." if reason is Reason.UNKNOWN_AGE else "country."
        )
    if not can_switch(decision):  # account closed or suspended, erased
        return "Your content is not used: " + decision.explanation + "."
    return None


def card_for(
    p: Purpose,
    decision: Decision,
    events: list[HistoryEvent],
    policy: PolicyVersion,
) -> PurposeCard:
    mine = [e for e in events if e.purpose == p.id]
    last = max(mine, key=lambda e: (e.at, e.seq), default=None)
    gpc = next((e for e in mine if e.source == ConsentSource.GPC), None)
    reason = decision.reason
    regime = decision.regime
    disabled_reason = _disabled_reason(decision, policy)
    stale = reason is Reason.STALE_POLICY
    void_reason = _VOID_TEXT.get(reason)
    opt_out_default = reason is Reason.ELIGIBLE_OPT_OUT_DEFAULT or (
        regime is Regime.OPT_OUT and (last is None or last.action != ConsentAction.WITHDRAW)
    )
    checked = (
        (
            last is not None
            and last.action == ConsentAction.GRANT
            and not stale
            and void_reason is None
        )
        or reason is Reason.ELIGIBLE_OPT_OUT_DEFAULT
    ) and disabled_reason is None
    return PurposeCard(
        id=p.id,
        title=p.title,
        description=p.description,
        used=used_text(p),
        never=never_text(p),
        recipients=p.recipients,
        off_effect=p.off_effect,
        checked=checked,
        disabled=disabled_reason is not None,
        disabled_reason=disabled_reason,
        decision=decision,
        regime=str(regime) if regime else None,
        opt_out_default=opt_out_default,
        stale=stale,
        material_in=decision.policy_version if stale else None,
        last=last,
        gpc=gpc,
        void_reason=void_reason,
    )


def as_history_event(ev: Any) -> HistoryEvent:
    """Adapt a ledger row or domain event to the page's shape."""
    return HistoryEvent(
        event_id=str(ev.event_id),
        seq=int(getattr(ev, "seq", 0) or 0),
        purpose=str(ev.purpose),
        action=str(getattr(ev.action, "value", ev.action)),
        at=ev.at,
        recorded_at=getattr(ev, "recorded_at", None),
        source=str(getattr(ev.source, "value", ev.source)),
        policy_version=int(ev.policy_version),
    )


# -- the receipt as a page -----------------------------------------------------------------

_STATE_WORDS = {
    "given": "You switched this use on (consent given).",
    "withdrawn": "You switched this use off (consent withdrawn).",
    "objected": "You objected: this use is off (consent refused).",
}
_METHOD_WORDS = {
    "web": "on this platform's settings page",
    "gpc": "by your browser's Global Privacy Control signal",
    "api": "through the platform's app",
    "cli": "by an administrator, on your behalf",
    "demo": "as synthetic demo data",
    "system": "by the system",
    "objection": "through your objection (a data request)",
}
_REGIME_WORDS = {
    "opt_in": "opt-in: your content is used only if you switch the use on",
    "opt_out": "opt-out: your content may be used unless you switch the use off",
    "excluded": "excluded: content from your country is never used",
}


@dataclass(frozen=True)
class ReceiptRow:
    label: str
    value: str
    kind: str = "text"  # text | dt | hash | list


@dataclass(frozen=True)
class ReceiptGroup:
    id: str
    title: str
    about: str
    rows: list[ReceiptRow]


def _method_words(source: str) -> str:
    if source.startswith("import"):
        system = source.partition(":")[2]
        return f"imported from the platform's records{f' ({system})' if system else ''}"
    return _METHOD_WORDS.get(source, source)


def receipt_view(r: dict[str, Any]) -> list[ReceiptGroup]:
    """The receipt's ISO/IEC TS 27560 field groups in plain language, in its order.
    Every value comes from the receipt itself (the JSON a member can download)."""
    rec, notice = r["record"], r["notice"]["dpv:hasNotice"]
    purpose = r["purposes"][0]
    proc, jur, ev = r["processing"], r["jurisdiction"], r["event"]
    state, wd, proof = r["state"], r["withdrawal"], r["proof"]
    subject = r["principal"]["dpv:hasDataSubject"]["@id"]
    recipients = proc.get("dpv:hasRecipient") or []
    country = jur.get("dpv:hasJurisdiction")
    regime = jur.get("regime")
    return [
        ReceiptGroup("record", "This record", "Which record this is and when it was made.", [
            ReceiptRow("Record id", rec["dct:identifier"], "hash"),
            ReceiptRow("Created", rec["dct:created"], "dt"),
            ReceiptRow("Legal basis", "your consent" if rec["dpv:hasLegalBasis"] == "dpv:Consent"
                       else "the platform's legitimate interest (you may object)"),
        ]),
        ReceiptGroup("principal", "You", "Who the choice belongs to. Only a pseudonymous "
                     "member id: no name, e-mail, IP address or browser details.", [
            ReceiptRow("Member", subject.removeprefix("optin:member/"), "hash"),
        ]),
        ReceiptGroup("notice", "What you were shown", "The policy version in force when you "
                     "chose, and its fingerprint: any change to its text changes the hash.", [
            ReceiptRow("Policy version", f"version {notice['version']}"),
            ReceiptRow("Policy in force from", notice.get("effective_at") or "—",
                       "dt" if notice.get("effective_at") else "text"),
            ReceiptRow("Policy fingerprint (SHA-256)", notice.get("sha256") or "—", "hash"),
        ]),
        ReceiptGroup("purpose", "The use", "What your content would be used for.", [
            ReceiptRow("Use", purpose.get("dct:title") or purpose["@id"]),
            ReceiptRow("Description", purpose.get("dct:description") or "—"),
        ]),
        ReceiptGroup("processing", "What happens to your content and who receives it", "", [
            ReceiptRow("Content", _join(proc.get("content_kinds") or []) or "—"),
            ReceiptRow("Visibility", _join(proc.get("visibility") or []) or "—"),
            ReceiptRow("Recipients", _join(recipients) if recipients else "nobody outside "
                       "this platform"),
            ReceiptRow("Safeguards", _join(proc.get("safeguards") or []) or "—"),
        ]),
        ReceiptGroup("jurisdiction", "Where the rules come from", "", [
            ReceiptRow("Country", country_name(country) if country else "not recorded"),
            ReceiptRow("Rule for that country", _REGIME_WORDS.get(regime or "", regime or "—")),
        ]),
        ReceiptGroup("event", "When", "The time the choice takes effect and the time the "
                     "ledger recorded it; for any moment, only choices recorded by then count.", [
            ReceiptRow("Takes effect", ev["effective_at"], "dt"),
            ReceiptRow("Recorded by the ledger", ev["recorded_at"], "dt"),
        ]),
        ReceiptGroup("state", "Your choice", "", [
            ReceiptRow("Choice", _STATE_WORDS.get(state["value"], state["value"])),
        ]),
        ReceiptGroup("method", "How you made it", "", [
            ReceiptRow("How", _method_words(r["method"]["source"])),
        ]),
        ReceiptGroup("withdrawal", "How to change your mind", "", [
            ReceiptRow("Where", wd["how"]),
            ReceiptRow("What switching off does", wd.get("effect") or "—"),
        ]),
        ReceiptGroup("proof", "Proof", "Where this event sits in the platform's "
                     "tamper-evident consent ledger. Each event's hash covers the previous "
                     "event's hash, so changing or removing any earlier event breaks every "
                     "later one.", [
            ReceiptRow("Ledger position", f"event {proof['ledger_seq']:,}"),
            ReceiptRow("Event hash", proof["hash"], "hash"),
            ReceiptRow("Previous event's hash", proof.get("prev_hash") or "—", "hash"),
            ReceiptRow("How the hash is made", proof["hash_algorithm"], "hash"),
            ReceiptRow("Transparency log leaf", f"{proof['log_leaf_index']:,}"),
        ]),
    ]  # fmt: skip


# -- what a withdrawal does to what was already built ----------------------------------


@dataclass(frozen=True)
class HeldIn:
    """One built dataset (or model) that holds the member's content, and what happens
    to it now that the member switched the purpose off. ``kind``: snapshot | export |
    model; ``ident`` its id; ``items`` how many of the member's records it holds."""

    kind: str
    ident: str
    items: int
    text: str


def withdrawal_feedback(lineage: dict[str, Any], purpose: str) -> list[HeldIn]:
    """After switching ``purpose`` off: each live snapshot of that purpose holding the
    member's records, each export of those snapshots and each model trained on them,
    with what the system does to it (from the member's lineage; nothing else)."""
    out: list[HeldIn] = []
    snaps = [
        s
        for s in lineage.get("snapshots", [])
        if s["purpose"] == purpose and s["status"] != "retired" and s["member_records"] > 0
    ]
    for s in snaps:
        n = s["member_records"]
        items = f"{n} of your item{'s' if n != 1 else ''}"
        if s.get("member_stale"):
            text = (
                f"Training set {s['id']} (content as of {s['as_of'][:10]}) holds {items}. "
                "Built sets are never rewritten: it is now marked stale, so any model "
                "trained on it from now on leaves your items out, and the copy an "
                "administrator derives from it without ineligible records does not hold them."
            )
        else:
            text = (
                f"Training set {s['id']} (content as of {s['as_of'][:10]}) holds {items}; "
                "it has not been marked stale yet."
            )
        out.append(HeldIn("snapshot", s["id"], n, text))
    ids = {s["id"] for s in lineage.get("snapshots", []) if s["purpose"] == purpose}
    for e in lineage.get("exports", []):
        if e["snapshot_id"] not in ids or e["included_records"] <= 0:
            continue
        n = e["included_records"]
        rem = e.get("removal")
        when = (
            f"a request to delete them was queued on {rem['requested_at'][:10]}; "
            f"{e['provider']} is due to confirm by {rem['due_at'][:10]}"
            if rem
            else "no deletion request has been queued yet"
        )
        out.append(
            HeldIn(
                "export",
                e["export_id"],
                n,
                f"{e['provider']} received {n} of your item{'s' if n != 1 else ''} in "
                f"export {e['export_id']} of {e['snapshot_id']}: {when}.",
            )
        )
    for v in lineage.get("model_versions", []):
        if v["snapshot_id"] not in ids or not v["contains_member"] or v["status"] != "current":
            continue
        n = v["member_records"]
        what = (
            "it is marked to be retrained without your content"
            if v["model_status"] == "needs_retrain"
            else f"its status is {v['model_status']}"
        )
        out.append(
            HeldIn(
                "model",
                f"{v['model_id']} v{v['version']}",
                n,
                f"Model {v['model_id']} (version {v['version']}) was trained on {n} of "
                f"your item{'s' if n != 1 else ''}: {what}.",
            )
        )
    return out
