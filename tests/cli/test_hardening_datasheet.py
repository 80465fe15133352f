"""Admin-written policy text is inert in ``datasheet.md`` and the Croissant description."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from markdown_it import MarkdownIt

from optin.domain.policy import default_policy_text
from optin.pipeline.documents import md_text
from optin.services.policy import publish_policy
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database

HOSTILE = (
    "Train <img src=x onerror=alert(1)> <script>alert(2)</script> *bold* "
    "[click](javascript:alert(3)) a_b `code` | pipe & amp\n# heading"
)


def test_md_text_renders_back_to_the_original_characters() -> None:
    html = MarkdownIt().render(f"x ({md_text(HOSTILE)}) y")
    assert "<img" not in html and "<script" not in html and "<a " not in html
    assert "<em>" not in html and "<code>" not in html and "<h1>" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "*bold*" in html and "[click](javascript:alert(3))" in html and "a_b" in html


def test_when_a_policy_title_holds_html_then_the_datasheet_shows_it_as_text(
    sqlite_db: Database, tmp_path
) -> None:
    text = default_policy_text().replace(
        'title = "Use my content to train content-creation AI models"',
        f"title = {json.dumps(HOSTILE)}",
    )
    now = datetime(2026, 6, 1, tzinfo=UTC)
    publish_policy(
        sqlite_db,
        text,
        now=now,
        effective_at=datetime(2024, 6, 1, tzinfo=UTC),
        allow_backdate=True,
    )
    settings = Settings(home=tmp_path / "home", database_url=sqlite_db.url)
    r = build_snapshot(
        sqlite_db, settings, "train_own_models", now, engine="inline", workers=1, now=now
    )
    sheet = (r.path / "datasheet.md").read_text("utf-8")
    html = MarkdownIt().render(sheet)
    assert "<img" not in html and "<script" not in html and 'href="javascript' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    croissant = json.loads((r.path / "croissant.json").read_text("utf-8"))
    assert "<script>" not in croissant["description"]
    assert "&lt;script&gt;" in croissant["description"]
