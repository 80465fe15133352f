"""``optin log`` and ``optin witness`` through ``optin.cli.main.run``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from optin.cli.main import run
from optin.settings import Settings
from optin.tlog import merkle
from optin.tlog.checkpoint import Checkpoint, ProofFile
from optin.tlog.note import Verifier
from tests.factories import add_member


@pytest.fixture()
def cli(db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)
    monkeypatch.setenv("OPTIN_LOG_CHECKPOINT_INTERVAL", "0")
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = run(["--home", str(db_settings.home), *args])
        out, err = capsys.readouterr()
        return rc, out, " ".join(err.split())

    return invoke


def test_log_commands(cli, db_settings: Settings, tmp_path: Path) -> None:
    from optin.storage.database import Database

    db = Database(db_settings.db_url)
    add_member(db, "m-ada", handle="ada", country="FR")
    db.dispose()
    rc, out, _ = cli("log", "keygen")
    vkey = out.strip().splitlines()[-1]
    assert rc == 0 and Verifier.parse(vkey).name == "optin.local/consent-log"
    assert (db_settings.home / "keys" / "log.key").stat().st_mode & 0o777 == 0o600
    rc, out, _ = cli("log", "checkpoint")  # the empty tree: size 0, SHA-256("")
    assert rc == 0 and Checkpoint.open(out, [Verifier.parse(vkey)])[0].root == merkle.EMPTY_ROOT
    ids = []
    for switch in ("on", "off", "on"):
        rc, out, err = cli("consent", "set", "ada", "train_own_models", switch, "--json")
        assert rc == 0, err
        ids.append(json.loads(out)["event_id"])
    rc, note, _ = cli("log", "checkpoint")
    cp, _ = Checkpoint.open(note, [Verifier.parse(vkey)])
    assert rc == 0 and cp.size == 3
    rc, out, _ = cli("log", "prove", ids[1])
    pf = ProofFile.decode(out)
    assert rc == 0 and pf.index == 1 and len(pf.proof) == 2
    # the member's own file, written by the operator for them, opens and verifies
    member_file = tmp_path / "member.tlog-proof"
    rc, out, err = cli("log", "prove", ids[1], "--member", "ada", "--out", str(member_file))
    assert rc == 0 and "wrote" in out, err
    rc, out, err = cli("log", "verify", str(member_file), "--key", vkey, "--json")
    assert rc == 0, err
    assert json.loads(out)["event_id"] == ids[1]
    rc, _, err = cli("log", "prove", ids[1], "--member", "m-nobody")
    assert rc != 0 and "nobody" in err
    rc, out, _ = cli("log", "consistency", "1", "3")
    assert rc == 0 and len(out.split()) == 2
    proof = [base64.b64decode(x) for x in out.split()]
    assert len(proof) == 2
    rc, _, err = cli("log", "consistency", "3", "9")
    assert rc != 0 and "0 <= old <= new <= 3" in err
    rc, out, _ = cli("log", "status", "--json")
    assert rc == 0 and json.loads(out)["tree_size"] == 3
    rc, out, err = cli("log", "audit")
    assert rc == 0, err
    assert "chain, tree and checkpoint agree" in out
    rc, out, err = cli("ledger", "verify")
    assert rc == 0 and "ledger intact" in out, err
    rc, _, err = cli("log", "rebuild")
    assert rc != 0 and "--force" in err  # checkpoints exist: a rebuild would fork the log
    rc, out, _ = cli("log", "rebuild", "--force")
    assert rc == 0 and "3 leaves" in out
    rc, _, err = cli("log", "audit")  # same events, new salts: not the published tree
    assert rc != 0 and "rewritten" in err
    rc, _, err = cli("ledger", "verify")  # the chain is fine; the tree is not the signed one
    assert rc != 0 and "transparency log" in err and "rewritten" in err
    # a public proof file has no receipt bundle: verify says why
    (tmp_path / "public.tlog-proof").write_text(pf.encode())
    rc, _, err = cli("log", "verify", str(tmp_path / "public.tlog-proof"), "--key", vkey)
    assert rc != 0 and "no receipt bundle" in err


def test_witness_keygen_prints_a_cosignature_key(cli, tmp_path: Path) -> None:
    rc, out, _ = cli("witness", "keygen", "witness.test/w1", "--key", str(tmp_path / "w.key"))
    v = Verifier.parse(out.strip())
    assert rc == 0 and v.alg == 0x04 and v.name == "witness.test/w1"
    assert (tmp_path / "w.key").stat().st_mode & 0o777 == 0o600
