"""The provider registry and the platform's notice-signing key.

::

    p = add_provider(db, "Mistral AI", webhook_url="https://...", now=now)
    info = public_key_info(settings)       # what GET /api/v1/provider/public-key shows
    sig = sign(settings, body_bytes)       # Ed25519 over the exact body bytes

Providers are data: a name (it must match, ignoring case, a recipient that the policy
names for ``share_with_providers`` before any export goes to it), a webhook URL that
receives signed deletion notices, the agreement's deadline in days for confirming a
purge (default 30) and a public id (``prv_`` + 12 hex digits) that appears in exports,
notices and provider-scoped API keys.

The signing key is an Ed25519 key made once under ``$OPTIN_HOME/keys/`` with
:func:`optin.files.create_secret_file` (0600, never overwritten); its public half is
published so a provider can check that a notice came from this platform.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from optin.errors import ConfigError, ConflictError, InputError, NotFoundError
from optin.files import create_secret_file
from optin.services import web_auth
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.db import Session
from optin.storage.repos import providers as repo

SIGNING_KEY_FILE = "provider-notices.ed25519"
DEFAULT_DEADLINE_DAYS = 30
#: The API scope of provider-bound keys (acknowledging their own deletion notices).
ACK_SCOPE = "provider:ack"


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    webhook_url: str
    deadline_days: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Provider:
        return cls(row.id, row.name, row.webhook_url, int(row.deadline_days), row.created_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "webhook_url": self.webhook_url,
            "deadline_days": self.deadline_days,
            "created_at": self.created_at.isoformat(),
        }


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            "not a webhook URL",
            field="--webhook-url",
            value=url,
            allowed="an http:// or https:// URL with a host, e.g. https://provider.example/optin",
        )
    return url.strip()


def _check_name(name: str) -> str:
    plain = " ".join(name.split())
    if not plain or len(plain) > 200:
        raise InputError("a provider name must be 1-200 characters", field="name", value=name)
    return plain


def add_provider(
    db: Database,
    name: str,
    *,
    webhook_url: str,
    deadline_days: int = DEFAULT_DEADLINE_DAYS,
    now: datetime,
) -> Provider:
    """Register a provider; its name must be new (ignoring case)."""
    plain = _check_name(name)
    url = _check_url(webhook_url)
    if not 1 <= deadline_days <= 3650:
        raise InputError(
            "the purge deadline is out of range",
            field="--deadline-days",
            value=deadline_days,
            allowed="1 to 3650 days",
        )
    with db.session() as s:
        if repo.provider_by_name(s, plain) is not None:
            raise ConflictError(
                f"a provider named {plain!r} already exists; see `optin provider show {plain!r}`"
            )
        row = repo.add_provider(
            s,
            provider_id=f"prv_{secrets.token_hex(6)}",
            name=plain,
            webhook_url=url,
            deadline_days=deadline_days,
            created_at=now,
        )
        return Provider.from_row(row)


def find_provider(session: Session, ref: str) -> Provider:
    """The provider with public id or name ``ref`` (name ignoring case)."""
    row = repo.get_provider(session, ref.strip()) or repo.provider_by_name(
        session, " ".join(ref.split())
    )
    if row is None:
        known = [p.name for p in repo.list_providers(session)]
        raise NotFoundError(
            f"no provider {ref!r}; registered: {', '.join(known) or 'none'} "
            "(add one with `optin provider add NAME --webhook-url URL`)"
        )
    return Provider.from_row(row)


def get_provider(db: Database, ref: str) -> Provider:
    with db.session() as s:
        return find_provider(s, ref)


def list_providers(db: Database) -> list[Provider]:
    with db.session() as s:
        return [Provider.from_row(r) for r in repo.list_providers(s)]


def create_provider_key(db: Database, ref: str, *, now: datetime) -> web_auth.NewApiKey:
    """An API key with the scope ``provider:ack`` bound to one provider: it can
    acknowledge that provider's deletion notices and nothing else."""
    with db.session() as s:
        p = find_provider(s, ref)
        key = web_auth.create_api_key(s, f"provider {p.name}"[:100], [ACK_SCOPE], now=now)
        s.flush()
        repo.add_provider_key(s, key.key_id, p.id)
        return key


def provider_of_key(session: Session, key_id: str) -> str | None:
    """The provider an API key is bound to, or None."""
    return repo.provider_of_key(session, key_id)


# -- the signing key -------------------------------------------------------------------


def _signing_key(settings: Settings) -> Ed25519PrivateKey:
    path = settings.keys_dir / SIGNING_KEY_FILE
    if not path.exists():
        create_secret_file(path, Ed25519PrivateKey.generate().private_bytes_raw())
    data = path.read_bytes()
    if len(data) != 32:
        raise ConfigError(f"{path}: the notice signing key is damaged (expected 32 bytes)")
    return Ed25519PrivateKey.from_private_bytes(data)


class Signer:
    """Signs notice bodies with the installation's Ed25519 key (loaded once)."""

    def __init__(self, settings: Settings) -> None:
        self._key = _signing_key(settings)
        raw = self._key.public_key().public_bytes_raw()
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]
        self.public_raw = raw

    def sign(self, body: bytes) -> str:
        """The base64 signature of ``body``."""
        return base64.b64encode(self._key.sign(body)).decode("ascii")


def public_key_info(settings: Settings) -> dict[str, str]:
    """The public key providers verify notices with (created on first use)."""
    signer = Signer(settings)
    pem = (
        signer._key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return {
        "algorithm": "Ed25519",
        "key_id": signer.key_id,
        "public_key": base64.b64encode(signer.public_raw).decode("ascii"),
        "public_key_pem": pem,
        "signature_header": "X-Optin-Signature",
        "signed": "the exact bytes of the request body",
    }


__all__ = [
    "ACK_SCOPE",
    "DEFAULT_DEADLINE_DAYS",
    "Provider",
    "Signer",
    "add_provider",
    "create_provider_key",
    "find_provider",
    "get_provider",
    "list_providers",
    "provider_of_key",
    "public_key_info",
]
