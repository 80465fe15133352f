"""The core CLI commands, run through ``optin.cli.main.run`` (exit codes, output)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from optin.cli.main import run
from optin.domain.policy import default_policy_text
from optin.settings import Settings
from optin.storage.database import Database
from tests.factories import add_member
from tests.storage.test_ledger import TAMPERING, _fill


@pytest.fixture()
def cli(db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``optin ...`` against the test database; returns (rc, stdout, stderr)."""
    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = run(["--home", str(db_settings.home), *args])
        out, err = capsys.readouterr()
        return rc, out, " ".join(err.split())

    return invoke


def _json(out: str) -> dict:
    return json.loads(out)


def test_when_init_twice_then_idempotent(cli) -> None:
    rc, out, _ = cli("init", "--json")
    assert rc == 0 and _json(out)["default_policy_published"] is False  # fixture did init
    rc, out, _ = cli("init")
    assert rc == 0 and "ready" in out


def test_when_init_on_fresh_home_then_database_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPTIN_DATABASE_URL", raising=False)
    home = tmp_path / "fresh"
    assert run(["--home", str(home), "ledger", "verify"]) == 78  # not initialised yet
    assert "optin init" in capsys.readouterr().err
    assert run(["--home", str(home), "init", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["default_policy_published"] is True and (home / "optin.db").exists()
    assert run(["--home", str(home), "ledger", "verify"]) == 0


def test_consent_set_show_history_eligibility_receipt(cli, db: Database) -> None:
    add_member(db, "m1", country="IN")
    # a live choice is never backdated (issue 9): `--at` in the past is refused
    rc, _, err = cli(
        "consent", "set", "m1", "train_own_models", "on", "--at", "2024-03-01", "--json"
    )
    assert rc == 65 and "backdated" in err
    rc, out, err = cli("consent", "set", "m1", "train_own_models", "on", "--json")
    assert rc == 0, err
    ev = _json(out)
    assert ev["action"] == "grant" and ev["seq"] == 1 and ev["at"].endswith("Z")
    granted = datetime.fromisoformat(ev["at"])

    rc, out, _ = cli("consent", "show", "m1", "--json")
    states = {p["purpose"]: p for p in _json(out)["purposes"]}
    assert states["train_own_models"]["switched_on"] is True
    assert states["train_own_models"]["decision"]["reason"] == "ELIGIBLE"
    rc, out, _ = cli("eligibility", "m1", "--purpose", "train_own_models", "--json")
    d = _json(out)
    assert rc == 0 and d["eligible"] is True and d["consent_event_id"] == ev["event_id"]
    assert d["policy_version"] == 1 and d["explanation"]

    rc, out, _ = cli("consent", "set", "m1", "train_own_models", "off")
    assert rc == 0 and "off" in out
    rc, out, _ = cli("consent", "show", "m1")
    assert rc == 0 and "WITHDRAWN" in out

    rc, out, _ = cli("consent", "history", "m1", "--json")
    events = _json(out)["events"]
    assert [e["action"] for e in events] == ["grant", "withdraw"]
    assert datetime.fromisoformat(events[1]["at"]) >= granted
    rc, out, _ = cli("consent", "history", "m1")
    assert rc == 0 and ev["event_id"][:8] in out

    rc, out, _ = cli("eligibility", "m1", "--purpose", "train_own_models")
    assert rc == 0 and "NOT ELIGIBLE" in out and "WITHDRAWN" in out

    rc, out, _ = cli("receipt", ev["event_id"], "--json")
    rec = _json(out)
    assert rc == 0 and rec["state"]["value"] == "given"
    assert rec["jurisdiction"]["dpv:hasJurisdiction"] == "IN"
    assert rec["proof"]["ledger_seq"] == 1
    rc, out, _ = cli("receipt", ev["event_id"])
    assert rc == 0 and "dpv:ConsentGiven" in out


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("consent", "set", "ghost", "train_own_models", "on"), 66, "ghost"),
        (("consent", "set", "m1", "nope", "on"), 66, "valid purposes"),
        (("consent", "set", "m1", "train_own_models", "maybe"), 65, "allowed: on, off"),
        (("consent", "set", "m1", "train_own_models", "on", "--at", "soon"), 65, "--at"),
        (("consent", "set", "m1", "train_own_models", "on", "--at", "2999-01-01"), 65, "future"),
        (("eligibility", "m1", "--purpose", "nope"), 66, "valid purposes"),
        (("eligibility", "m1", "--purpose", "train_own_models", "--at", "13/2024"), 65, "--at"),
        (("receipt", "no-such-event"), 66, "no-such-event"),
        (("policy", "show", "--version", "9"), 66, "published versions"),
    ],
)
def test_when_bad_input_then_exit_code_and_message(cli, db: Database, args, code, needle) -> None:
    add_member(db, "m1")
    rc, _, err = cli(*args)
    assert rc == code, err
    assert needle in err
    assert "Traceback" not in err


