"""``optin signals robots-txt|tdmrep``: the platform-level AI-use signals as files a
platform's web server can publish at ``/robots.txt`` and ``/.well-known/tdmrep.json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from optin.cli.context import console, print_json
from optin.cli.core import open_db
from optin.cli.output import esc

if TYPE_CHECKING:
    from optin.services.signals import PlatformSignals

signals_app = typer.Typer(
    help="Consent as AI-use signals for whole content paths (robots.txt, TDMRep).",
    no_args_is_help=True,
)
PATH_OPT = typer.Option(
    ..., "--path", help="A content path of the platform (repeatable), e.g. /posts/."
)
OUT_OPT = typer.Option(
    None, "--out", help="Write the file here (atomically) instead of printing it.", dir_okay=False
)


JSON_FLAG = typer.Option(
    False, "--json", help="Print one JSON document: the file's text or rules, and what it covers."
)


def _emit(text: str, out: Path | None, doc: dict[str, object] | None = None) -> None:
    """Print ``text`` (or write it to ``out``); with ``doc`` (``--json``) print ``doc``
    instead, with ``out`` named in it when the file was written."""
    if doc is not None:
        if out is not None:
            from optin.files import atomic_write_bytes

            atomic_write_bytes(out, text.encode("utf-8"))
        print_json({**doc, "out": None if out is None else str(out)})
        return
    if out is None:
        typer.echo(text, nl=False)
        return
    from optin.files import atomic_write_bytes

    atomic_write_bytes(out, text.encode("utf-8"))
    console.print(esc(f"wrote {out}"), highlight=False)


def robots_txt(
    ctx: typer.Context,
    path: list[str] = PATH_OPT,
    user_agent: str = typer.Option("*", "--user-agent", help="The group's User-Agent."),
    out: Path = OUT_OPT,
    as_json: bool = JSON_FLAG,
) -> None:
    """A robots.txt group with `Content-Usage: PATH train-ai=n` per content path
    (draft-ietf-aipref-attach-05): the opt-in default; opted-in items say `train-ai=y` in
    their own Content-Usage header."""
    from optin.services.signals import platform_signals

    db = open_db(ctx)
    sig = platform_signals(db, path, now=datetime.now(UTC))
    text = sig.robots_txt(user_agent=user_agent)
    _emit(text, out, _doc(sig, robots_txt=text) if as_json else None)


def tdmrep(
    ctx: typer.Context,
    path: list[str] = PATH_OPT,
    policy_url: str = typer.Option(
        None, "--policy-url", help="An https:// TDM policy to name as tdm-policy."
    ),
    out: Path = OUT_OPT,
    as_json: bool = JSON_FLAG,
) -> None:
    """A W3C TDMRep (Final CG Report, 10 May 2024) /.well-known/tdmrep.json:
    `tdm-reservation: 1` per content path (the opt-in default; opted-in items send
    `tdm-reservation: 0` in their own header)."""
    from optin.errors import InputError
    from optin.services.signals import platform_signals

    if policy_url is not None and not policy_url.startswith("https://"):
        raise InputError(
            f"--policy-url {policy_url!r} is not an https:// URL",
            field="--policy-url",
            allowed="an https:// URL",
        )
    db = open_db(ctx)
    sig = platform_signals(db, path, now=datetime.now(UTC))
    rules = sig.tdmrep(policy_url=policy_url)
    _emit(json.dumps(rules, indent=2) + "\n", out, _doc(sig, tdmrep=rules) if as_json else None)


def _doc(sig: PlatformSignals, **body: object) -> dict[str, object]:
    return {
        "at": sig.at.isoformat(),
        "policy_version": sig.policy_version,
        "paths": list(sig.paths),
        **body,
    }


def register(app: typer.Typer) -> None:
    signals_app.command("robots-txt")(robots_txt)
    signals_app.command("tdmrep")(tdmrep)
    app.add_typer(signals_app, name="signals")
