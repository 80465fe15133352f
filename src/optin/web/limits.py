"""Limits at the web edge, checked before any route runs.

:class:`RequestGuard` is a pure ASGI middleware. For every HTTP request it

1. refuses a NUL character in the URL path or query (422, naming the parameter);
2. refuses a body whose ``Content-Length`` exceeds ``Settings.max_body_bytes`` (413)
   without reading it;
3. for ``/api/v1`` requests that carry a body, checks the API key *before* reading the
   body (401 problem+json otherwise);
4. reads the body in chunks and stops at the cap (chunked bodies are counted: 413);
5. refuses JSON nested deeper than ``Settings.max_json_depth`` (400), and a NUL
   character or lone surrogate in any JSON string or form field (422, naming the field);
6. hands the (bounded, already read) body on to the app.

:data:`UtcTime` is the pydantic type for times the API accepts: aware, and between
1970-01-01 and 9999-12-31 once converted to UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

import numpy as np
from pydantic import AfterValidator, AwareDatetime
from starlette.requests import Request
from starlette.responses import Response

from optin.errors import AuthenticationError

# --------------------------------------------------------------------------- times

MIN_YEAR = 1970
MAX_YEAR = 9999
TIME_RANGE = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z (after conversion to UTC)"


def check_time_range(value: datetime) -> datetime:
    """``value`` in UTC when it lies within :data:`TIME_RANGE`; ValueError otherwise."""
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"time out of range; allowed: {TIME_RANGE}") from None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"time out of range; allowed: {TIME_RANGE}")
    return value


#: An aware datetime within 1970..9999 (UTC); pydantic answers 422 naming the field.
UtcTime = Annotated[AwareDatetime, AfterValidator(check_time_range)]

# --------------------------------------------------------------------------- text

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_text(value: str) -> str | None:
    """What is wrong with ``value`` (a NUL or a lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character (U+0000)"
    if _LONE_SURROGATE.search(value):
        return "contains a lone surrogate (U+D800..U+DFFF), which is not valid Unicode text"
    return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        problem = bad_text(value)
        if problem:
            yield path or "body", problem
    elif isinstance(value, dict):
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            problem = bad_text(k)
            if problem:
                yield (path or "body"), f"has a key that {problem}"
                continue
            yield from _walk(v, where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}.{i}" if path else str(i))


def first_bad_field(value: Any) -> tuple[str, str] | None:
    """The first (field path, problem) for a NUL or lone surrogate in parsed JSON."""
    return next(_walk(value, ""), None)


# --------------------------------------------------------------------------- JSON depth

#: a JSON string; an unterminated one runs to the end, so every match attempt succeeds
#: at once (no backtracking, linear time on any input)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
#: a ``\u0000`` or surrogate escape, or a UTF-8-encoded surrogate (which Python's JSON
#: parser lets through), in raw JSON: only then is the body parsed and walked
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})|\xed[\xa0-\xbf]")


