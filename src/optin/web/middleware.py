"""Pure ASGI middleware: security headers on every response, and an access log that
records method, path (never the query string), status and duration only; and, for a
platform's own web tier, :class:`ContentUsageMiddleware` (consent as AI-use signals). Everything
the log writes from the request goes through :func:`log_safe`, so a ``%0A`` in a URL
cannot forge a log line."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("optin.web.access")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


#: control characters (C0, DEL, C1), Unicode line/paragraph separators and bidi
#: controls, and the backslash itself (so an escape in the log is never ambiguous)
_UNSAFE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def log_safe(value: object, limit: int = 2000) -> str:
    """``value`` as one printable log field: control and bidi characters (and ``\\``)
    escaped as ``\\xNN``/``\\uNNNN``, cut to ``limit`` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return _UNSAFE.sub(_escape, text)


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        started = time.perf_counter()
        status_holder = [0]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for k, v in SECURITY_HEADERS:
                    if k not in present:
                        headers.append((k, v))
                if b"cache-control" not in present and not path.startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %d %.1fms",
                    log_safe(scope.get("method"), 20),
                    log_safe(path),
                    status_holder[0],
                    (time.perf_counter() - started) * 1000,
                )


class ContentUsageMiddleware:
    """For a platform's own ASGI web tier (not optin's pages): sets ``Content-Usage``
    (IETF AI Preferences: draft-ietf-aipref-attach-05, vocabulary draft-ietf-aipref-vocab-07)
    and ``tdm-reservation`` (W3C TDMRep, Final CG Report 10 May 2024) on every response whose
    path names a content item, from its author's recorded choice at the time of the
    request (:func:`optin.services.signals.content_usage`). ``content_id_of(path)``
    returns the item's id or None (no header is added then); ``clock`` is the edge's
    clock. Headers the app set itself are left as they are.

    ::

        app = ContentUsageMiddleware(app, db, lambda p: p.removeprefix("/posts/") or None)
    """

    def __init__(
        self,
        app: Any,
        db: Any,
        content_id_of: Callable[[str], str | None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.db = db
        self.content_id_of = content_id_of
        self.clock = clock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        cid = self.content_id_of(scope.get("path", "")) if scope["type"] == "http" else None
        if not cid:
            await self.app(scope, receive, send)
            return
        from anyio import to_thread

        from optin.services.signals import content_usage

        usage = await to_thread.run_sync(lambda: content_usage(self.db, cid, now=self.clock()))
        extra = [(k.lower().encode(), v.encode()) for k, v in usage.headers().items()]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
