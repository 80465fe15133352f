"""A small platform with a ``share_with_providers`` snapshot, for provider-export tests.

``share_world(db, settings)``: six US adults (``p1`` .. ``p6``), three public posts each
(distinct texts, so nothing is deduplicated), all of them granted
``share_with_providers`` on 2026-05-01, and a snapshot of that purpose as of
:data:`AS_OF` built at :data:`BUILT`. ``Clock`` is a settable clock for workers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from optin.pipeline.config import BuildConfig
from optin.services.consent import record_consent
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import ContentRow
from tests.factories import add_members

SHARE = "share_with_providers"
RECIPIENT = "Azure OpenAI Service (Microsoft)"
GRANTED = datetime(2026, 5, 1, tzinfo=UTC)
AS_OF = datetime(2026, 5, 15, tzinfo=UTC)
BUILT = datetime(2026, 5, 20, tzinfo=UTC)
EXPORTED = datetime(2026, 5, 21, tzinfo=UTC)
WITHDRAWN = datetime(2026, 5, 22, tzinfo=UTC)

_WORDS = tuple(
    [
        "pipeline",
        "roadmap",
        "quarterly",
        "launch",
        "analytics",
        "mentoring",
        "hiring",
        "onboarding",
        "design",
        "review",
        "customer",
        "feedback",
        "logistics",
        "warehouse",
        "forecasting",
        "cloud",
        "migration",
        "security",
        "audit",
        "workshop",
        "conference",
        "keynote",
        "volunteering",
        "sustainability",
        "procurement",
        "budget",
        "planning",
        "research",
        "prototype",
        "accessibility",
        "testing",
        "deployment",
        "retrospective",
        "partnership",
        "growth",
        "marketing",
        "campaign",
        "storytelling",
        "leadership",
        "coaching",
        "internship",
        "portfolio",
        "negotiation",
        "compliance",
        "inventory",
        "supplier",
        "dashboard",
        "latency",
        "throughput",
        "reliability",
        "observability",
    ]
)


def _text(rng: random.Random) -> str:
    words = rng.sample(_WORDS, 14)
    return f"This week our team worked on {' '.join(words)} and we learned a lot together."


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def share_world(
    db: Database, settings: Settings, *, members: int = 6, posts: int = 3, seed: int = 11
) -> str:
    """Build the world; returns the snapshot id."""
    rng = random.Random(seed)
    ids = [f"p{i}" for i in range(1, members + 1)]
    add_members(db, [{"id": m} for m in ids])
    rows = [
        {
            "id": f"c-{m}-{j}",
            "author_id": m,
            "kind": "post",
            "visibility": "public",
            "text": _text(rng),
            "language": "en",
            "created_at": datetime(2026, 4, 1, tzinfo=UTC) + timedelta(hours=i * posts + j),
            "edited_at": None,
            "deleted_at": None,
        }
        for i, m in enumerate(ids)
        for j in range(posts)
    ]
    with db.session() as s:
        s.execute(ContentRow.__table__.insert(), rows)
    for m in ids:
        record_consent(db, m, SHARE, "grant", source="web", now=GRANTED, at=GRANTED)
    cfg = BuildConfig(purpose=SHARE, shard_size=7, row_group_size=7)
    r = build_snapshot(db, settings, SHARE, AS_OF, engine="inline", config=cfg, now=BUILT)
    assert r.records == members * posts, r.manifest["counts"]
    return r.snapshot_id


def withdraw(db: Database, member_id: str, at: datetime = WITHDRAWN) -> None:
    record_consent(db, member_id, SHARE, "withdraw", source="web", now=at, at=at)
