"""Policy documents (TOML) -> :class:`PolicyVersion`. Pure parsing; no files opened here
except the default policy shipped inside the package."""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import datetime
from importlib import resources
from typing import Any

from optin.domain.countries import ISO_3166_ALPHA2
from optin.domain.dsr import parse_dsr_rules
from optin.domain.model import (
    AUDIT_LIMIT_FIELDS,
    DEFAULT_NOTICE_DAYS,
    AuditThresholds,
    CapacityRules,
    ContentKind,
    JurisdictionRules,
    PolicyVersion,
    Purpose,
    Regime,
    Visibility,
)
from optin.errors import ConfigError, InputError

DEFAULT_PURPOSES = ("train_own_models", "share_with_providers")

#: What a purpose id may look like: it names files, URLs and ledger entries.
PURPOSE_ID_PATTERN = "[a-z][a-z0-9_]{0,63}"
PURPOSE_ID_RULE = (
    "a lowercase ASCII letter, then up to 63 lowercase ASCII letters, digits or "
    f"underscores (pattern {PURPOSE_ID_PATTERN})"
)
_PURPOSE_ID = re.compile(PURPOSE_ID_PATTERN)
NOTICE_DAYS_RANGE = (1, 365)


def is_valid_purpose_id(pid: object) -> bool:
    """True when ``pid`` matches :data:`PURPOSE_ID_PATTERN` exactly."""
    return isinstance(pid, str) and _PURPOSE_ID.fullmatch(pid) is not None


def check_purpose_id(pid: object, *, source: str | None = None, field: str = "purposes") -> str:
    """``pid`` if it is a valid purpose id, else an :class:`InputError` that names it."""
    if not is_valid_purpose_id(pid):
        raise InputError(
            "invalid purpose id", file=source, field=field, value=pid, allowed=PURPOSE_ID_RULE
        )
    return str(pid)


def default_policy_text() -> str:
    return resources.files("optin.domain").joinpath("default_policy.toml").read_text("utf-8")


def _enum_list(raw: Any, enum: Any, where: str, source: str) -> frozenset[Any]:
    allowed = ", ".join(e.value for e in enum)
    if not isinstance(raw, list) or not raw:
        raise InputError(
            "must be a non-empty list", file=source, field=where, value=raw, allowed=allowed
        )
    out = set()
    for item in raw:
        try:
            out.add(enum(item))
        except ValueError:
            raise InputError(
                "unknown value", file=source, field=where, value=item, allowed=allowed
            ) from None
    return frozenset(out)


def _countries(raw: Any, where: str, source: str) -> list[str]:
    if not isinstance(raw, list):
        raise InputError(
            "must be a list of ISO 3166-1 alpha-2 codes", file=source, field=where, value=raw
        )
    for c in raw:
        if not isinstance(c, str) or c not in ISO_3166_ALPHA2:
            raise InputError(
                "not an ISO 3166-1 alpha-2 country code",
                file=source,
                field=where,
                value=c,
                allowed="two upper-case letters, e.g. US",
            )
    return list(raw)


def _load(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"invalid TOML: {e}", file=source) from None


def _require_text(p: dict[str, Any], where: str, source: str) -> None:
    for key in ("title", "description"):
        if not isinstance(p.get(key), str) or not p[key].strip():
            raise InputError("missing or empty text", file=source, field=f"{where}.{key}")


def _kinds(raw: Any, where: str, source: str) -> frozenset[ContentKind]:
    kinds = _enum_list(raw, ContentKind, f"{where}.kinds", source)
    if ContentKind.MESSAGE in kinds:
        raise InputError(
            "private messages can never be used for AI training",
            file=source,
            field=f"{where}.kinds",
            value="message",
            allowed="post, article, comment, profile",
        )
    return kinds


