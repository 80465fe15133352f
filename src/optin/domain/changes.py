"""What a new policy version changes, and what publishing it therefore requires.

Pure: the previous and the new :class:`PolicyVersion` in, typed changes out. Services
call :func:`policy_changes` and :func:`publish_requirements` before publishing,
:func:`check_publish` to refuse a publish that does not meet them, and
:func:`schedule_in_force` for the version's ``in_force_at``; pages and the CLI show
:func:`describe_change` (one plain sentence per change, for the banner) and
:func:`policy_text_diff` (``policy show``).

Opt-out is never silent: a change that includes members by default who were not
included before (a jurisdiction becoming ``opt_out`` for a purpose, a new purpose in an
opt-out jurisdiction, a lower minimum age there, a wider use of content there) needs an
explicit acknowledgement and a notice period, during which the version is not in force.
A change that widens what a purpose uses or who receives it must be marked material, so
that earlier grants stop counting until members agree again.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from optin.domain.countries import country_name
from optin.domain.model import (
    DEFAULT_NOTICE_DAYS,
    JurisdictionRules,
    PolicyVersion,
    Purpose,
    Regime,
)
from optin.errors import ConfigError


class ChangeKind(StrEnum):
    PURPOSE_ADDED = "purpose_added"
    PURPOSE_REMOVED = "purpose_removed"
    REGIME_CHANGED = "regime_changed"  # one jurisdiction (country None: all unlisted)
    MINIMUM_AGE_CHANGED = "minimum_age_changed"
    RECIPIENTS_ADDED = "recipients_added"
    RECIPIENTS_REMOVED = "recipients_removed"
    KINDS_WIDENED = "kinds_widened"
    KINDS_NARROWED = "kinds_narrowed"
    VISIBILITY_WIDENED = "visibility_widened"
    VISIBILITY_NARROWED = "visibility_narrowed"
    TEXT_CHANGED = "text_changed"  # title, description or off_effect
    CAPACITY_RELAXED = "capacity_relaxed"  # a void-grant rule switched off
    CAPACITY_TIGHTENED = "capacity_tightened"


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """One change of one purpose between two policy versions.

    ``country`` is set for regime and minimum-age changes (None there: every country
    the policy does not list). ``before``/``after`` are the regime values or ages
    (``before`` None: the purpose did not exist). ``items`` are the recipients, content
    kinds, visibilities, text fields or capacity rules added, removed or changed.
    """

    purpose: str
    title: str
    kind: ChangeKind
    country: str | None = None
    before: str | None = None
    after: str | None = None
    items: tuple[str, ...] = ()

    @property
    def introduces_opt_out(self) -> bool:
        """Members in a jurisdiction become included by default for the purpose."""
        return (
            self.kind is ChangeKind.REGIME_CHANGED
            and self.after == Regime.OPT_OUT.value
            and self.before != Regime.OPT_OUT.value
        )

    @property
    def widens(self) -> bool:
        """The purpose uses more content, or shares it with more recipients."""
        return self.kind in _WIDENING

    def to_dict(self) -> dict[str, object]:
        return {
            "purpose": self.purpose,
            "title": self.title,
            "kind": str(self.kind),
            "country": self.country,
            "before": self.before,
            "after": self.after,
            "items": list(self.items),
        }


_WIDENING = frozenset(
    {
        ChangeKind.RECIPIENTS_ADDED,
        ChangeKind.KINDS_WIDENED,
        ChangeKind.VISIBILITY_WIDENED,
        ChangeKind.CAPACITY_RELAXED,
    }
)


@dataclass(frozen=True, slots=True)
class PublishRequirements:
    """What publishing a version with these changes requires.

    ``material``: purposes that must be marked material. ``opt_out_acknowledgement``:
    whether the publisher must acknowledge explicitly that members will be included by
    default (``opt_out_purposes`` says for which purposes). ``notice``: the minimum time
    between publishing and the version being in force (zero when none is needed).
    """

    material: frozenset[str] = frozenset()
    opt_out_acknowledgement: bool = False
    opt_out_purposes: frozenset[str] = frozenset()
    notice: timedelta = timedelta(0)

    def missing_material(self, declared: Iterable[str]) -> frozenset[str]:
        return self.material - frozenset(declared)


def _jurisdiction_keys(old: JurisdictionRules, new: JurisdictionRules) -> list[str | None]:
    return [None, *sorted(set(old.regimes) | set(new.regimes))]


def _regime(rules: JurisdictionRules, country: str | None) -> Regime:
    return rules.default_regime if country is None else rules.regime(country)


def _min_age(rules: JurisdictionRules, country: str | None) -> int:
    return rules.minimum_age if country is None else rules.min_age(country)


def _regime_changes(
    pid: str, title: str, old: JurisdictionRules | None, new: JurisdictionRules
) -> list[PolicyChange]:
    """Per jurisdiction; for a new purpose (``old`` None) the opt-out ones only."""
    out: list[PolicyChange] = []
    if old is None:
        keys: list[str | None] = [None, *sorted(new.regimes)]
        for c in keys:
            after = _regime(new, c)
            if after is Regime.OPT_OUT:
                out.append(
                    PolicyChange(pid, title, ChangeKind.REGIME_CHANGED, c, None, after.value)
                )
        return out
    for c in _jurisdiction_keys(old, new):
        before, after = _regime(old, c), _regime(new, c)
        if before is not after:
            out.append(
                PolicyChange(pid, title, ChangeKind.REGIME_CHANGED, c, before.value, after.value)
            )
    return out


def _age_changes(
    pid: str, title: str, old: JurisdictionRules, new: JurisdictionRules
) -> list[PolicyChange]:
    keys = [None, *sorted(set(old.minimum_age_overrides) | set(new.minimum_age_overrides))]
    out = []
    for c in keys:
        before, after = _min_age(old, c), _min_age(new, c)
        if before != after:
            out.append(
                PolicyChange(pid, title, ChangeKind.MINIMUM_AGE_CHANGED, c, str(before), str(after))
            )
    return out


def _set_changes(
    pid: str,
    title: str,
    old: Iterable[str],
    new: Iterable[str],
    added: ChangeKind,
    removed: ChangeKind,
) -> list[PolicyChange]:
    before, after = list(old), list(new)
    more = tuple(x for x in after if x not in before)
    fewer = tuple(x for x in before if x not in after)
    out = []
    if more:
        out.append(PolicyChange(pid, title, added, items=tuple(sorted(more))))
    if fewer:
        out.append(PolicyChange(pid, title, removed, items=tuple(sorted(fewer))))
    return out


def _text_changes(pid: str, old: Purpose, new: Purpose) -> list[PolicyChange]:
    fields = tuple(
        f for f in ("title", "description", "off_effect") if getattr(old, f) != getattr(new, f)
    )
    return [PolicyChange(pid, new.title, ChangeKind.TEXT_CHANGED, items=fields)] if fields else []


def _capacity_changes(
    pid: str, title: str, old: PolicyVersion, new: PolicyVersion
) -> list[PolicyChange]:
    relaxed: list[str] = []
    tightened: list[str] = []
    for rule in ("void_grants_given_as_minor", "void_grants_given_while_excluded"):
        was, now = getattr(old.capacity, rule), getattr(new.capacity, rule)
        if was and not now:
            relaxed.append(rule)
        elif now and not was:
            tightened.append(rule)
    out: list[PolicyChange] = []
    if relaxed:
        out.append(PolicyChange(pid, title, ChangeKind.CAPACITY_RELAXED, items=tuple(relaxed)))
    if tightened:
        out.append(PolicyChange(pid, title, ChangeKind.CAPACITY_TIGHTENED, items=tuple(tightened)))
    return out


def _purpose_changes(
    pid: str, old: PolicyVersion, new: PolicyVersion, p_old: Purpose, p_new: Purpose
) -> list[PolicyChange]:
    t = p_new.title
    return [
        *_regime_changes(pid, t, old.jurisdictions, new.jurisdictions),
        *_age_changes(pid, t, old.jurisdictions, new.jurisdictions),
        *_set_changes(
            pid,
            t,
            p_old.recipients,
            p_new.recipients,
            ChangeKind.RECIPIENTS_ADDED,
            ChangeKind.RECIPIENTS_REMOVED,
        ),
        *_set_changes(
            pid,
            t,
            (k.value for k in p_old.kinds),
            (k.value for k in p_new.kinds),
            ChangeKind.KINDS_WIDENED,
            ChangeKind.KINDS_NARROWED,
        ),
        *_set_changes(
            pid,
            t,
            (v.value for v in p_old.visibilities),
            (v.value for v in p_new.visibilities),
            ChangeKind.VISIBILITY_WIDENED,
            ChangeKind.VISIBILITY_NARROWED,
        ),
        *_capacity_changes(pid, t, old, new),
        *_text_changes(pid, p_old, p_new),
    ]


def policy_changes(old: PolicyVersion | None, new: PolicyVersion) -> list[PolicyChange]:
    """Every change from ``old`` to ``new``, purpose by purpose (new purposes in the new
    document's order, then removed ones). ``old`` None: the first version, whose
    purposes are all added (with their opt-out jurisdictions, if any)."""
    out: list[PolicyChange] = []
    old_purposes: Mapping[str, Purpose] = old.purposes if old is not None else {}
    for pid, p in new.purposes.items():
        prev = old_purposes.get(pid)
        if old is None or prev is None:
            out.append(PolicyChange(pid, p.title, ChangeKind.PURPOSE_ADDED))
            out.extend(_regime_changes(pid, p.title, None, new.jurisdictions))
            continue
        out.extend(_purpose_changes(pid, old, new, prev, p))
    for pid, p in old_purposes.items():
        if pid not in new.purposes:
            out.append(PolicyChange(pid, p.title, ChangeKind.PURPOSE_REMOVED))
    return out


def _opt_out_applies(new: PolicyVersion, change: PolicyChange) -> bool:
    """Whether some member is included by default for the change's purpose under ``new``
    in the jurisdiction the change concerns (any, for a policy-wide change)."""
    rules = new.jurisdictions
    if change.kind is ChangeKind.MINIMUM_AGE_CHANGED:
        if change.country is not None:
            return rules.regime(change.country) is Regime.OPT_OUT
        return rules.default_regime is Regime.OPT_OUT or any(
            r is Regime.OPT_OUT and c not in rules.minimum_age_overrides
            for c, r in rules.regimes.items()
        )
    return rules.default_regime is Regime.OPT_OUT or Regime.OPT_OUT in rules.regimes.values()


def _exposes_by_default(change: PolicyChange, new: PolicyVersion | None) -> bool:
    """The change includes by default members who were not included before."""
    if change.introduces_opt_out:
        return True
    if new is None:
        return False
    if change.kind is ChangeKind.MINIMUM_AGE_CHANGED:
        lowered = int(change.after or 0) < int(change.before or 0)
        return lowered and _opt_out_applies(new, change)
    return change.widens and _opt_out_applies(new, change)


def publish_requirements(
    changes: Sequence[PolicyChange],
    *,
    notice_days: int = DEFAULT_NOTICE_DAYS,
    new: PolicyVersion | None = None,
) -> PublishRequirements:
    """What publishing these changes requires.

    * material: every purpose that becomes opt-out somewhere, uses more content, gets
      a new recipient, or has a void-grant rule switched off;
    * an explicit opt-out acknowledgement, and a notice of ``notice_days`` (pass
      ``new.notice_days``), when a change includes members by default who were not
      before: a jurisdiction becoming opt-out (or a new purpose in one) and, when
      ``new`` is given, a wider use, a new recipient or a lower minimum age where an
      opt-out regime applies.
    """
    material = {c.purpose for c in changes if c.introduces_opt_out or c.widens}
    exposed = {c.purpose for c in changes if _exposes_by_default(c, new)}
    added = {c.purpose for c in changes if c.kind is ChangeKind.PURPOSE_ADDED}
    return PublishRequirements(
        material=frozenset(material - added),
        opt_out_acknowledgement=bool(exposed),
        opt_out_purposes=frozenset(exposed),
        notice=timedelta(days=notice_days) if exposed else timedelta(0),
    )


OPT_OUT_FLAG_HINT = (
    "acknowledge the opt-out explicitly (optin policy publish --i-understand-opt-out)"
)


def check_publish(
    requirements: PublishRequirements,
    *,
    material: Iterable[str],
    acknowledged: bool,
    source: str = "policy.toml",
) -> None:
    """Refuse (:class:`ConfigError`) a publish that does not meet ``requirements``:
    purposes left unmarked material, or an opt-out without the acknowledgement."""
    missing = requirements.missing_material(material)
    if missing:
        raise ConfigError(
            f"{source}: purpose(s) {', '.join(sorted(missing))} change in a way members must "
            "agree to again (opt-out, wider use or a new recipient); mark them material "
            "(material = true in the purpose's table, or --material)"
        )
    if requirements.opt_out_acknowledgement and not acknowledged:
        days = requirements.notice.days
        raise ConfigError(
            f"{source}: this version includes members by default who have not chosen "
            f"(opt-out) for {', '.join(sorted(requirements.opt_out_purposes))}; "
            f"{OPT_OUT_FLAG_HINT}; it will apply after a notice of {days} day(s)"
        )


def schedule_in_force(
    effective_at: datetime,
    requirements: PublishRequirements,
    *,
    pending: Iterable[PolicyVersion] = (),
) -> datetime | None:
    """The ``in_force_at`` of a version published at ``effective_at``: after the notice
    period, and never before a version published earlier comes into force (so a later
    publish cannot cut an earlier notice short). None: in force when published."""
    when = effective_at + requirements.notice
    for v in pending:
        when = max(when, v.in_force_from)
    return when if when > effective_at else None


def _country_phrase(country: str | None) -> str:
    return (
        "in every country not listed separately"
        if country is None
        else (f"in {country_name(country)}")
    )


_REGIME_SENTENCE = {
    Regime.OPT_OUT: "members {where} who have not chosen are included by default for "
    "'{title}' (they can switch it off)",
    Regime.OPT_IN: "members {where} are included for '{title}' only if they switch it on",
    Regime.EXCLUDED: "content of members {where} is never used for '{title}', whatever they chose",
}


def _items(items: Sequence[str]) -> str:
    return ", ".join(items)


def _sentence(change: PolicyChange) -> str:
    k, t = change.kind, change.title
    if k is ChangeKind.REGIME_CHANGED:
        return _REGIME_SENTENCE[Regime(change.after or Regime.OPT_IN)].format(
            where=_country_phrase(change.country), title=t
        )
    if k is ChangeKind.MINIMUM_AGE_CHANGED:
        return (
            f"the minimum age for '{t}' {_country_phrase(change.country)} is "
            f"{change.after} (was {change.before})"
        )
    simple = {
        ChangeKind.PURPOSE_ADDED: f"a new purpose is offered: '{t}'",
        ChangeKind.PURPOSE_REMOVED: f"'{t}' is no longer offered; no content is used for it",
        ChangeKind.RECIPIENTS_ADDED: f"'{t}' also shares content with {_items(change.items)}",
        ChangeKind.RECIPIENTS_REMOVED: (
            f"'{t}' no longer shares content with {_items(change.items)}"
        ),
        ChangeKind.KINDS_WIDENED: f"'{t}' also uses these kinds of content: {_items(change.items)}",
        ChangeKind.KINDS_NARROWED: f"'{t}' no longer uses: {_items(change.items)}",
        ChangeKind.VISIBILITY_WIDENED: (
            f"'{t}' also uses content shared as: {_items(change.items)}"
        ),
        ChangeKind.VISIBILITY_NARROWED: (
            f"'{t}' no longer uses content shared as: {_items(change.items)}"
        ),
        ChangeKind.TEXT_CHANGED: f"the wording of '{t}' changes ({_items(change.items)})",
        ChangeKind.CAPACITY_RELAXED: (
            f"for '{t}', a choice made as a minor or while living in an excluded country "
            "may count again"
        ),
        ChangeKind.CAPACITY_TIGHTENED: (
            f"for '{t}', a choice made as a minor or while living in an excluded country "
            "no longer counts"
        ),
    }
    return simple[k]


def changes_for_country(
    changes: Iterable[PolicyChange], country: str | None, new: PolicyVersion
) -> list[PolicyChange]:
    """The changes that concern a member living in ``country`` (for the banner): the
    regime and minimum-age changes of that country (or of the default, when neither
    ``new`` lists the country nor a change names it), and every change that is not
    about a jurisdiction."""
    rules = new.jurisdictions
    changes = list(changes)
    listed = {
        ChangeKind.REGIME_CHANGED: set(rules.regimes),
        ChangeKind.MINIMUM_AGE_CHANGED: set(rules.minimum_age_overrides),
    }
    for c in changes:
        if c.kind in listed and c.country is not None:
            listed[c.kind].add(c.country)
    return [c for c in changes if _concerns(c, country, listed)]


def _concerns(c: PolicyChange, country: str | None, listed: Mapping[ChangeKind, set[str]]) -> bool:
    if c.kind not in listed or c.country == country:
        return True
    return c.country is None and country not in listed[c.kind]


def describe_change(change: PolicyChange, *, in_force_at: datetime) -> str:
    """One plain-language sentence for the banner, e.g. "From 2027-01-05, members in
    Brazil who have not chosen are included by default for 'Share ...' (they can switch
    it off)."."""
    return f"From {in_force_at.date().isoformat()}, {_sentence(change)}."


def describe_changes(changes: Iterable[PolicyChange], *, in_force_at: datetime) -> list[str]:
    return [describe_change(c, in_force_at=in_force_at) for c in changes]


def policy_text_diff(
    old_text: str, new_text: str, *, old_label: str = "previous", new_label: str = "new"
) -> str:
    """A unified diff of two policy documents (empty when they are equal)."""
    return "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=old_label,
            tofile=new_label,
        )
    )


def regime_table(policy: PolicyVersion) -> dict[Regime, tuple[str, ...]]:
    """Every regime with the countries listed under it (sorted), for ``policy show``;
    the default regime also applies to every country not listed."""
    out: dict[Regime, list[str]] = {r: [] for r in Regime}
    for c, r in policy.jurisdictions.regimes.items():
        out[r].append(c)
    return {r: tuple(sorted(cs)) for r, cs in out.items()}
