"""What every request handler needs, built once by :func:`optin.web.create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request

from optin.services.ratelimit import LoginLimiter
from optin.services.web_auth import LoginRateLimiter
from optin.settings import Settings

if TYPE_CHECKING:
    from optin.services.consent_writer import ConsentWriter
    from optin.services.setup import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebState:
    settings: Settings
    db: Database
    clock: Callable[[], datetime] = utcnow
    limiter: LoginLimiter = field(default_factory=LoginRateLimiter)
    templates: Any = None
    committer: ConsentWriter | None = None
    #: seconds a verified API key is trusted without a database lookup (0: always look up);
    #: a key revoked with ``optin apikey revoke`` stops working within this time
    api_key_ttl: float = 2.0
    api_key_cache: dict[str, tuple[float, Any]] = field(default_factory=dict)
    #: the transparency log's checkpoint publisher while the app runs it (``optin serve``)
    log_publisher: Any = None

    def now(self) -> datetime:
        return self.clock()


def state(request: Request) -> WebState:
    st: WebState = request.app.state.optin
    return st
