"""`optin provider`, `optin export` (JSONL kinds and provider exports) and `optin outbox`
through the real entry point, against a provider stub on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optin.cli.main import run
from optin.services import provider_exports
from optin.settings import Settings
from optin.storage.database import Database
from tests.provider_stub import ProviderStub
from tests.provider_world import RECIPIENT, WITHDRAWN, share_world, withdraw


@pytest.fixture()
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("OPTIN_DATABASE_URL", db.url)
    monkeypatch.setenv("COLUMNS", "200")
    home = tmp_path / "home"

    def invoke(*args: str) -> tuple[int, str, str]:
        rc = run(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return rc, out, err

    invoke.settings = Settings(home=home, database_url=db.url)  # type: ignore[attr-defined]
    return invoke


def test_provider_export_and_outbox_commands(cli, db: Database, tmp_path: Path) -> None:
    settings = cli.settings
    sid = share_world(db, settings)
    rc, out, err = cli("provider", "public-key", "--json")
    assert rc == 0, err
    stub = ProviderStub(json.loads(out)["public_key"]).up()
    try:
        rc, out, err = cli("provider", "add", RECIPIENT, "--webhook-url", stub.url, "--json")
        assert rc == 0, err
        provider = json.loads(out)
        assert provider["deadline_days"] == 30
        rc, _, err = cli("provider", "add", "Acme AI", "--webhook-url", "https://acme.example/h")
        assert rc == 0, err
        rc, out, _ = cli("provider", "list", "--json")
        assert [p["name"] for p in json.loads(out)] == ["Acme AI", RECIPIENT]

        rc, _, err = cli("export", "create", sid, "--provider", "Acme AI", "--format", "hf-parquet")
        assert rc == 77 and "allowed: Azure OpenAI Service (Microsoft)" in err
        rc, _, err = cli("export", "create", sid, "--provider", RECIPIENT, "--format", "csv")
        assert rc == 65 and "--format" in err
        rc, out, err = cli(
            "export", "create", sid, "--provider", RECIPIENT, "--format", "openai-chat-jsonl",
            "--by", "ops", "--json",
        )  # fmt: skip
        assert rc == 0, err
        export = json.loads(out)
        assert export["records"] == 18 and export["sharing_record"]["shared_by"] == "ops"
        assert (settings.home / export["path"] / "train.jsonl").exists()
        rc, out, _ = cli("export", "list", "--json")
        assert [e["id"] for e in json.loads(out)] == [export["id"]]
        rc, out, _ = cli("provider", "show", provider["id"], "--json")
        assert [e["id"] for e in json.loads(out)["exports"]] == [export["id"]]

        withdraw(db, "p2")
        # the withdrawal already queued the notice (propagation hook); calling again is a no-op
        provider_exports.on_members_ineligible(
            db, ["p2"], reason="consent withdrawn", now=WITHDRAWN
        )
        rc, out, _ = cli("export", "list", "--json")
        [listed] = json.loads(out)
        assert listed["status"] == "stale" and listed["stale_count"] == 3
        assert listed["stale_reason"] in (
            "consent withdrawn",
            "withdrawal",
        )  # the automatic hook names it "withdrawal"
        rc, out, _ = cli("export", "list")
        assert rc == 0 and "stale" in out
        rc, out, err = cli("outbox", "run", "--once", "--json")
        assert rc == 0, err
        assert json.loads(out)["delivered"] == 1 and len(stub.notices) == 1

        # the notice was created 2026-05-22 with a 30-day deadline: overdue by now
        rc, out, _ = cli("export", "status", "--json")
        status = json.loads(out)
        assert status["counts"]["delivered"] == 1 and status["counts"]["overdue"] == 1
        assert [n["id"] for n in status["overdue"]] == list(stub.notices)
        rc, out, _ = cli("export", "status")
        assert rc == 0 and "overdue 1" in out
        rc, out, _ = cli("export", "status", export["id"], "--json")
        detail = json.loads(out)
        assert detail["export"]["status"] == "stale" and len(detail["notices"]) == 1

        rc, out, err = cli("provider", "key", RECIPIENT, "--json")
        assert rc == 0 and json.loads(out)["scopes"] == ["provider:ack"]
    finally:
        stub.down()


def test_export_kinds_keep_their_options(cli, tmp_path: Path) -> None:
    for kind in ("members", "content", "consents"):
        rc, out, err = cli("export", kind, "-o", str(tmp_path / f"{kind}.jsonl"), "--json")
        assert rc == 0, err
        assert json.loads(out) == {
            "kind": kind,
            "output": str(tmp_path / f"{kind}.jsonl"),
            "records": 0,
        }
    rc, out, _ = cli("export", "--help")
    assert rc == 0 and all(c in out for c in ("members", "create", "list", "status"))
    rc, out, _ = cli("outbox", "run", "--help")
    assert rc == 0 and "--once" in out and "--max-seconds" in out
