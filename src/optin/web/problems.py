"""Errors -> HTTP: the ONE table mapping optin's error classes to status codes, and the
RFC 9457 ``application/problem+json`` bodies the API returns for every error."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from optin.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    DependencyMissingError,
    DiskFullError,
    ImportValidationError,
    InputError,
    IntegrityError,
    NotFoundError,
    OptinError,
    PermissionDeniedError,
)

#: HTTP status per error class (most specific class wins, via the MRO).
HTTP_STATUS: dict[type[OptinError], int] = {
    ImportValidationError: 422,
    InputError: 422,
    ConfigError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    PermissionDeniedError: 403,
    AuthenticationError: 401,
    IntegrityError: 409,
    DependencyMissingError: 503,
    DiskFullError: 507,  # Insufficient Storage
    OptinError: 400,
}

TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
    507: "Insufficient storage",
}

PROBLEM_TYPE = "https://optin.dev/problems/"


def status_for(exc: OptinError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 400


def problem(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem response."""
    title = TITLES.get(status, "Error")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    hdrs = dict(headers or {})
    if status == 401:
        hdrs.setdefault("WWW-Authenticate", 'Bearer realm="optin"')
    return JSONResponse(
        body, status_code=status, headers=hdrs, media_type="application/problem+json"
    )


def problem_for(exc: OptinError, instance: str | None = None) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(exc, InputError):
        extra = {"field": exc.field, "allowed": exc.allowed}
    return problem(status_for(exc), str(exc), instance=instance, **extra)
