"""The log's web routes (TestClient) and, in a real browser, a member downloading a
proof file that ``optin log verify`` checks with no database and no network."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from optin.services import consent
from optin.services import tlog as svc
from optin.tlog import merkle
from optin.tlog.checkpoint import Checkpoint, ProofFile
from optin.tlog.note import Verifier
from tests.browser import CHROMIUM, launch, login, serve
from tests.web.conftest import World, csrf_of

HISTORY = "/settings/data-privacy/history"


def _toggle(c, purpose: str, choice: str) -> None:  # type: ignore[no-untyped-def]
    c.post(
        "/settings/data-privacy/generative-ai",
        data={"purpose": purpose, "choice": choice, "csrf_token": csrf_of(c)},
    )


def test_log_routes_and_member_proof(world: World, tmp_path: Path) -> None:
    vkey, _, _ = svc.keygen(world.settings)
    c = world.login("alice")
    _toggle(c, "train_own_models", "on")
    _toggle(c, "train_own_models", "off")
    events = consent.consent_history(world.db, "m-alice")
    assert len(events) == 2
    note = c.get("/log/checkpoint").text
    cp, _ = Checkpoint.open(note, [Verifier.parse(vkey)])
    assert cp.size == 2 and cp.origin == world.settings.log_origin
    r = c.get("/log/consistency", params={"old": 1, "new": 2})
    proof = [base64.b64decode(x) for x in r.text.split()]
    assert r.status_code == 200 and len(proof) == 1
    assert c.get("/log/consistency", params={"old": 3, "new": 2}).status_code == 422
    public = ProofFile.decode(c.get(f"/log/proof/{events[0].event_id}").text)
    assert public.extra is None and public.index in (0, 1)
    assert c.get("/log/proof/no-such-event").status_code == 404

    r = c.get(f"{HISTORY}/{events[0].event_id}/receipt.tlog-proof")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment;")
    assert "receipt.tlog-proof" in c.get(HISTORY).text
    path = tmp_path / "p.tlog-proof"
    path.write_text(r.text)
    res = svc.verify_proof_text(r.text, vkey)
    assert res["event_id"] == events[0].event_id
    # another member cannot fetch alice's proof file
    bob = world.login("bob")
    assert bob.get(f"{HISTORY}/{events[0].event_id}/receipt.tlog-proof").status_code == 404
    assert merkle.verify_consistency(1, 2, proof, _root_at(world, 1), cp.root)


def _root_at(world: World, size: int) -> bytes:
    from optin.storage import tlog as store

    with world.db.session() as s:
        got = store.node_getter(s, [(0, 0)])
        return merkle.range_hash(got, 0, size)


# -- a real browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """``optin serve`` as it runs: a real uvicorn server on 127.0.0.1 whose lifespan runs
    the checkpoint publisher, with one witness on 127.0.0.1 cosigning."""
    from optin.services.demo import generate_demo
    from optin.services.witness import WitnessService, make_server
    from optin.settings import Settings
    from optin.storage import tlog as store
    from optin.storage.database import Database
    from optin.web import create_app

    home = tmp_path_factory.mktemp("log-browser-home")
    settings = Settings(home=home)
    db = Database.open(settings)
    generate_demo(db, members=20, posts=40, seed=5, now=datetime.now(UTC))
    vkey, _, _ = svc.keygen(settings)
    wkey, _, _ = svc.keygen(settings, path=home / "w.key", name="w.test/w1", alg=0x04)
    witness = make_server(
        WitnessService(home / "w.key", home / "w.state", [Verifier.parse(vkey)]),
        "127.0.0.1",
        0,
        lambda: datetime.now(UTC),
    )
    threading.Thread(target=witness.serve_forever, daemon=True).start()
    settings.log_witnesses = [f"http://127.0.0.1:{witness.server_port} {wkey}"]
    app = create_app(settings, db=db, log_publisher=True)

    def cosigned() -> bool:  # the publisher has a cosigned checkpoint of the demo ledger
        with db.session() as s:
            cp = store.latest_checkpoint(s)
        return cp is not None and cp.size > 0 and bool(cp.cosigners)

    with serve(app, lifespan="on", ready=cosigned) as base:
        yield base, vkey, wkey
    witness.shutdown()
    witness.server_close()
    db.dispose()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_member_downloads_proof_and_verifies_it_offline(
    demo_server: tuple[str, str, str], tmp_path: Path
) -> None:
    base, vkey, wkey = demo_server
    with launch() as b:
        page = b.new_context(accept_downloads=True).new_page()
        login(page, base, "ada", "demo-ada-2024")
        page.goto(f"{base}{HISTORY}")
        link = page.get_by_role("link", name="Proof").first
        href = link.get_attribute("href") or ""
        with page.expect_download() as dl:
            link.click()
        assert dl.value.suggested_filename.endswith(".tlog-proof")
        saved = tmp_path / dl.value.suggested_filename
        dl.value.save_as(saved)
    event_id = href.split("/")[-2]
    pf = ProofFile.decode(saved.read_text("utf-8"))
    assert pf.extra is not None
    bundle = json.loads(pf.extra)  # the receipt, its salt and the proof in one file
    receipt = bundle["receipt"]
    assert receipt["record"]["dct:identifier"] == event_id
    assert receipt["proof"]["log_leaf_index"] == pf.index  # the receipt carries its leaf

    # a machine copy with no database: only the file and the keys, an empty home, and a
    # database URL that nothing listens on (any attempt to open a database would fail)
    copy = tmp_path / "copy"
    empty = copy / "home"
    empty.mkdir(parents=True)
    proof = copy / "receipt.tlog-proof"
    proof.write_bytes(saved.read_bytes())
    (copy / "log.vkey").write_text(vkey + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIN_")}
    env["OPTIN_HOME"] = str(empty)
    env["OPTIN_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    out = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "log", "verify", str(proof), "--key",
         str(copy / "log.vkey"), "--witness", wkey, "--quorum", "1"],
        capture_output=True, text=True, env=env, cwd=copy, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "proof verified" in out.stdout and event_id in out.stdout
    assert "cosigned by w.test/w1" in out.stdout
    assert list(empty.iterdir()) == []  # nothing was created: no database was opened
    tampered = saved.read_text().replace("index ", "index 1", 1)
    (copy / "bad.tlog-proof").write_text(tampered)
    bad = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "log", "verify",
         str(copy / "bad.tlog-proof"), "--key", vkey],
        capture_output=True, text=True, env=env, cwd=copy, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0 and "does not verify" in bad.stderr


def test_admin_ledger_page_reports_a_missing_quorum(world: World) -> None:
    _, _, _ = svc.keygen(world.settings)
    wkey = svc.keygen(world.settings, path=world.settings.home / "w.key", name="w.test/w", alg=4)
    world.settings.log_witnesses = [f"http://127.0.0.1:9 {wkey[0]}"]  # nobody listens there
    c = world.login("admin")
    alice = world.login("alice")
    _toggle(alice, "train_own_models", "on")
    assert c.get("/log/checkpoint").status_code == 200
    page = c.get("/admin/ledger").text
    assert 'id="tlog-status"' in page and "0 of 1 configured (quorum 1)" in page
    assert 'id="tlog-quorum"' in page


def test_receipts_carry_their_leaf_index(any_world: World) -> None:
    from optin.services.receipts import receipt
    from optin.storage import tlog as store

    world = any_world
    svc.keygen(world.settings)
    c = world.login("alice")
    for choice in ("on", "off", "on"):
        _toggle(c, "train_own_models", choice)
    svc.publish_checkpoint(world.db, world.settings, now=datetime.now(UTC), force=True)
    for e in consent.consent_history(world.db, "m-alice"):
        got = receipt(world.db, e.event_id)["proof"]["log_leaf_index"]
        with world.db.session() as s:
            leaf = store.event_leaf(s, e.event_id)
        assert leaf is not None and got == leaf[0]
        pf = svc.member_proof_file(
            world.db, world.settings, "m-alice", e.event_id, now=datetime.now(UTC)
        )
        assert pf.index == got
