"""``optin serve`` (the web app and JSON API), ``optin apikey`` and ``optin user``."""

from __future__ import annotations

import ipaddress
import logging
from datetime import UTC, datetime

import typer

from optin.cli.context import console, print_json, settings_from
from optin.cli.output import esc
from optin.errors import InputError

apikey_app = typer.Typer(help="API keys for the JSON API (/api/v1).", no_args_is_help=True)
user_app = typer.Typer(help="Web login accounts.", no_args_is_help=True)


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    access_log: bool = typer.Option(
        False,
        "--access-log/--no-access-log",
        help="Log method, path (never the query string), status and duration per request.",
    ),
    proxy_headers: bool = typer.Option(
        False,
        "--proxy-headers",
        help="Trust X-Forwarded-For/-Proto (so cookies get the Secure flag behind HTTPS), "
        "only from the proxies named with --forwarded-allow-ips.",
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="Comma-separated addresses or networks of your reverse proxies, e.g. 127.0.0.1 "
        "(default: OPTIN_FORWARDED_ALLOW_IPS, else none). Requires --proxy-headers.",
    ),
    outbox: bool = typer.Option(
        True,
        "--outbox/--no-outbox",
        help="Deliver deletion notices to providers in a background thread "
        "(as `optin outbox run` does).",
    ),
    log_publisher: bool = typer.Option(
        True,
        "--log-publisher/--no-log-publisher",
        help="Publish transparency-log checkpoints in a background thread: at most one "
        "every OPTIN_LOG_CHECKPOINT_INTERVAL seconds while events arrive, cosigned by "
        "OPTIN_LOG_WITNESSES (idle until `optin log keygen`).",
    ),
) -> None:
    """Run the member and admin web app and the JSON API."""
    import uvicorn

    from optin.services.setup import Database
    from optin.web import create_app

    settings = settings_from(ctx)
    if forwarded_allow_ips is not None:
        settings = settings.model_copy(update={"forwarded_allow_ips": forwarded_allow_ips})
    trusted = _trusted_proxies(proxy_headers, settings.forwarded_allow_ips)
    db = Database.open(settings)
    db.require_initialized()
    app = create_app(
        settings, db=db, delivery_worker=outbox, sweep_worker=True, log_publisher=log_publisher
    )
    if access_log:
        logging.getLogger("optin.web.access").setLevel(logging.INFO)
    console.print(
        f"optin web app on http://{esc(host)}:{port}/  (API: /api/v1, schema: /api/v1/openapi.json)"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=",".join(trusted) if trusted else "",
        log_level="warning",
        server_header=False,
    )


def _trusted_proxies(proxy_headers: bool, allow: str | None) -> list[str]:
    """The proxy addresses whose X-Forwarded-* headers are trusted (empty: none)."""
    trusted = [a.strip() for a in (allow or "").split(",") if a.strip()]
    if "*" in trusted:
        raise InputError(
            "trusting X-Forwarded-For from every address lets any client choose its own "
            "address and escape the login limit",
            field="--forwarded-allow-ips",
            value="*",
            allowed="the addresses or networks of your reverse proxies, e.g. 127.0.0.1",
        )
    for a in trusted:
        try:
            ipaddress.ip_network(a, strict=False)
        except ValueError:
            raise InputError(
                "not an IP address or network",
                field="--forwarded-allow-ips",
                value=a,
                allowed="comma-separated addresses or networks, e.g. 127.0.0.1,10.0.0.0/8",
            ) from None
    if proxy_headers and not trusted:
        raise InputError(
            "--proxy-headers trusts X-Forwarded-* only from the proxies you name, and none "
            "is named",
            field="--forwarded-allow-ips",
            allowed="the addresses or networks of your reverse proxies, e.g. "
            "--forwarded-allow-ips 127.0.0.1 (or OPTIN_FORWARDED_ALLOW_IPS)",
        )
    if trusted and not proxy_headers:
        raise InputError(
            "--forwarded-allow-ips names trusted proxies but --proxy-headers is off",
            field="--proxy-headers",
            allowed="add --proxy-headers, or drop --forwarded-allow-ips",
        )
    return trusted


@apikey_app.command("create")
def apikey_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A name for the client, e.g. 'settings-service'."),
    scope: list[str] = typer.Option(
        ...,
        "--scope",
        help="Scope(s): consents:write, eligibility:read, receipts:read, "
        "snapshots:read, members:read, members:write, members:erase (repeat the option or "
        "separate with commas).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an API key; its secret is printed once and never stored in clear."""
    from optin.services import web_auth
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    db.require_initialized()
    with db.session() as s:
        key = web_auth.create_api_key(s, name, scope, now=datetime.now(UTC))
    if as_json:
        print_json({"id": key.key_id, "key": key.token, "scopes": list(key.scopes)})
        return
    console.print(
        f"API key [bold]{esc(key.key_id)}[/] ({esc(', '.join(key.scopes))}). "
        "Store it now; it is not shown again:"
    )
    typer.echo(key.token)


@apikey_app.command("list")
def apikey_list(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """List API keys (never their secrets)."""
    from optin.services import web_auth
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    db.require_initialized()
    with db.session() as s:
        rows = [
            {
                "id": r.id,
                "name": r.name,
                "scopes": r.scopes.split(),
                "created_at": r.created_at.isoformat(),
                "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
            }
            for r in web_auth.list_api_keys(s)
        ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        scopes = r["scopes"]
        shown = " ".join(scopes) if isinstance(scopes, list) else str(scopes)
        console.print(esc(f"{r['id']}  {r['name']}  {shown}  {state}"))


@apikey_app.command("revoke")
def apikey_revoke(
    ctx: typer.Context,
    key_id: str = typer.Argument(..., help="The key id (the part after 'optin_')."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Revoke an API key; requests with it fail with 401 from now on."""
    from optin.services import web_auth
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    db.require_initialized()
    now = datetime.now(UTC)
    with db.session() as s:
        web_auth.revoke_api_key(s, key_id, now=now)
    if as_json:
        print_json({"id": key_id, "revoked": True, "at": now.isoformat()})
        return
    console.print(f"revoked API key {esc(key_id)}")


@user_app.command("set-password")
def user_set_password(
    ctx: typer.Context,
    handle: str = typer.Argument(..., help="The member's handle."),
    password: str = typer.Option(
        ...,
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="New password (8+ chars).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Set a member's web login password (argon2id)."""
    from optin.services import web_auth
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    db.require_initialized()
    with db.session() as s:
        web_auth.set_password(s, handle.lstrip("@"), password)
    if as_json:
        print_json({"handle": handle.lstrip("@"), "password_set": True})
        return
    console.print(f"password set for @{esc(handle.lstrip('@'))}")


@user_app.command("set-role")
def user_set_role(
    ctx: typer.Context,
    handle: str = typer.Argument(..., help="The member's handle."),
    role: str = typer.Argument(..., help="member or admin"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Give a member the admin role, or take it away."""
    from optin.services import web_auth
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    db.require_initialized()
    with db.session() as s:
        plain = web_auth.set_role(s, handle, role)
    if as_json:
        print_json({"handle": plain, "role": role})
        return
    console.print(f"@{esc(plain)} is now {esc(role)}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(apikey_app, name="apikey")
    app.add_typer(user_app, name="user")
