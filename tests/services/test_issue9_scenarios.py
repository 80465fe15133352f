"""Issue 9, end to end on a hand-made platform (imported as a new user would, through
`optin import`): the minor's post and the DE member's post stay out of the snapshot,
with the capacity reasons in the manifest, and verify agrees. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from optin.domain.eligibility import Reason
from optin.services.consent import record_consent
from optin.services.eligibility import decide_all
from optin.services.imports import import_file
from optin.services.members import update_member
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from tests.pipeline.helpers import PURPOSE, build

NOW = datetime(2025, 6, 2, tzinfo=UTC)
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)

MEMBERS = [
    # id, handle, birth date, country
    ("m01", "ada.moreno", "1990-05-17", "US"),
    ("m05", "jonas.weber", "1985-01-01", "DE"),  # moves to the US later
    ("m09", "maya.chen", "2007-03-15", "US"),  # 17 when she switches on
]
TEXTS = {
    "m01": "We walked along the river at sunrise and counted eleven herons on the bank.",
    "m05": "The bakery on the corner now sells rye bread with caraway seeds on Fridays.",
    "m09": "Our robotics club finally got the line-following robot to take the sharp turn.",
}


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_minor_grant_and_grant_while_excluded_stay_out_of_the_snapshot(
    db: Database, tmp_path: Path
) -> None:
    members = [
        {
            "id": mid,
            "handle": handle,
            "display_name": handle.replace(".", " ").title(),
            "birth_date": birth,
            "joined_at": "2024-02-01T00:00:00Z",
            "country": country,
        }
        for mid, handle, birth, country in MEMBERS
    ]
    imported = datetime(2024, 2, 1, 12, tzinfo=UTC)
    import_file(db, "members", _jsonl(tmp_path / "members.jsonl", members), now=imported)
    content = [
        {
            "id": f"post-{mid}",
            "author_id": mid,
            "kind": "post",
            "visibility": "public",
            "text": text,
            "language": "en",
            "created_at": "2024-06-02T10:00:00Z",
        }
        for mid, text in TEXTS.items()
    ]
    posted = datetime(2024, 6, 3, tzinfo=UTC)
    import_file(db, "content", _jsonl(tmp_path / "content.jsonl", content), now=posted)
    # each switched on when it happened (recorded when made)
    for mid, at in (
        ("m01", datetime(2024, 3, 1, tzinfo=UTC)),
        ("m05", datetime(2024, 3, 1, tzinfo=UTC)),  # while living in DE (excluded)
        ("m09", datetime(2024, 6, 1, tzinfo=UTC)),  # aged 17
    ):
        record_consent(db, mid, PURPOSE, "on", source="web", now=at)
    moved = datetime(2024, 9, 1, tzinfo=UTC)
    update_member(db, "m05", country="US", effective_at=moved, now=moved, source="cli")

    reasons = {d.member_id: d.reason for d in decide_all(db, PURPOSE, AS_OF)}
    assert reasons == {
        "m01": Reason.ELIGIBLE,
        "m05": Reason.GRANT_GIVEN_WHILE_EXCLUDED,
        "m09": Reason.GRANT_GIVEN_AS_MINOR,  # 18 since 2025-03-15: still void
    }

    settings = Settings(home=tmp_path / "home", database_url=db.url)
    r = build(db, settings, now=NOW, as_of=AS_OF, shard_size=10)
    assert r.records == 1
    consent = {s["step"]: s for s in r.manifest["counts"]["steps"]}["consent"]
    assert consent["dropped"] == {"GRANT_GIVEN_AS_MINOR": 1, "GRANT_GIVEN_WHILE_EXCLUDED": 1}
    rep = verify_snapshot(db, settings, r.snapshot_id, now=NOW, rescan=False)
    assert rep.status == "pass", rep.to_dict()
