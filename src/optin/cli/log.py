"""``optin log`` (the consent transparency log) and ``optin witness`` commands."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import typer

from optin.cli.context import console, print_json, settings_from
from optin.cli.core import JSON_OPT, open_db, say
from optin.errors import IntegrityError
from optin.files import atomic_write_bytes

log_app = typer.Typer(
    help="The consent transparency log: checkpoints, proofs, verification.",
    no_args_is_help=True,
)
witness_app = typer.Typer(
    help="A witness that cosigns consistent log checkpoints (c2sp.org/tlog-witness).",
    no_args_is_help=True,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


@log_app.command("keygen")
def keygen_cmd(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Create the log's Ed25519 note key and the platform's manifest key (mode 0600;
    kept if they exist) and print the manifest verifier key (for `optin snapshot verify
    --manifest-key`), then, last, the log's verifier key (name+hash+base64)."""
    from optin.services.tlog import keygen, manifest_vkey

    settings = settings_from(ctx)
    vkey, path, created = keygen(settings)
    if as_json:
        print_json(
            {
                "key_file": str(path),
                "created": created,
                "log_vkey": vkey,
                "manifest_vkey": manifest_vkey(settings),
            }
        )
        return
    if created:
        console.print(f"created {path}", highlight=False, style="dim")
    else:
        console.print(f"{path} exists; kept it", highlight=False, style="dim")
    console.print(f"manifest verifier key: {manifest_vkey(settings)}", highlight=False, style="dim")
    typer.echo(vkey)


@log_app.command("checkpoint")
def checkpoint_cmd(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Sign now, whatever the interval."),
    as_json: bool = JSON_OPT,
) -> None:
    """Integrate new ledger events and print the latest (cosigned) checkpoint note."""
    from optin.services.tlog import publish_checkpoint

    settings = settings_from(ctx)
    db = open_db(ctx)
    try:
        cp = publish_checkpoint(db, settings, now=_now(), force=force)
    finally:
        db.dispose()
    if as_json:
        print_json(
            None
            if cp is None
            else {
                "size": cp.size,
                "root": _b64(cp.root),
                "created_at": cp.created_at.isoformat(),
                "cosigners": list(cp.cosigners),
                "note": cp.cosigned,
            }
        )
        return
    if cp is None:
        say("the log is empty: no checkpoint yet")
        return
    typer.echo(cp.cosigned, nl=False)


