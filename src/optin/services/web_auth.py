"""Authentication for the web app and the JSON API.

* Passwords: argon2id (argon2-cffi defaults), verified in constant time; a login for an
  unknown handle still spends one argon2 verification so timing does not reveal handles.
* Web sessions: a random 256-bit token in an HttpOnly cookie; only its SHA-256 is stored
  (``web_sessions.id_hash``), so a database leak does not leak live sessions. Each session
  carries its own CSRF token (synchronizer token pattern).
* API keys: ``optin_<prefix>_<secret>``; the prefix is the row id, the secret's SHA-256
  is stored (keys are high-entropy, so a fast hash is enough). Scopes are checked per route.
* Login rate limiting: per (client IP, handle); see :mod:`optin.services.ratelimit`.

Every function takes an open database session (``db.session()``); the caller owns the
transaction. Time is a parameter. Nothing here logs personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from optin.errors import AuthenticationError, InputError, NotFoundError
from optin.services.choices import parse_choice
from optin.services.ratelimit import MemoryLoginLimiter
from optin.storage.db import Session
from optin.storage.models import ApiKeyRow
from optin.storage.repos import providers as provider_repo
from optin.storage.repos import web_auth as repo

#: Every scope an API key may hold.
API_SCOPES: tuple[str, ...] = (
    "consents:write",
    "eligibility:read",
    "provider:ack",
    "receipts:read",
    "snapshots:read",
    "members:read",
    "members:write",
    "dsr:read",
    "dsr:write",
    "members:erase",
)
#: Every role a member may hold.
ROLES: tuple[str, ...] = ("member", "admin")
KEY_PREFIX = "optin"
SESSION_TTL = timedelta(hours=12)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("optin-dummy-password-for-timing")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (argon2-cffi defaults)."""
    if len(password) < 8:
        raise InputError("password too short", field="password", allowed="8 or more characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True, slots=True)
class WebUser:
    """The member behind a web session."""

    member_id: str
    handle: str
    display_name: str
    role: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str  # goes into the cookie; never stored
    csrf_token: str
    user: WebUser


def login(session: Session, handle: str, password: str, *, now: datetime) -> NewSession:
    """Check credentials and open a web session. Raises :class:`AuthenticationError`."""
    member = repo.member_by_handle(session, handle.strip())
    stored = member.password_hash if member is not None else None
    ok = verify_password(stored, password)
    if not ok or member is None or member.erased_at is not None:
        raise AuthenticationError("handle or password is wrong")
    if _hasher.check_needs_rehash(stored or ""):
        member.password_hash = _hasher.hash(password)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    repo.add_session(
        session,
        id_hash=sha256_hex(token),
        member_id=member.id,
        csrf_token=csrf,
        created_at=now,
        expires_at=now + SESSION_TTL,
    )
    user = WebUser(member.id, member.handle, member.display_name, member.role or "member", csrf)
    return NewSession(token, csrf, user)


def session_user(session: Session, token: str | None, *, now: datetime) -> WebUser | None:
    """The user of a live session token, or None (unknown, expired, revoked)."""
    if not token or len(token) > 128:
        return None
    row = repo.session_with_member(session, sha256_hex(token))
    if row is None:
        return None
    ws, member = row
    if ws.revoked or ws.expires_at <= now or member.erased_at is not None:
        return None
    return WebUser(
        member.id, member.handle, member.display_name, member.role or "member", ws.csrf_token
    )


def logout(session: Session, token: str | None) -> None:
    if token:
        repo.revoke_session(session, sha256_hex(token))


def csrf_ok(user: WebUser | None, submitted: str | None) -> bool:
    """Synchronizer-token check, constant time."""
    if user is None or not submitted:
        return False
    return hmac.compare_digest(user.csrf_token.encode(), submitted.encode())


def set_password(session: Session, handle: str, password: str) -> None:
    member = repo.member_by_handle(session, handle)
    if member is None:
        raise NotFoundError(f"no member with handle {handle!r}; `optin member list` lists members")
    member.password_hash = hash_password(password)
    # a new password ends every session opened with the old one
    repo.revoke_member_sessions(session, member.id)


def set_role(session: Session, handle: str, role: str) -> str:
    """Give the member with ``handle`` (``@`` optional) the role ``member`` or ``admin``;
    returns the handle without ``@``."""
    checked = parse_choice(role, {r: r for r in ROLES}, field="role", what="unknown role")
    plain = handle.lstrip("@")
    member = repo.member_by_handle(session, plain)
    if member is None:
        raise NotFoundError(f"no member with handle {handle!r}")
    member.role = checked
    return plain


# --------------------------------------------------------------------------- rate limit


#: The in-memory limiter (one process); ``optin serve`` uses the database or Redis one.
LoginRateLimiter = MemoryLoginLimiter


# --------------------------------------------------------------------------- API keys


@dataclass(frozen=True, slots=True)
class ApiClient:
    key_id: str
    name: str
    scopes: frozenset[str]
    #: the provider a ``provider:ack`` key is bound to (``optin provider key NAME``)
    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key_id: str
    token: str  # shown once
    scopes: tuple[str, ...]


def parse_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in scopes:
        for s in raw.replace(",", " ").split():
            if s not in API_SCOPES:
                raise InputError(
                    "unknown API scope", field="scope", value=s, allowed=", ".join(API_SCOPES)
                )
            if s not in out:
                out.append(s)
    if not out:
        raise InputError(
            "an API key needs at least one scope", field="scope", allowed=", ".join(API_SCOPES)
        )
    return tuple(out)


def create_api_key(
    session: Session, name: str, scopes: list[str] | tuple[str, ...], *, now: datetime
) -> NewApiKey:
    """Create a key; the returned token is the only copy of the secret."""
    if not name.strip() or len(name) > 100:
        raise InputError("API key name must be 1-100 characters", field="name", value=name)
    checked = parse_scopes(scopes)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    repo.add_api_key(
        session,
        key_id=key_id,
        name=name.strip(),
        key_hash=sha256_hex(secret),
        scopes=" ".join(checked),
        created_at=now,
    )
    return NewApiKey(key_id, f"{KEY_PREFIX}_{key_id}_{secret}", checked)


def revoke_api_key(session: Session, key_id: str, *, now: datetime) -> None:
    row = repo.get_api_key(session, key_id)
    if row is None:
        raise NotFoundError(f"no API key with id {key_id!r}; list them with `optin apikey list`")
    if row.revoked_at is None:
        row.revoked_at = now


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    return repo.list_api_keys(session)


def api_client(session: Session, authorization: str | None) -> ApiClient:
    """The client behind an ``Authorization: Bearer optin_<id>_<secret>`` header."""
    if not authorization:
        raise AuthenticationError(
            "missing API key; send the header 'Authorization: Bearer optin_<id>_<secret>'"
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("the Authorization header must be 'Bearer <API key>'")
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        raise AuthenticationError("malformed API key; expected optin_<id>_<secret>")
    row = repo.get_api_key(session, parts[1])
    if row is None or not hmac.compare_digest(row.key_hash, sha256_hex(parts[2])):
        raise AuthenticationError("API key not recognised")
    if row.revoked_at is not None:
        raise AuthenticationError("API key has been revoked")
    scopes = frozenset(row.scopes.split())
    provider = provider_repo.provider_of_key(session, row.id) if "provider:ack" in scopes else None
    return ApiClient(row.id, row.name, scopes, provider)


__all__ = [
    "API_SCOPES",
    "ROLES",
    "ApiClient",
    "LoginRateLimiter",
    "NewApiKey",
    "NewSession",
    "WebUser",
    "api_client",
    "create_api_key",
    "csrf_ok",
    "hash_password",
    "list_api_keys",
    "login",
    "logout",
    "parse_scopes",
    "revoke_api_key",
    "session_user",
    "set_password",
    "set_role",
    "sha256_hex",
    "verify_password",
]
