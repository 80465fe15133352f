"""Value types of optin's domain. Pure: no I/O, no clock; every time is a parameter.

All datetimes are timezone-aware (UTC). Identifiers are opaque strings chosen by the
platform (external ids), so re-importing the same records is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class ContentKind(StrEnum):
    POST = "post"
    ARTICLE = "article"
    COMMENT = "comment"
    MESSAGE = "message"
    PROFILE = "profile"


class Visibility(StrEnum):
    PUBLIC = "public"
    CONNECTIONS = "connections"
    PRIVATE = "private"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"
    ERASED = "erased"


class Regime(StrEnum):
    """How a jurisdiction treats AI-training use of members' content."""

    EXCLUDED = "excluded"  # never used, whatever the member says
    OPT_IN = "opt_in"  # used only after an explicit grant (optin's default)
    OPT_OUT = "opt_out"  # used unless the member objects; always labelled as such


class ConsentAction(StrEnum):
    GRANT = "grant"
    WITHDRAW = "withdraw"


class ConsentSource(StrEnum):
    WEB = "web"
    API = "api"
    CLI = "cli"
    IMPORT = "import"
    DEMO = "demo"
    GPC = "gpc"  # a Sec-GPC: 1 signal, recorded as an objection
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Purpose:
    """A use of members' content that needs its own consent."""

    id: str
    title: str
    description: str
    kinds: frozenset[ContentKind]
    visibilities: frozenset[Visibility]
    recipients: tuple[str, ...] = ()
    off_effect: str = ""

    def allows(self, kind: ContentKind | str, visibility: Visibility | str) -> bool:
        return ContentKind(kind) in self.kinds and Visibility(visibility) in self.visibilities


@dataclass(frozen=True, slots=True)
class JurisdictionRules:
    """Regime and minimum age per ISO 3166-1 alpha-2 country code, as data."""

    default_regime: Regime
    regimes: Mapping[str, Regime]
    minimum_age: int
    minimum_age_overrides: Mapping[str, int] = field(default_factory=dict)

    def regime(self, country: str) -> Regime:
        return self.regimes.get(country, self.default_regime)

    def min_age(self, country: str) -> int:
        return self.minimum_age_overrides.get(country, self.minimum_age)


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One published version of the data-use policy.

    ``material`` lists the purposes whose terms changed materially in this version:
    grants given under an earlier version for such a purpose stop counting from
    ``effective_at`` until the member consents again.
    """

    version: int
    effective_at: datetime
    purposes: Mapping[str, Purpose]
    jurisdictions: JurisdictionRules
    material: frozenset[str] = frozenset()
    summary: str = ""
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One entry of the consent ledger (the domain view; storage adds the hash chain)."""

    event_id: str
    member_id: str
    purpose: str
    action: ConsentAction
    at: datetime
    policy_version: int
    source: ConsentSource = ConsentSource.WEB
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    handle: str
    display_name: str
    birth_date: date | None
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class ContentItem:
    id: str
    author_id: str
    kind: ContentKind
    visibility: Visibility
    text: str
    language: str
    created_at: datetime
    edited_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MemberHistory:
    """Everything eligibility needs to know about one member, over all time.

    ``countries`` and ``statuses`` are (since, value) pairs; ``events`` are consent
    events of any purpose. Order does not matter: functions sort by (time, seq).
    """

    member_id: str
    birth_date: date | None
    countries: Sequence[tuple[datetime, str]] = ()
    statuses: Sequence[tuple[datetime, AccountStatus]] = ()
    events: Sequence[ConsentEvent] = ()