@log_app.command("prove")
def prove_cmd(
    ctx: typer.Context,
    event_id: str = typer.Argument(..., help="Ledger event id."),
    out: Path = typer.Option(None, "--out", help="Write the .tlog-proof file here."),
    member: str = typer.Option(
        None,
        "--member",
        help="Member id or @handle: write the member's own proof file instead (receipt "
        "+ salt + proof, what the member downloads and `optin log verify` opens); the "
        "event must be theirs.",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Print (or write) the inclusion proof of a ledger event (c2sp.org/tlog-proof)."""
    from optin.services.tlog import inclusion_proof_file, member_proof_file

    db = open_db(ctx)
    try:
        if member is None:
            pf = inclusion_proof_file(db, settings_from(ctx), event_id, now=_now())
        else:
            from optin.services.consent import resolve_member
            from optin.services.receipts import receipt

            mid = resolve_member(db, member)
            pf = member_proof_file(
                db, settings_from(ctx), mid, event_id, now=_now(), receipt=receipt(db, event_id)
            )
    finally:
        db.dispose()
    if out is not None:
        atomic_write_bytes(out, pf.encode().encode("utf-8"))
    if as_json:
        print_json(
            {
                "event_id": event_id,
                "index": pf.index,
                "proof": [_b64(h) for h in pf.proof],
                "checkpoint": pf.checkpoint,
                "file": pf.encode(),
                "out": None if out is None else str(out),
            }
        )
        return
    if out is not None:
        say(f"wrote {out} (leaf {pf.index})")
        return
    typer.echo(pf.encode(), nl=False)


@log_app.command("consistency")
def consistency_cmd(
    ctx: typer.Context,
    old: int = typer.Argument(..., help="Older tree size."),
    new: int = typer.Argument(..., help="Newer tree size (at most the tree's size)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Print the RFC 6962 consistency proof between two tree sizes (base64, one a line)."""
    from optin.services.tlog import consistency

    db = open_db(ctx)
    try:
        proof = consistency(db, old, new)
    finally:
        db.dispose()
    if as_json:
        print_json({"old": old, "new": new, "proof": [_b64(h) for h in proof]})
        return
    for h in proof:
        typer.echo(_b64(h))


@log_app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., help="A .tlog-proof file (a member's download)."),
    key: str = typer.Option(..., "--key", help="The log's verifier key, or a file with it."),
    witness: list[str] = typer.Option(
        [], "--witness", help="A witness verifier key to count cosignatures of (repeatable)."
    ),
    quorum: int = typer.Option(0, "--quorum", help="Cosignatures required (default 0)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Check a proof file offline: no database, no network."""
    from optin.services.tlog import verify_proof_text

    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise IntegrityError(f"cannot read the proof file {file}: {e}") from None
    res = verify_proof_text(text, key, witness)
    if len(res["cosigners"]) < quorum:
        raise IntegrityError(
            f"the checkpoint carries {len(res['cosigners'])} known cosignatures, "
            f"--quorum {quorum} needed"
        )
    if as_json:
        print_json(res)
        return
    say(
        f"[green]proof verified[/]: event {res['event_id']} ({res['purpose']}, {res['action']} "
        f"at {res['at']}) is leaf {res['index']} of {res['origin']} at size "
        f"{res['tree_size']}; cosigned by {', '.join(res['cosigners']) or 'no known witness'}"
    )


@log_app.command("rebuild")
def rebuild_cmd(
    ctx: typer.Context,
    force: bool = typer.Option(
        False, "--force", help="Rebuild although checkpoints were published (forks the log)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Build the tree once over the existing ledger, in order (migration/backfill)."""
    from optin.services.tlog import rebuild

    db = open_db(ctx)
    try:
        state = rebuild(db, now=_now(), force=force)
    finally:
        db.dispose()
    if as_json:
        print_json({"size": state.size, "root": _b64(state.root)})
        return
    say(f"tree built: {state.size} leaves, root {_b64(state.root)}")


@log_app.command("status")
def status_cmd(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Tree size, latest checkpoint, cosigners; exit 3 when the quorum is not met."""
    from optin.services.tlog import log_status

    settings = settings_from(ctx)
    db = open_db(ctx)
    try:
        st = log_status(db, settings)
    finally:
        db.dispose()
    if as_json:
        print_json(st.to_dict())
    else:
        say(
            f"tree {st.tree_size} leaves (ledger {st.ledger_length}); latest checkpoint "
            f"{st.checkpoint_size if st.checkpoint_size is not None else '-'}; cosigned by "
            f"{len(st.cosigners)} of {st.witnesses} witnesses (quorum {st.quorum})"
        )
    if not st.quorum_met:
        raise IntegrityError(
            f"the latest checkpoint has {len(st.cosigners)} cosignatures, the quorum is {st.quorum}"
        )


@log_app.command("audit")
def audit_cmd(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Check the chain, the tree against the chain, and the tree against the latest
    checkpoint (a rewritten history fails here)."""
    from optin.services.ledger import verify_ledger
    from optin.services.tlog import integrate, verify_log

    settings = settings_from(ctx)
    db = open_db(ctx)
    try:
        chain = verify_ledger(db)
        if chain.ok:
            integrate(db, now=_now())
        report = verify_log(db, settings)
    finally:
        db.dispose()
    if as_json:
        print_json({"chain": chain.to_dict(), "tree": report.to_dict()})
    if not chain.ok:
        raise IntegrityError(f"ledger chain: {chain.problem}", where=f"seq {chain.first_bad_seq}")
    if not report.ok:
        raise IntegrityError(f"transparency log: {report.problem}")
    if not as_json:
        say(
            f"[green]chain, tree and checkpoint agree[/]: {report.size} leaves, "
            f"{report.checked_commitments} commitments opened, root {report.root}"
        )


@witness_app.command("keygen")
def witness_keygen_cmd(
    name: str = typer.Argument(..., help="Witness name, e.g. witness.example.org/w1."),
    key: Path = typer.Option(..., "--key", help="Key file to create (mode 0600)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Create a witness cosigning key (type 0x04) and print its verifier key."""
    from optin.services.tlog import keygen
    from optin.settings import Settings

    vkey, path, created = keygen(Settings(), path=key, name=name, alg=0x04)
    if as_json:
        print_json({"name": name, "key_file": str(path), "created": created, "vkey": vkey})
        return
    typer.echo(vkey)


@witness_app.command("serve")
def witness_serve_cmd(
    key: Path = typer.Option(..., "--key", help="The witness key file."),
    log_key: list[str] = typer.Option(..., "--log", help="A trusted log verifier key."),
    state: Path = typer.Option(..., "--state", help="State file (latest checkpoint per log)."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(7380, "--port"),
) -> None:
    """Serve POST /add-checkpoint: cosign consistent checkpoints, refuse the rest."""
    from optin.services.tlog import parse_vkey
    from optin.services.witness import WitnessService, make_server

    service = WitnessService(key, state, [parse_vkey(k, "--log") for k in log_key])
    server = make_server(service, host, port, _now)
    say(f"witness {service.vkey} on http://{host}:{server.server_port}")
    try:
        server.serve_forever()
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.add_typer(log_app, name="log")
    app.add_typer(witness_app, name="witness")
