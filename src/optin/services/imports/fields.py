"""Field parsers and per-kind checks: raw values in, typed values or located errors out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from optin.domain.countries import ISO_3166_ALPHA2
from optin.domain.eligibility import PolicySet
from optin.domain.model import (
    IMPORT_SYSTEM_HINT,
    AccountStatus,
    ConsentAction,
    ConsentSource,
    ContentKind,
    Visibility,
    canonical_source,
)
from optin.services.imports.records import FUTURE_SKEW, Errors, ImportKind

# ------------------------------------------------------------------------ field parsing


class _Bad(Exception):
    def __init__(self, message: str, allowed: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.allowed = allowed


Parser = Callable[[Any], Any]
_TIME_ALLOWED = "ISO 8601 time with a UTC offset, e.g. 2025-03-01T12:00:00Z"


def _text(max_len: int, pattern: re.Pattern[str] | None = None, hint: str = "") -> Parser:
    def parse(v: Any) -> str:
        if not isinstance(v, str):
            raise _Bad("must be a string", f"text of at most {max_len} characters")
        if not v.strip():
            raise _Bad("must not be empty", hint or f"text of at most {max_len} characters")
        if len(v) > max_len:
            raise _Bad(f"too long ({len(v)} characters)", f"at most {max_len} characters")
        if pattern is not None and not pattern.fullmatch(v):
            raise _Bad("invalid format", hint)
        return v

    return parse


def _enum(enum: type[StrEnum]) -> Parser:
    allowed = ", ".join(e.value for e in enum)

    def parse(v: Any) -> str:
        if not isinstance(v, str):
            raise _Bad("must be a string", allowed)
        try:
            return enum(v).value
        except ValueError:
            raise _Bad("unknown value", allowed) from None

    return parse


def _source(v: Any) -> str:
    allowed = ", ".join(e.value for e in ConsentSource) + f", {IMPORT_SYSTEM_HINT}"
    if not isinstance(v, str):
        raise _Bad("must be a string", allowed)
    try:
        return canonical_source(v)
    except ValueError:
        raise _Bad("unknown source", allowed) from None


def _country(v: Any) -> str:
    if not isinstance(v, str) or v not in ISO_3166_ALPHA2:
        raise _Bad(
            "not an ISO 3166-1 alpha-2 country code", "two upper-case letters, e.g. US, DE, IN"
        )
    return v


_INT_MAX = 2**31 - 1  # fits an INTEGER column on every backend


def _int(v: Any) -> int:
    if isinstance(v, bool):
        raise _Bad("must be an integer", "a whole number, e.g. 2")
    if isinstance(v, int):
        if not 0 <= v <= _INT_MAX:
            raise _Bad("integer out of range", f"a whole number from 0 to {_INT_MAX}")
        return v
    if isinstance(v, str) and re.fullmatch(r"\d{1,9}", v.strip()):
        return int(v)
    raise _Bad("must be an integer", "a whole number, e.g. 2")


def _date(v: Any) -> date:
    if not isinstance(v, str):
        raise _Bad("must be a date string", "YYYY-MM-DD")
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise _Bad("not a valid date", "YYYY-MM-DD, e.g. 1990-05-17") from None


def _time(v: Any) -> datetime:
    if not isinstance(v, str):
        raise _Bad("must be a time string", _TIME_ALLOWED)
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        raise _Bad("not a valid ISO 8601 time", _TIME_ALLOWED) from None
    if t.tzinfo is None:
        raise _Bad("time has no UTC offset (naive times are rejected, not guessed)", _TIME_ALLOWED)
    try:
        return t.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise _Bad("time out of range", "a time between years 1 and 9999 in UTC") from None


def _history(item: Parser, key: str) -> Parser:
    """A list of ``{"since": time, key: value}``; in CSV ``since=value;since=value``."""
    allowed = f'[{{"since": TIME, "{key}": VALUE}}, ...] (CSV: TIME={key.upper()};...)'

    def parse(v: Any) -> list[tuple[datetime, str]]:
        if isinstance(v, str):
            pairs: list[Any] = []
            for part in v.split(";"):
                since, sep, val = part.strip().rpartition("=")
                if not sep:
                    raise _Bad("invalid history entry", allowed)
                pairs.append({"since": since, key: val})
            v = pairs
        if not isinstance(v, list) or not v:
            raise _Bad("must be a non-empty list", allowed)
        out: list[tuple[datetime, str]] = []
        for entry in v:
            if not isinstance(entry, dict) or set(entry) != {"since", key}:
                raise _Bad("invalid history entry", allowed)
            out.append((_time(entry["since"]), item(entry[key])))
        return sorted(out)

    return parse


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,63}")
_ID_HINT = "1-64 characters: letters, digits, _ . : @ - (starting with a letter or digit)"
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,35}")
_EVENT_HINT = "1-36 characters: letters, digits, _ . : - (a UUID fits)"
_HANDLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
_HANDLE_HINT = "1-64 characters: letters, digits, _ . - (no @)"
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    parse: Parser
    required: bool = True
    future_check: bool = False  # a time (or history of times) that must not be future


MEMBER_FIELDS: tuple[Field, ...] = (
    Field("id", _text(64, _ID, _ID_HINT)),
    Field("handle", _text(64, _HANDLE, _HANDLE_HINT)),
    Field("display_name", _text(200)),
    Field("email", _text(254, _EMAIL, "an e-mail address"), required=False),
    Field("birth_date", _date, required=False),
    Field("joined_at", _time, future_check=True),
    Field("country", _country, required=False),
    Field("countries", _history(_country, "country"), required=False, future_check=True),
    Field("statuses", _history(_enum(AccountStatus), "status"), required=False, future_check=True),
)
CONTENT_FIELDS: tuple[Field, ...] = (
    Field("id", _text(64, _ID, _ID_HINT)),
    Field("author_id", _text(64, _ID, _ID_HINT)),
    Field("kind", _enum(ContentKind)),
    Field("visibility", _enum(Visibility)),
    Field("text", _text(1_000_000)),
    Field("language", _text(16, _LANG, "a BCP 47 language tag such as en, pt-BR")),
    Field("created_at", _time, future_check=True),
    Field("edited_at", _time, required=False, future_check=True),
    Field("deleted_at", _time, required=False, future_check=True),
)
CONSENT_FIELDS: tuple[Field, ...] = (
    Field("event_id", _text(36, _EVENT_ID, _EVENT_HINT)),
    Field("member_id", _text(64, _ID, _ID_HINT)),
    Field("purpose", _text(64)),
    Field("action", _enum(ConsentAction)),
    Field("at", _time, future_check=True),
    Field("policy_version", _int, required=False),
    Field("source", _source, required=False),
    Field("recorded_at", _time, required=False, future_check=True),
)
FIELDS: dict[ImportKind, tuple[Field, ...]] = {
    ImportKind.MEMBERS: MEMBER_FIELDS,
    ImportKind.CONTENT: CONTENT_FIELDS,
    ImportKind.CONSENTS: CONSENT_FIELDS,
}
ID_FIELD = {ImportKind.MEMBERS: "id", ImportKind.CONTENT: "id", ImportKind.CONSENTS: "event_id"}


def _shown(v: Any) -> object:
    return v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v)[:60]


def parse_record(
    no: int, raw: dict[str, Any], fields: Sequence[Field], now: datetime, errs: Errors
) -> dict[str, Any] | None:
    known = {f.name for f in fields}
    ok = True
    for key in raw:
        if key not in known:
            errs.add(
                "unknown field", line=no, fld=str(key), allowed=", ".join(f.name for f in fields)
            )
            ok = False
    rec: dict[str, Any] = {}
    for f in fields:
        v = raw.get(f.name)
        if v is None:
            if f.required:
                errs.add("missing required field", line=no, fld=f.name)
                ok = False
            continue
        try:
            parsed = f.parse(v)
        except _Bad as e:
            errs.add(e.message, line=no, fld=f.name, value=_shown(v), allowed=e.allowed)
            ok = False
            continue
        if f.future_check:
            times = [t for t, _ in parsed] if isinstance(parsed, list) else [parsed]
            late = [t for t in times if t > now + FUTURE_SKEW]
            if late:
                errs.add(
                    "time is in the future",
                    line=no,
                    fld=f.name,
                    value=late[0].isoformat(),
                    allowed=f"at or before {now.isoformat()}",
                )
                ok = False
                continue
        rec[f.name] = parsed
    return rec if ok else None


# ------------------------------------------------------------------ kind-specific checks


def check_member(no: int, r: dict[str, Any], errs: Errors, now: datetime) -> None:
    if "country" in r and "countries" in r:
        errs.add("give either 'country' or 'countries', not both", line=no, fld="country")
    elif "country" not in r and "countries" not in r:
        errs.add(
            "missing required field",
            line=no,
            fld="country",
            allowed="'country' (a code) or 'countries' (a dated history)",
        )
    joined = r.get("joined_at")
    if joined is not None:
        for name in ("countries", "statuses"):
            hist = r.get(name)
            if hist and hist[0][0] > joined:
                errs.add(
                    f"the first '{name}' entry starts after joined_at",
                    line=no,
                    fld=name,
                    value=hist[0][0].isoformat(),
                    allowed=f"at or before joined_at ({joined.isoformat()})",
                )
    birth = r.get("birth_date")
    if birth is not None and birth > now.date():
        errs.add(
            "birth date is in the future",
            line=no,
            fld="birth_date",
            value=birth.isoformat(),
            allowed=f"at or before {now.date().isoformat()}",
        )


def check_content(no: int, r: dict[str, Any], errs: Errors) -> None:
    created = r.get("created_at")
    for name in ("edited_at", "deleted_at"):
        t = r.get(name)
        if created is not None and t is not None and t < created:
            errs.add(
                f"{name} is before created_at",
                line=no,
                fld=name,
                value=t.isoformat(),
                allowed=f"at or after created_at ({created.isoformat()})",
            )


def check_consent(no: int, r: dict[str, Any], errs: Errors, ps: PolicySet) -> None:
    at = r.get("at")
    if at is None:
        return
    pv = ps.in_force(at)
    if pv is None:
        first = ps.versions[0].effective_at.isoformat() if ps.versions else "never"
        errs.add(
            "no policy version was in force at this time",
            line=no,
            fld="at",
            value=at.isoformat(),
            allowed=f"at or after {first}",
        )
        return
    purpose = r.get("purpose")
    if purpose is not None and purpose not in pv.purposes:
        errs.add(
            "unknown purpose",
            line=no,
            fld="purpose",
            value=purpose,
            allowed=", ".join(sorted(pv.purposes)),
        )
    given = r.get("policy_version")
    if given is None:
        r["policy_version"] = pv.version
    elif given != pv.version:
        errs.add(
            "policy_version is not the version in force at 'at'",
            line=no,
            fld="policy_version",
            value=given,
            allowed=str(pv.version),
        )
