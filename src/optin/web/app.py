"""The FastAPI application: member pages, admin pages and the JSON API (``/api/v1``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from optin import __version__
from optin.errors import OptinError
from optin.services.ratelimit import LoginLimiter, login_limiter
from optin.settings import Settings
from optin.web.deps import LoginRequired, api_client
from optin.web.limits import RequestGuard
from optin.web.middleware import SecurityHeaders, log_safe
from optin.web.problems import TITLES, problem, problem_for, status_for
from optin.web.state import WebState, utcnow
from optin.web.templating import make_templates

log = logging.getLogger(__name__)

_PKG = Path(__file__).resolve().parent


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _html_error(request: Request, status: int, detail: str) -> Response:
    templates: Jinja2Templates = request.app.state.optin.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "title": TITLES.get(status, "Error"),
            "detail": detail,
            "user": getattr(request.state, "user", None),
        },
        status_code=status,
    )


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    parts: list[str] = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "request"
        msg = str(e.get("msg", "invalid"))
        errors.append({"field": loc, "message": msg})
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts[:10]) or "invalid request", errors


def edge_error(request: Request, status: int, detail: str, extra: dict[str, Any]) -> Response:
    """The answer to a request refused at the edge (:class:`RequestGuard`): problem+json
    for the API, the HTML error page elsewhere."""
    if _is_api(request):
        return problem(status, detail, instance=request.url.path, **extra)
    return _html_error(request, status, detail)


async def _authenticate_api(request: Request) -> Any:
    return await api_client(request, None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OptinError)
    async def optin_error(request: Request, exc: OptinError) -> Response:
        if _is_api(request):
            return problem_for(exc, request.url.path)
        return _html_error(request, status_for(exc), str(exc))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            return problem(401, "log in first", instance=request.url.path)
        target = "/login"
        if request.method == "GET" and request.url.path not in ("/", "/login"):
            target = f"/login?next={request.url.path}"
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        detail, errors = _validation_detail(exc)
        if _is_api(request):
            return problem(422, detail, instance=request.url.path, errors=errors)
        return _html_error(request, 422, detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        if exc.status_code == 404:
            detail = f"nothing at {request.url.path}"
        elif exc.status_code == 400 and "parsing the body" in str(detail):
            detail = (
                "the request body could not be parsed; send JSON (Content-Type: "
                "application/json) or a form"
            )
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        if _is_api(request):
            return problem(
                exc.status_code, detail, instance=request.url.path, headers=dict(exc.headers or {})
            )
        return _html_error(request, exc.status_code, detail)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error(
            "internal error on %s %s: %s",
            log_safe(request.method, 20),
            log_safe(request.url.path),
            type(exc).__name__,
        )
        detail = "internal error; the server log names the cause"
        if _is_api(request):
            return problem(500, detail, instance=request.url.path)
        return _html_error(request, 500, detail)


def create_app(
    settings: Settings,
    *,
    db: Any = None,
    clock: Callable[[], datetime] | None = None,
    limiter: LoginLimiter | None = None,
    group_commit: bool | None = None,
    api_key_ttl: float = 2.0,
    delivery_worker: bool = False,
    sweep_worker: bool = False,
    log_publisher: bool = False,
) -> FastAPI:
    """Build the web app. ``db`` defaults to ``Database.open(settings)``.

    ``group_commit`` (default: on for PostgreSQL) records concurrent consent events in
    one transaction (see :mod:`optin.services.consent_writer`). ``api_key_ttl``: seconds a
    verified API key is trusted without a database lookup (a revoked key stops working
    within that time; 0 looks every request up). ``limiter`` defaults to
    :func:`optin.services.ratelimit.login_limiter` (Redis when ``OPTIN_REDIS_URL`` is set,
    else the database), so the login limit holds across processes. ``delivery_worker``: run the
    deletion-notice outbox worker in a background thread while the app is up (started
    and stopped by the app's lifespan; ``optin serve`` turns it on). ``sweep_worker``:
    likewise, remove expired access packages and download links every 10 minutes
    (:class:`optin.services.dsr.SweepWorker`; ``optin serve`` always runs it).
    ``log_publisher``: likewise the transparency log's checkpoint publisher
    (:class:`optin.services.log_publisher.CheckpointPublisher`: a new checkpoint at most
    every ``OPTIN_LOG_CHECKPOINT_INTERVAL`` seconds while events arrive, cosigned by
    ``OPTIN_LOG_WITNESSES``).
    """
    if db is None:
        from optin.services.setup import Database

        db = Database.open(settings)
    app = FastAPI(
        title="optin API",
        version=__version__,
        description=(
            "Consent events, point-in-time eligibility, consent receipts (ISO/IEC TS "
            "27560-style) and training-data snapshots. Authenticate with "
            "`Authorization: Bearer optin_<id>_<secret>`; create keys with "
            "`optin apikey create NAME --scope ...`. Every error is an RFC 9457 "
            "problem+json body."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(
            settings,
            db,
            clock or utcnow,
            outbox=delivery_worker,
            sweep=sweep_worker,
            log=log_publisher,
        )
        if delivery_worker or sweep_worker or log_publisher
        else None,
    )
    app.state.optin = WebState(
        settings=settings,
        db=db,
        clock=clock or utcnow,
        limiter=limiter or login_limiter(settings, db),
        templates=make_templates(_PKG / "templates"),
        api_key_ttl=api_key_ttl,
    )
    if group_commit is None:
        group_commit = db.dialect == "postgresql"
    if group_commit:
        from optin.services.consent_writer import ConsentWriter

        app.state.optin.committer = ConsentWriter(db, clock=app.state.optin.now)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
        respond=edge_error,
        authenticate=_authenticate_api,
    )
    app.add_middleware(SecurityHeaders)  # outermost: headers and access log on every answer
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(_PKG / "static")), name="static")

    from optin.web.routes import admin, api, auth, dsr, lineage, member, members_api, provider
    from optin.web.routes import log as log_routes  # transparency log (issue 13)

    app.include_router(auth.router)
    app.include_router(member.router)
    app.include_router(admin.router)
    app.include_router(api.router)
    app.include_router(members_api.router)
    app.include_router(dsr.pages)
    app.include_router(dsr.api)
    app.include_router(lineage.router)
    app.include_router(provider.router)
    app.include_router(log_routes.router)
    _add_problem_schema(app)
    return app


def _lifespan(
    settings: Settings,
    db: Any,
    clock: Callable[[], datetime],
    *,
    outbox: bool,
    sweep: bool,
    log: bool,
) -> Any:
    """Start the background workers (outbox, access-package sweep, the log's checkpoint
    publisher) with the app and stop them cleanly on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from optin.services.dsr import SweepWorker
        from optin.services.log_publisher import CheckpointPublisher
        from optin.services.outbox import OutboxWorker

        workers: list[Any] = []
        if outbox:
            workers.append(OutboxWorker(db, settings, clock=clock))
        if sweep:  # expired access packages and download links
            workers.append(SweepWorker(db, settings.home, clock=clock))
        if log:
            publisher = CheckpointPublisher(db, settings, clock=clock)
            app.state.optin.log_publisher = publisher
            workers.append(publisher)
        for w in workers:
            w.start()
        try:
            yield
        finally:
            for w in reversed(workers):
                w.stop()

    return lifespan


def _add_problem_schema(app: FastAPI) -> None:
    from fastapi.openapi.utils import get_openapi

    from optin.web.routes.api import Problem

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                Problem.model_json_schema()
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