def test_policy_show_and_publish(cli, tmp_path: Path) -> None:
    rc, out, _ = cli("policy", "show", "--json")
    data = _json(out)
    assert rc == 0 and data["version"] == 1 and "DE" in data["jurisdictions"]["excluded"]
    rc, out, _ = cli("policy", "show")
    assert rc == 0 and "train_own_models" in out
    rc, out, _ = cli("policy", "show", "--document")
    assert out == default_policy_text()

    f = tmp_path / "p.toml"
    f.write_text(default_policy_text(), encoding="utf-8")
    rc, _, err = cli("policy", "publish", str(f), "--effective-at", "2025-01-01")
    assert rc == 75 and "in the past" in err and "--allow-backdate" in err
    rc, out, err = cli(
        "policy",
        "publish",
        str(f),
        "--allow-backdate",
        "--effective-at",
        "2025-01-01",
        "--material",
        "share_with_providers",
        "--json",
    )
    assert rc == 0, err
    assert _json(out)["version"] == 2
    assert _json(out)["material"] == ["share_with_providers"]
    rc, _, err = cli(
        "policy", "publish", str(f), "--allow-backdate", "--effective-at", "2024-06-01"
    )
    assert rc == 75 and "effective" in err
    rc, _, err = cli("policy", "publish", str(f), "--material", "nope")
    assert rc == 78 and "nope" in err
    rc, _, err = cli("policy", "publish", str(tmp_path / "missing.toml"))
    assert rc == 65 and "missing.toml" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("purposes = [", encoding="utf-8")
    rc, _, err = cli("policy", "publish", str(bad))
    assert rc == 65 and "bad.toml" in err
    rc, out, _ = cli("policy", "show", "--version", "2", "--json")
    assert _json(out)["material"] == ["share_with_providers"]


def test_when_ledger_intact_then_verify_exits_0(cli, db: Database) -> None:
    _fill(db, 5)
    rc, out, _ = cli("ledger", "verify", "--json")
    assert rc == 0 and _json(out)["ok"] is True and _json(out)["length"] == 5
    rc, out, _ = cli("ledger", "verify")
    assert rc == 0 and "intact" in out


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_when_ledger_tampered_then_verify_exits_3_naming_seq(cli, db: Database, kind: str) -> None:
    _fill(db, 6)
    seq = TAMPERING[kind](db)
    rc, _, err = cli("ledger", "verify")
    assert rc == 3
    assert f"seq {seq}" in err
    rc, out, _ = cli("ledger", "verify", "--json")
    assert rc == 3 and _json(out)["first_bad_seq"] == seq


@pytest.mark.parametrize("ref", ["m7", "ada", "@ada"])
def test_when_member_given_by_id_or_handle_then_same_member(cli, db: Database, ref: str) -> None:
    add_member(db, "m7", handle="ada", country="US")
    rc, out, err = cli("consent", "set", ref, "train_own_models", "on", "--json")
    assert rc == 0, err
    assert _json(out)["member_id"] == "m7"
    rc, out, _ = cli("eligibility", ref, "--purpose", "train_own_models", "--json")
    assert rc == 0 and _json(out)["member_id"] == "m7" and _json(out)["eligible"] is True
    rc, out, _ = cli("consent", "history", ref, "--json")
    assert (
        rc == 0 and len(_json(out)["events"] if isinstance(_json(out), dict) else _json(out)) == 1
    )
    rc, _, err = cli("consent", "show", "@nobody")
    assert rc == 66 and "@nobody" in err
