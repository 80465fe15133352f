"""``optin train`` through the CLI (needs the ``train`` extra; CI installs it): a stale
snapshot is refused unless ``--allow-stale --reason`` (recorded, ineligible records left
out), a tampered one always; ``--base PATH`` fine-tunes a local model directory;
``optin model list|show|retire``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from optin.cli.main import run  # noqa: E402
from optin.services.consent import record_consent  # noqa: E402
from optin.services.demo import generate_demo  # noqa: E402
from optin.services.snapshots import build_snapshot  # noqa: E402
from optin.settings import Settings  # noqa: E402
from optin.storage.database import Database  # noqa: E402
from optin.storage.repos import models as repo  # noqa: E402

torch.set_num_threads(1)
pytestmark = pytest.mark.slow
FAST = ["--steps", "2", "--batch", "4", "--context", "32", "--quiet"]


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object]:
    capsys.readouterr()
    rc = run(list(args))
    out = capsys.readouterr().out
    return rc, (json.loads(out) if rc == 0 and out.strip().startswith(("{", "[")) else out)


def test_train_cli_stale_base_path_and_model_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    db = Database.open(settings)
    now = datetime.now(UTC) - timedelta(minutes=30)
    generate_demo(db, members=60, posts=400, seed=4, now=now, accounts=False)
    sid = build_snapshot(db, settings, "train_own_models", engine="inline", now=now).snapshot_id
    h = ["--home", str(home)]
    with db.session() as s:
        from sqlalchemy import func, select

        from optin.storage.models import SnapshotRecordRow

        member, n = s.execute(
            select(SnapshotRecordRow.author_id, func.count())
            .where(SnapshotRecordRow.snapshot_id == sid)
            .group_by(SnapshotRecordRow.author_id)
            .order_by(func.count().desc())
        ).first()
    record_consent(db, member, "train_own_models", "withdraw", source="cli", now=datetime.now(UTC))

    capsys.readouterr()
    assert run([*h, "train", sid, *FAST]) == 75
    assert "--allow-stale" in capsys.readouterr().err
    assert run([*h, "train", sid, "--allow-stale", *FAST]) == 65
    assert "--reason" in capsys.readouterr().err
    rc, out = _json(
        capsys, *h, "train", sid, "--allow-stale", "--reason", "audit rerun", *FAST, "--json"
    )
    assert rc == 0, out
    assert isinstance(out, dict)
    mid, path = out["model_id"], Path(out["path"])
    card = json.loads((path / "model_card.json").read_text())
    assert card["allow_stale"] == {"reason": "audit rerun", "stale_records": n, "left_out": True}
    assert card["privacy"] is None and "No differential privacy" in card["privacy_statement"]
    with db.session() as s:
        assert member not in repo.component_authors(s, f"{mid}/model-v1")

    # --base PATH: fine-tune the model just written (a local HF directory)
    rc, out2 = _json(
        capsys,
        *h,
        "train",
        sid,
        "--allow-stale",
        "--reason",
        "r",
        "--base",
        str(path),
        "--dp-epsilon",
        "4",
        "--dp-delta",
        "1e-5",
        "--dp-unit",
        "example",
        *FAST,
        "--json",
    )
    assert rc == 0, out2
    assert isinstance(out2, dict)
    card2 = json.loads((Path(out2["path"]) / "model_card.json").read_text())
    assert card2["base"]["kind"] == "path" and card2["privacy"]["unit"] == "example"
    assert "NOT per member" in card2["privacy_statement"]

    # a member in model 2's training set withdraws: flagged with the count; `train
    # update` (no shards) retrains the whole model on the derived snapshot
    mid2 = out2["model_id"]
    with db.session() as s:
        authors2 = repo.component_authors(s, f"{mid2}/model-v1")
    other, n_other = max(authors2.items(), key=lambda kv: kv[1])
    record_consent(db, other, "train_own_models", "withdraw", source="cli", now=datetime.now(UTC))
    rc, listing = _json(capsys, *h, "model", "list", "--json")
    assert isinstance(listing, list)
    flagged = next(m for m in listing if m["id"] == mid2)
    assert flagged["status"] == "needs_retrain" and flagged["needs_retrain_records"] == n_other
    rc, upd = _json(capsys, *h, "train", "update", mid2, "--quiet", "--json")
    assert rc == 0 and isinstance(upd, dict), upd
    assert upd["version"] == 2 and upd["retrained"] == ["model-v2"] and upd["snapshot_id"] != sid
    v1 = Path(out2["path"])
    assert sorted(p.name for p in v1.iterdir()) == ["README.md", "model_card.json"]
    with db.session() as s:
        assert other not in repo.component_authors(s, f"{mid2}/model-v2")

    rc, listing = _json(capsys, *h, "model", "list", "--json")
    assert (
        rc == 0
        and isinstance(listing, list)
        and {m["id"] for m in listing} == {mid, out2["model_id"]}
    )
    assert run([*h, "model", "show", mid]) == 0
    rc, gone = _json(capsys, *h, "model", "retire", mid, "--reason", "replaced", "--json")
    assert rc == 0 and isinstance(gone, dict) and "model.safetensors" in gone["destroyed"]
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "model_card.json"]

    # a tampered shard fails verification: never trained on
    shard = next((home / "snapshots" / sid / "data").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    capsys.readouterr()
    assert run([*h, "train", sid, "--allow-stale", "--reason", "r", *FAST]) == 3
    assert "failed verification" in capsys.readouterr().err
