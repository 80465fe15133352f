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
    "HistoryEvent",
    "PurposeCard",
    "as_history_event",
    "card_for",
    "never_text",
    "used_text",
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
