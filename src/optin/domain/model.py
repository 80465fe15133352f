"""Value types of optin's domain. Pure: no I/O, no clock; every time is a parameter.

All datetimes are timezone-aware (UTC). Identifiers are opaque strings chosen by the
platform (external ids), so re-importing the same records is idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TypeAlias

from optin.domain.dsr import DsrRules


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


#: The ledger action of an erasure (``optin dsr erase``): not a consent choice. Its
#: ledger row has purpose :data:`ERASURE_PURPOSE` (no real purpose id can be ``*``), no
#: personal fields, and is chained and logged like every event; readers of consent
#: choices (histories, receipts, exports) skip it.
ERASURE_ACTION = "erase"
#: The purpose column of an erasure's ledger row: every purpose.
ERASURE_PURPOSE = "*"


class ConsentSource(StrEnum):
    """Where a consent event came from. A historical import declares its system:
    ``import:<system>`` (e.g. ``import:legacy-system``), whose kind is :attr:`IMPORT`
    (``ConsentSource("import:legacy-system") is ConsentSource.IMPORT``); the ledger keeps
    the full text."""

    WEB = "web"
    API = "api"
    CLI = "cli"
    IMPORT = "import"
    DEMO = "demo"
    GPC = "gpc"  # a Sec-GPC: 1 signal, recorded as an objection
    SYSTEM = "system"
    OBJECTION = "objection"  # a data-subject objection (Art. 21 style): every purpose off

    @classmethod
    def _missing_(cls, value: object) -> ConsentSource | None:
        if isinstance(value, str) and is_import_source(value):
            return cls.IMPORT
        return None


#: The prefix of a declared historical import source, ``import:<system>``.
IMPORT_SOURCE_PREFIX = "import:"
_SYSTEM = re.compile(r"[a-z0-9][a-z0-9._-]{0,56}")
#: What ``<system>`` may be, for messages.
IMPORT_SYSTEM_HINT = "import:<system>, <system> 1-57 of a-z 0-9 . _ - (e.g. import:legacy-system)"
#: Sources of live choices (a member or operator acting now): never backdated.
LIVE_SOURCES = frozenset(
    {
        ConsentSource.WEB,
        ConsentSource.API,
        ConsentSource.CLI,
        ConsentSource.GPC,
        ConsentSource.OBJECTION,
    }
)


def is_import_source(value: str) -> bool:
    """Whether ``value`` is a declared import source ``import:<system>``."""
    return value.startswith(IMPORT_SOURCE_PREFIX) and bool(
        _SYSTEM.fullmatch(value[len(IMPORT_SOURCE_PREFIX) :])
    )


def canonical_source(value: ConsentSource | str) -> str:
    """The text the ledger stores for a source: a :class:`ConsentSource` value or a
    declared ``import:<system>``; ValueError otherwise."""
    if isinstance(value, ConsentSource):
        return value.value
    if is_import_source(value):
        return value
    return ConsentSource(value).value


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
class CapacityRules:
    """When a grant counts: the member must have had capacity when giving it.

    ``void_grants_given_as_minor``: a grant given while under the minimum age (of the
    member's country then, under the policy in force then) never counts, not even after
    the member comes of age; they must switch on again. ``void_grants_given_while_excluded``:
    a grant given while the member lived in an excluded jurisdiction never counts, not
    even after a move; they must be asked again. Both are on by default.
    """

    void_grants_given_as_minor: bool = True
    void_grants_given_while_excluded: bool = True


DEFAULT_NOTICE_DAYS = 30


@dataclass(frozen=True, slots=True)
class AuditThresholds:
    """The limits a trained model's audit must stay within, or the model is blocked.

    ``None`` (or an empty mapping) means the check is not made. A policy without an
    ``[audit]`` table checks nothing, as before audits existed; the shipped policy sets
    the values. Exposures are in bits (Secret-Sharer exposure: log2 of the candidate
    space minus log2 of the canary's rank), per repetition count of the canary;
    rates are shares in [0, 1]; AUCs are in [0, 1] (0.5 is chance).

    * ``max_exposure_bits``: repetition count -> the largest exposure any canary
      inserted that many times may have;
    * ``max_mean_exposure_bits``: repetition count -> the largest mean exposure;
    * ``max_verbatim_rate`` / ``max_near_verbatim_rate``: training-set records whose
      greedy continuation of a prefix is verbatim / near-verbatim;
    * ``max_withdrawn_verbatim_rate`` / ``max_withdrawn_near_verbatim_rate``: the same
      for records of members who withdrew (a model retrained without them);
    * ``max_withdrawn_membership_auc``: membership-inference AUC of withdrawn members'
      records against records never trained on.
    """

    max_exposure_bits: Mapping[int, float] = field(default_factory=dict)
    max_mean_exposure_bits: Mapping[int, float] = field(default_factory=dict)
    max_verbatim_rate: float | None = None
    max_near_verbatim_rate: float | None = None
    max_withdrawn_verbatim_rate: float | None = None
    max_withdrawn_near_verbatim_rate: float | None = None
    max_withdrawn_membership_auc: float | None = None

    def is_empty(self) -> bool:
        """True when no check is configured."""
        return (
            not self.max_exposure_bits
            and not self.max_mean_exposure_bits
            and all(getattr(self, f) is None for f in AUDIT_LIMIT_FIELDS)
        )


#: The scalar limits of :class:`AuditThresholds` (each a share or an AUC in [0, 1]).
AUDIT_LIMIT_FIELDS = (
    "max_verbatim_rate",
    "max_near_verbatim_rate",
    "max_withdrawn_verbatim_rate",
    "max_withdrawn_near_verbatim_rate",
    "max_withdrawn_membership_auc",
)


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One published version of the data-use policy.

    ``material`` lists the purposes whose terms changed materially in this version:
    grants given under an earlier version for such a purpose stop counting from the
    time the version is in force until the member consents again.

    ``effective_at`` is when the version was published. ``in_force_at`` (None: the same
    as ``effective_at``) is when it starts to apply: later when the version introduces an
    opt-out, so that nobody is included by default during the notice period
    (``notice_days``, see :func:`optin.domain.changes.publish_requirements`).

    ``dsr``: the deadline rules for data-subject requests (the ``[dsr]`` table; see
    :mod:`optin.domain.dsr`).
    """

    version: int
    effective_at: datetime
    purposes: Mapping[str, Purpose]
    jurisdictions: JurisdictionRules
    material: frozenset[str] = frozenset()
    summary: str = ""
    sha256: str = ""
    capacity: CapacityRules = CapacityRules()
    notice_days: int = DEFAULT_NOTICE_DAYS
    in_force_at: datetime | None = None
    dsr: DsrRules = field(default_factory=DsrRules)
    audit: AuditThresholds = field(default_factory=AuditThresholds)

    @property
    def in_force_from(self) -> datetime:
        """When this version starts to apply (``in_force_at``, else ``effective_at``)."""
        return self.in_force_at if self.in_force_at is not None else self.effective_at


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One entry of the consent ledger (the domain view; storage adds the hash chain).

    ``at`` is the time the event claims (effective time); ``recorded_at`` the time the
    ledger recorded it (None: recorded when it claims, as for rows from before the
    ledger kept both). A decision as of T uses only events with both times at or before
    T, so nothing recorded later can change a decision that could have been made at T.
    """

    event_id: str
    member_id: str
    purpose: str
    action: ConsentAction
    at: datetime
    policy_version: int
    source: ConsentSource = ConsentSource.WEB
    seq: int = 0
    recorded_at: datetime | None = None

    @property
    def known_from(self) -> datetime:
        """From when the ledger knew of this event as effective: max(at, recorded_at)."""
        rec = self.recorded_at
        return self.at if rec is None or rec <= self.at else rec


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


#: A dated member-state change: ``(since, value)``, or ``(since, value, recorded_at)``
#: when the ledger knows when it recorded the change (None: recorded when it claims).
CountryChange: TypeAlias = tuple[datetime, str] | tuple[datetime, str, datetime | None]
StatusChange: TypeAlias = (
    tuple[datetime, AccountStatus] | tuple[datetime, AccountStatus, datetime | None]
)


@dataclass(frozen=True, slots=True)
class BirthDateCorrection:
    """A recorded correction of a member's birth date, from ``previous`` to
    ``birth_date``: claimed from ``effective_at``, recorded at ``recorded_at``. As of T
    it is known when both times are at or before T."""

    effective_at: datetime
    recorded_at: datetime
    birth_date: date | None
    previous: date | None


@dataclass(frozen=True, slots=True)
class MemberHistory:
    """Everything eligibility needs to know about one member, over all time.

    ``countries`` and ``statuses`` are (since, value) pairs, or (since, value,
    recorded_at) triples: a change recorded after T is unknown as of T, like a consent
    event. ``events`` are consent events of any purpose. Order does not matter:
    functions sort by (time, seq). ``birth_date`` is the value known now, after every
    correction; ``birth_corrections`` (in the order they were written) are the recorded
    corrections: as of T the birth date is the one known at T
    (:func:`optin.domain.eligibility.birth_date_at`), so a correction recorded after T
    changes no decision as of T.
    """

    member_id: str
    birth_date: date | None
    countries: Sequence[CountryChange] = ()
    statuses: Sequence[StatusChange] = ()
    events: Sequence[ConsentEvent] = ()
    birth_corrections: Sequence[BirthDateCorrection] = ()
