"""End to end on a small demo platform (needs the ``train`` extra; CI installs it):
snapshot → verify → train with member-level DP and 2 shards → a member withdraws →
the model is flagged → derive → ``train update`` retrains the withdrawn member's cohort
only → by lineage the new adapter's training set holds none of the member's records,
the old adapter's files are gone, and the member's page data says which version held
their records and which no longer does.

The membership-inference AUC on the withdrawn member's records after ``update`` (with
canaries and held-out members) is measured in ``test_audit_end_to_end.py``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from optin.errors import ConflictError  # noqa: E402
from optin.services.consent import record_consent  # noqa: E402
from optin.services.demo import generate_demo  # noqa: E402
from optin.services.derive import derive_snapshot  # noqa: E402
from optin.services.lineage import member_lineage, snapshot_lineage  # noqa: E402
from optin.services.models import member_models, show_model  # noqa: E402
from optin.services.training import TrainOptions, train_model, update_model  # noqa: E402
from optin.services.verify import verify_snapshot  # noqa: E402
from optin.settings import Settings  # noqa: E402
from optin.storage.database import Database  # noqa: E402
from optin.storage.repos import models as repo  # noqa: E402
from tests.pipeline.helpers import DEMO_NOW, PURPOSE, build  # noqa: E402

torch.set_num_threads(1)
T1 = DEMO_NOW + timedelta(hours=1)
T2 = DEMO_NOW + timedelta(hours=2)
T3 = DEMO_NOW + timedelta(hours=3)

OPTS = TrainOptions(
    shards=2,
    dp_epsilon=8.0,
    dp_delta=1e-5,
    max_examples_per_member=2,
    steps=5,
    batch=6,
    layers=1,
    width=64,
    context=64,
)


def _authors(db: Database, component_id: str) -> dict[str, int]:
    with db.session() as s:
        return repo.component_authors(s, component_id)


@pytest.mark.slow
def test_train_withdraw_derive_update_forgets_by_lineage(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    db = Database.open(settings)
    generate_demo(db, members=120, posts=900, seed=2, now=DEMO_NOW, accounts=False)
    sid = build(db, settings).snapshot_id
    assert verify_snapshot(db, settings, sid, now=T1).status == "pass"

    res = train_model(db, settings, sid, OPTS, now=T1)
    v1 = res.path
    card = json.loads((v1 / "model_card.json").read_text())
    assert (v1 / "README.md").read_text().startswith("---")
    assert card["snapshot"]["id"] == sid and card["snapshot"]["manifest_sha256"]
    assert card["ledger"]["at_training"]["length"] >= card["ledger"]["snapshot"]["length"]
    p = card["privacy"]
    assert p["unit"] == "member" and p["epsilon"] <= 8.0 and p["max_examples_per_member"] == 2
    assert p["accountant"].startswith("RDP") and p["noise_multiplier"] > 0
    cohorts = card["sharding"]["cohorts"]
    assert len(cohorts) == 2 and all((v1 / c["adapter"]).is_dir() for c in cohorts)
    lin = snapshot_lineage(db, sid)
    assert [m["model_id"] for m in lin["models"]] == [res.model_id]
    assert lin["models"][0]["privacy_unit"] == "member"
    assert lin["models"][0]["privacy"] == p  # the whole guarantee, in the lineage too
    with pytest.raises(ConflictError, match="nothing to retrain"):
        update_model(db, settings, res.model_id, now=T1)

    # a member of cohort 0 withdraws: the model is flagged with the count
    parts = {c["name"]: c for c in show_model(db, res.model_id)["components"]}
    old = next(n for n in parts if n.startswith("cohort-00"))
    member, n_records = max(_authors(db, f"{res.model_id}/{old}").items(), key=lambda kv: kv[1])
    assert member_models(db, member)[0]["contains_member"]
    record_consent(db, member, PURPOSE, "withdraw", source="cli", at=T2, now=T2)
    info = show_model(db, res.model_id)["model"]
    assert info["status"] == "needs_retrain" and info["needs_retrain_records"] == n_records
    assert "cohorts 0" in info["needs_retrain_reason"]

    child = derive_snapshot(db, settings, sid, now=T3)
    upd = update_model(db, settings, res.model_id, now=T3)
    assert upd.version == 2 and upd.snapshot_id == child.snapshot_id
    assert upd.retrained == ["cohort-00-v2"]  # only the affected cohort
    assert [k.rsplit("/", 1)[1] for k in upd.kept] == [
        n for n in parts if n.startswith("cohort-01")
    ]
    # by lineage: the new adapter's training set holds none of the member's records
    new_authors = _authors(db, f"{res.model_id}/cohort-00-v2")
    assert member not in new_authors and new_authors
    # the old adapter's files (and every weight of v1) are gone; v1's card stays
    assert not (v1 / "adapters").exists() and not (v1 / "base").exists()
    assert sorted(p.name for p in v1.iterdir()) == ["README.md", "model_card.json"]
    assert (upd.path / "adapters" / "cohort-00-v2").is_dir()
    after = {c["name"]: c for c in show_model(db, res.model_id)["components"]}
    assert (
        after[old]["status"] == "destroyed"
        and "no longer eligible" in after[old]["destroyed_reason"]
    )
    assert show_model(db, res.model_id)["model"]["status"] == "active"
    # the member's page: v1 held their records, v2 no longer does
    views = {v["version"]: v for v in member_lineage(db, member)["model_versions"]}
    assert views[1]["contains_member"] and views[1]["status"] == "superseded"
    assert not views[2]["contains_member"] and views[2]["status"] == "current"
    card2 = json.loads((upd.path / "model_card.json").read_text())
    assert card2["previous_version"]["records_removed"] == n_records
    assert card2["sharding"]["retired"][0]["component"] == old

    # the new version loads as one model (mean of the adapters' logits)
    from optin.training.lm import load_model

    model, tok = load_model(upd.path)
    ids = torch.tensor([tok("hello there", add_special_tokens=False)["input_ids"]])
    assert model(input_ids=ids).logits.shape[-1] == len(tok)