def _recipients(raw: Any, where: str, source: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise InputError("must be a list of names", file=source, field=f"{where}.recipients")
    return tuple(raw)


def _purpose(pid: str, p: Any, source: str) -> Purpose:
    where = f"purposes.{pid}"
    if not isinstance(p, dict):
        raise InputError("must be a table", file=source, field=where)
    _require_text(p, where, source)
    return Purpose(
        id=pid,
        title=p["title"].strip(),
        description=" ".join(p["description"].split()),
        kinds=_kinds(p.get("kinds"), where, source),
        visibilities=_enum_list(p.get("visibility"), Visibility, f"{where}.visibility", source),
        recipients=_recipients(p.get("recipients", []), where, source),
        off_effect=" ".join(str(p.get("off_effect", "")).split()),
    )


def _purposes(doc: dict[str, Any], source: str) -> tuple[dict[str, Purpose], set[str]]:
    """The ``[purposes.<id>]`` tables, and the ids whose ``material`` key is true."""
    purposes_raw = doc.get("purposes")
    if not isinstance(purposes_raw, dict) or not purposes_raw:
        raise InputError(
            "a policy needs at least one [purposes.<id>] table", file=source, field="purposes"
        )
    purposes: dict[str, Purpose] = {}
    mat: set[str] = set()
    for pid, p in purposes_raw.items():
        check_purpose_id(pid, source=source)
        purposes[pid] = _purpose(pid, p, source)
        if p.get("material", False) is True:
            mat.add(pid)
    return purposes, mat


def _default_regime(jur: dict[str, Any], source: str) -> Regime:
    try:
        return Regime(jur.get("default", "opt_in"))
    except ValueError:
        raise InputError(
            "unknown regime",
            file=source,
            field="jurisdictions.default",
            value=jur.get("default"),
            allowed=", ".join(r.value for r in Regime),
        ) from None


def _regimes(jur: dict[str, Any], source: str) -> dict[str, Regime]:
    regimes: dict[str, Regime] = {}
    for regime in Regime:
        for c in _countries(jur.get(regime.value, []), f"jurisdictions.{regime.value}", source):
            if c in regimes and regimes[c] is not regime:
                raise InputError(
                    "country listed under two regimes", file=source, field="jurisdictions", value=c
                )
            regimes[c] = regime
    return regimes


def _age(raw: Any, where: str, source: str) -> int:
    if not isinstance(raw, int) or not 13 <= raw <= 25:
        raise InputError(
            "must be an integer age", file=source, field=where, value=raw, allowed="13..25"
        )
    return raw


def _age_overrides(jur: dict[str, Any], source: str) -> dict[str, int]:
    overrides: dict[str, int] = {}
    for c, a in (jur.get("minimum_age", {}) or {}).items():
        _countries([c], "jurisdictions.minimum_age", source)
        overrides[c] = _age(a, f"jurisdictions.minimum_age.{c}", source)
    return overrides


def _jurisdictions(doc: dict[str, Any], source: str) -> JurisdictionRules:
    jur = doc.get("jurisdictions", {})
    if not isinstance(jur, dict):
        raise InputError("must be a table", file=source, field="jurisdictions")
    default = _default_regime(jur, source)
    regimes = _regimes(jur, source)
    min_age = _age(doc.get("minimum_age", 18), "minimum_age", source)
    return JurisdictionRules(default, regimes, min_age, _age_overrides(jur, source))


def _capacity(doc: dict[str, Any], source: str) -> CapacityRules:
    raw = doc.get("capacity", {})
    if not isinstance(raw, dict):
        raise InputError("must be a table", file=source, field="capacity")
    known = CapacityRules.__dataclass_fields__
    values: dict[str, bool] = {}
    for key, value in raw.items():
        if key not in known:
            raise InputError(
                "unknown capacity rule",
                file=source,
                field=f"capacity.{key}",
                allowed=", ".join(known),
            )
        if not isinstance(value, bool):
            raise InputError(
                "must be true or false", file=source, field=f"capacity.{key}", value=value
            )
        values[key] = value
    return CapacityRules(**values)


_EXPOSURE_RANGE = (0.0, 1024.0)
_AUDIT_MAPS = ("max_exposure_bits", "max_mean_exposure_bits")


def _number(raw: Any, where: str, source: str, lo: float, hi: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not lo <= raw <= hi:
        raise InputError(
            "must be a number", file=source, field=where, value=raw, allowed=f"{lo:g}..{hi:g}"
        )
    return float(raw)


def _per_repetition(raw: Any, where: str, source: str) -> dict[int, float]:
    """``{ "1" = 8.0, "16" = 12.0 }``: repetition count (a positive integer) -> bits."""
    if not isinstance(raw, dict):
        raise InputError(
            "must be a table of repetition count = bits",
            file=source,
            field=where,
            value=raw,
            allowed='e.g. { "1" = 8.0, "16" = 12.0 }',
        )
    out: dict[int, float] = {}
    for key, value in raw.items():
        if not str(key).isdigit() or int(key) < 1:
            raise InputError(
                "not a repetition count",
                file=source,
                field=f"{where}.{key}",
                value=key,
                allowed="a positive whole number, e.g. 1, 4 or 16",
            )
        out[int(key)] = _number(value, f"{where}.{key}", source, *_EXPOSURE_RANGE)
    return out


def _audit(doc: dict[str, Any], source: str) -> AuditThresholds:
    raw = doc.get("audit", {})
    if not isinstance(raw, dict):
        raise InputError("must be a table", file=source, field="audit")
    known = (*_AUDIT_MAPS, *AUDIT_LIMIT_FIELDS)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"audit.{key}"
        if key in _AUDIT_MAPS:
            values[key] = _per_repetition(value, where, source)
        elif key in AUDIT_LIMIT_FIELDS:
            values[key] = _number(value, where, source, 0.0, 1.0)
        else:
            raise InputError(
                "unknown audit threshold", file=source, field=where, allowed=", ".join(known)
            )
    return AuditThresholds(**values)


def _notice_days(doc: dict[str, Any], source: str) -> int:
    raw = doc.get("notice_days", DEFAULT_NOTICE_DAYS)
    lo, hi = NOTICE_DAYS_RANGE
    if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
        raise InputError(
            "must be a whole number of days",
            file=source,
            field="notice_days",
            value=raw,
            allowed=f"{lo}..{hi}",
        )
    return raw


def _material(
    material: frozenset[str] | None, declared: set[str], purposes: dict[str, Purpose]
) -> frozenset[str]:
    if material is None:
        return frozenset(declared)
    unknown = material - purposes.keys()
    if unknown:
        raise ConfigError(
            f"material purpose(s) {sorted(unknown)} not in the policy; "
            f"purposes are: {', '.join(sorted(purposes))}"
        )
    return frozenset(material)


def parse_policy(
    text: str,
    *,
    version: int,
    effective_at: datetime,
    material: frozenset[str] | None = None,
    source: str = "policy.toml",
    in_force_at: datetime | None = None,
) -> PolicyVersion:
    """Parse a policy document. ``material`` overrides the per-purpose ``material`` keys.

    ``in_force_at`` (None: from ``effective_at``) is when the version starts to apply;
    see :func:`optin.domain.changes.schedule_in_force` for the notice period.
    """
    if in_force_at is not None and in_force_at < effective_at:
        raise ConfigError(
            f"in_force_at {in_force_at.isoformat()} is before effective_at "
            f"{effective_at.isoformat()}; a version cannot apply before it is published"
        )
    doc = _load(text, source)
    purposes, declared = _purposes(doc, source)
    jurisdictions = _jurisdictions(doc, source)
    return PolicyVersion(
        version=version,
        effective_at=effective_at,
        purposes=purposes,
        jurisdictions=jurisdictions,
        material=_material(material, declared, purposes),
        summary=str(doc.get("summary", "")),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        capacity=_capacity(doc, source),
        notice_days=_notice_days(doc, source),
        dsr=parse_dsr_rules(doc.get("dsr"), source=source, countries_ok=frozenset(ISO_3166_ALPHA2)),
        in_force_at=in_force_at,
        audit=_audit(doc, source),
    )