def json_too_deep(body: bytes, limit: int) -> bool:
    """True when the arrays and objects in ``body`` nest deeper than ``limit``.
    Linear time, no recursion, no parsing (brackets inside strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    if len(brackets) <= limit:
        return False
    steps = _STEP[np.frombuffer(brackets, dtype=np.uint8)]
    return bool(np.cumsum(steps, dtype=np.int32).max() > limit)


# --------------------------------------------------------------------------- middleware

#: ``respond(request, status, detail, extra)`` builds the error response (problem+json
#: for the API, the HTML error page elsewhere); given by :func:`optin.web.create_app`.
Responder = Callable[[Request, int, str, dict[str, Any]], Response]
#: ``authenticate(request)`` raises :class:`AuthenticationError` for a bad API key.
Authenticator = Callable[[Request], Awaitable[Any]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Refused(Exception):
    def __init__(
        self, status: int, detail: str, *, unread_body: bool = False, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.unread_body = unread_body
        self.extra = extra


class RequestGuard:
    """Bounded, authenticated-first request bodies and clean text (see the module doc)."""

    def __init__(
        self,
        app: Any,
        *,
        max_body_bytes: int,
        max_json_depth: int,
        respond: Responder,
        authenticate: Authenticator,
        api_prefix: str = "/api/v1",
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.respond = respond
        self.authenticate = authenticate
        self.api_prefix = api_prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._admit(scope, receive)
        except _Refused as r:
            response = self.respond(Request(scope), r.status, r.detail, r.extra)
            if r.unread_body:  # do not keep a connection whose body was left unread
                response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _admit(self, scope: dict[str, Any], receive: Any) -> bytes | None:
        """The body (None: none expected, pass the request through), or :class:`_Refused`."""
        _check_url(scope)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        length = _content_length(headers.get(b"content-length"))
        chunked = b"transfer-encoding" in headers
        if length is not None and length > self.max_body_bytes:
            raise self._too_large()
        has_body = chunked or bool(length) or scope.get("method") in _BODY_METHODS
        if not has_body:
            return None
        path: str = scope.get("path", "")
        if path == self.api_prefix or path.startswith(self.api_prefix + "/"):
            try:
                await self.authenticate(Request(scope))
            except AuthenticationError as e:
                raise _Refused(401, str(e), unread_body=True) from None
        body = await self._read(receive)
        self._check_body(body, headers.get(b"content-type", b""))
        return body

    def _too_large(self) -> _Refused:
        return _Refused(
            413,
            f"the request body is larger than {self.max_body_bytes} bytes, the most this "
            "server accepts (OPTIN_MAX_BODY_BYTES)",
            unread_body=True,
            limit=self.max_body_bytes,
        )

    async def _read(self, receive: Any) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "the client closed the connection before the body ended")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _check_body(self, body: bytes, content_type: bytes) -> None:
        ctype = content_type.split(b";", 1)[0].strip().lower()
        if not ctype or ctype == b"application/json" or ctype.endswith(b"+json"):
            # FastAPI parses a body without a Content-Type as JSON too
            self._check_json(body)
        elif ctype == b"application/x-www-form-urlencoded":
            _check_form(body)
        elif b"\x00" in body:
            raise _Refused(
                422,
                "the request body contains a NUL character (U+0000); it is not allowed",
                field="body",
                allowed="text without NUL characters",
            )

    def _check_json(self, body: bytes) -> None:
        if json_too_deep(body, self.max_json_depth):
            raise _Refused(
                400,
                f"the JSON body is nested deeper than {self.max_json_depth} levels of arrays "
                f"and objects, the most this server accepts (OPTIN_MAX_JSON_DEPTH)",
                limit=self.max_json_depth,
            )
        if not _SUSPECT.search(body):
            return  # a raw NUL byte is invalid JSON; the app's parser refuses it
        try:
            parsed = json.loads(body)
        except ValueError:
            return  # the app answers with its own parse error
        bad = first_bad_field(parsed)
        if bad:
            raise _bad_field(*bad)


def _bad_field(field: str, problem: str) -> _Refused:
    field = field if len(field) <= 100 else field[:100] + "..."
    return _Refused(
        422,
        f"{field}: {problem}; it is not allowed",
        field=field,
        allowed="Unicode text without NUL characters or lone surrogates",
    )


def _check_url(scope: dict[str, Any]) -> None:
    path: str = scope.get("path", "")
    problem = bad_text(path)
    if problem:
        raise _bad_field("path", f"the URL path {problem}")
    qs: bytes = scope.get("query_string", b"")
    if b"%00" in qs or b"\x00" in qs:
        for name, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name:
                raise _bad_field("query", "a query parameter name contains a NUL character")
            problem = bad_text(value)
            if problem:
                raise _bad_field(name, f"the query parameter {problem}")


def _check_form(body: bytes) -> None:
    if b"%00" not in body and b"\x00" not in body:
        return
    for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name:
            raise _bad_field("form", "a form field name contains a NUL character")
        if "\x00" in value:
            raise _bad_field(name, "the form field contains a NUL character (U+0000)")


def _content_length(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise _Refused(400, "the Content-Length header is not a number", unread_body=True) from None


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replay


__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "TIME_RANGE",
    "RequestGuard",
    "UtcTime",
    "bad_text",
    "check_time_range",
    "first_bad_field",
    "json_too_deep",
]
