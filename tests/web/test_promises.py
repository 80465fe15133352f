"""Every promise the member pages make is true in code today.

The member settings page and *Your data and AI* are rendered for a demo member (Ada);
every sentence of their promise-bearing text (the leads, each purpose's description
and facts, the notes) is split out and must match a claim in :data:`CLAIMS`, whose check
then tests it against what the system does: builds, exports, notices, the ledger, the
lineage graph, the model registry. A sentence no claim covers fails the test, so new
text needs a check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from optin.domain.eligibility import eligibility
from optin.errors import PermissionDeniedError
from optin.services import ledger, provider_exports, providers
from optin.services.consent import record_consent
from optin.services.demo import generate_demo
from optin.services.policy import current_policy, policy_set
from optin.services.snapshots import build_snapshot, get_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.members import member_histories
from optin.storage.models import (
    ConsentEventRow,
    ContentRow,
    LineageEdgeRow,
    MemberRow,
    SnapshotRecordRow,
)
from optin.storage.provider_models import DeletionNoticeRow, ExportRecordRow
from optin.web import create_app
from optin.web.templating import fmt_dt
from tests.web.conftest import csrf_of, login_token

pytestmark = pytest.mark.slow
SETTINGS = "/settings/data-privacy/generative-ai"
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"
TRAIN, SHARE = "train_own_models", "share_with_providers"
PROVIDER = "Mistral AI"
SRC = Path(__file__).resolve().parents[2] / "src" / "optin"
#: promises the pages must not make (nothing in the system does these yet)


# -- the world -----------------------------------------------------------------------


@dataclass
class World:
    db: Database
    settings: Settings
    client: TestClient
    ada: str
    snaps: dict[str, str]  # purpose -> snapshot id built before any withdrawal
    export_id: str
    seen: dict[str, Any] = field(default_factory=dict)

    def records(self, snapshot_id: str, author: str | None = None) -> set[str]:
        with self.db.session() as s:
            q = select(SnapshotRecordRow.record_id).where(
                SnapshotRecordRow.snapshot_id == snapshot_id
            )
            if author is not None:
                q = q.where(SnapshotRecordRow.author_id == author)
            return set(s.execute(q).scalars())

    def toggle(self, purpose: str, choice: str) -> None:
        r = self.client.post(
            SETTINGS,
            data={"purpose": purpose, "choice": choice, "csrf_token": csrf_of(self.client)},
        )
        assert r.status_code == 303, r.text

    def build(self, purpose: str) -> str:
        return build_snapshot(
            self.db, self.settings, purpose, engine="inline", now=datetime.now(UTC)
        ).snapshot_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("promises")
    settings = Settings(home=home)
    db = Database.open(settings)
    now = datetime.now(UTC)
    generate_demo(db, members=40, posts=240, seed=3, now=now)
    with db.session() as s:
        ada = s.execute(select(MemberRow.id).where(MemberRow.handle == "ada")).scalar_one()
    for p in (TRAIN, SHARE):
        record_consent(db, ada, p, "grant", source="web", now=now)
    snaps = {
        p: build_snapshot(db, settings, p, engine="inline", now=datetime.now(UTC)).snapshot_id
        for p in (TRAIN, SHARE)
    }
    providers.add_provider(db, PROVIDER, webhook_url="http://127.0.0.1:9/optin", now=now)
    export = provider_exports.create_export(
        db, settings, snaps[SHARE], PROVIDER, "hf-parquet", now=datetime.now(UTC), actor="t"
    )
    client = TestClient(create_app(settings, db=db), follow_redirects=False)
    r = client.post(
        "/login",
        data={"handle": "ada", "password": "demo-ada-2024", "csrf_token": login_token(client)},
    )
    assert r.status_code == 303
    yield World(db, settings, client, ada, snaps, export.id)
    db.dispose()


# -- extracting the promises -----------------------------------------------------------


class _Blocks(HTMLParser):
    """Text of the elements that carry promises: ``p.lead``, ``p.muted``, ``p.msg``,
    the paragraphs of each ``section.purpose``, the ``dd`` of ``dl.facts``, and
    ``#lineage-summary`` / ``#exports li``."""

    VOID = {"input", "br", "img", "meta", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.blocks: list[str] = []
        self._buf: list[str] | None = None
        self._depth = 0

    def _wanted(self, tag: str, attrs: dict[str, str]) -> bool:
        cls = set((attrs.get("class") or "").split())
        parents = [t for t, _ in self.stack]
        in_purpose = any(t == "section.purpose" for t in parents)
        in_facts = "dl.facts" in parents
        return (
            (tag == "p" and bool(cls & {"lead", "muted", "msg"}))
            or (tag == "p" and in_purpose)
            or (tag == "dd" and in_facts)
            or (tag == "li" and "ul#exports" in parents)
            or attrs.get("id") == "lineage-summary"
        )

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in attrs_list}
        if tag in self.VOID:
            return
        name = tag
        if tag == "section" and "purpose" in (attrs.get("class") or "").split():
            name = "section.purpose"
        elif tag == "dl" and "facts" in (attrs.get("class") or "").split():
            name = "dl.facts"
        elif tag == "ul" and attrs.get("id") == "exports":
            name = "ul#exports"
        start = self._buf is None and self._wanted(tag, attrs)
        if start:
            self._buf = []
        self.stack.append((name, start))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or not self.stack:
            return
        _name, started = self.stack.pop()
        if started and self._buf is not None:
            self.blocks.append(" ".join("".join(self._buf).split()))
            self._buf = None

    def handle_data(self, data: str) -> None:
        if self._buf is not None:
            self._buf.append(data)


def sentences(html: str) -> list[str]:
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    parser = _Blocks()
    parser.feed("<main" + main + "</main>")
    out: list[str] = []
    for block in parser.blocks:
        for part in re.split(r"(?<=[.!?])\s+(?=[A-Z'\"])", block):
            if part.strip():
                out.append(part.strip())
    return out


# -- the checks ------------------------------------------------------------------------


def _snapshot_authors_eligible(w: World, _m: re.Match[str]) -> None:
    """Nobody's content is in a snapshot without a grant that counts at its as-of."""
    ps = policy_set(w.db)
    with w.db.session() as s:
        granted = set(
            s.execute(
                select(ConsentEventRow.member_id).where(ConsentEventRow.action == "grant")
            ).scalars()
        )
        members = int(s.scalar(select(func.count()).select_from(MemberRow)) or 0)
    for purpose, sid in w.snaps.items():
        snap = get_snapshot(w.db, sid)
        with w.db.session() as s:
            authors = set(
                s.execute(
                    select(SnapshotRecordRow.author_id)
                    .where(SnapshotRecordRow.snapshot_id == sid)
                    .distinct()
                ).scalars()
            )
            hist = member_histories(s, sorted(authors))
        assert authors and authors <= granted and len(authors) < members
        for a in authors:
            assert eligibility(hist[a], purpose, snap.as_of, ps).eligible, (purpose, a)


def _one_switch_per_use(w: World, _m: re.Match[str]) -> None:
    page = w.client.get(SETTINGS).text
    pv = current_policy(w.db, datetime.now(UTC))
    for pid in pv.purposes:
        assert page.count(f'id="t-{pid}"') == 1, pid
    assert page.count('role="switch"') == len(pv.purposes)


def _ledger_and_receipt(w: World, _m: re.Match[str]) -> None:
    before = ledger.ledger_status(w.db).seq
    w.toggle(TRAIN, "off")
    w.toggle(TRAIN, "on")
    assert ledger.ledger_status(w.db).seq == before + 2
    assert ledger.verify_ledger(w.db).ok
    with w.db.session() as s:
        last = s.execute(
            select(ConsentEventRow.event_id)
            .where(ConsentEventRow.member_id == w.ada)
            .order_by(ConsentEventRow.seq.desc())
            .limit(1)
        ).scalar_one()
    r = w.client.get(f"/settings/data-privacy/history/{last}/receipt.json")
    assert r.status_code == 200 and last in r.text


def _content_of_snapshots(w: World) -> list[Any]:
    with w.db.session() as s:
        return list(
            s.execute(
                select(ContentRow.kind, ContentRow.visibility)
                .join(SnapshotRecordRow, SnapshotRecordRow.content_id == ContentRow.id)
                .where(SnapshotRecordRow.snapshot_id.in_(list(w.snaps.values())))
            ).all()
        )


def _only_public_posts_articles_comments(w: World, _m: re.Match[str]) -> None:
    rows = _content_of_snapshots(w)
    assert rows
    assert {k for k, _ in rows} <= {"post", "article", "comment"}
    assert {v for _, v in rows} == {"public"}
    with w.db.session() as s:  # the demo has the other kinds, so leaving them out is real
        kinds = set(s.execute(select(ContentRow.kind).distinct()).scalars())
        vis = set(s.execute(select(ContentRow.visibility).distinct()).scalars())
    assert {"message", "profile"} <= kinds and len(vis) > 1


def _shard_texts(w: World, sid: str) -> dict[str, str]:
    manifest = get_snapshot(w.db, sid).manifest or {}
    base = w.settings.home / "snapshots" / sid
    out: dict[str, str] = {}
    for f in manifest["files"]:
        t = pq.read_table(base / f["path"], columns=["record_id", "text"])
        out.update(zip(t["record_id"].to_pylist(), t["text"].to_pylist(), strict=True))
    return out


def _personal_data_removed(w: World, _m: re.Match[str]) -> None:
    """Against the demo's ground truth (written by the generator, not the redactor):
    no e-mail address or phone number of a snapshot's items is left in its shards, and
    names are removed at the redactor's measured recall."""
    truth = {}
    for line in (w.settings.home / "demo" / "ground_truth.jsonl").read_text().splitlines():
        item = json.loads(line)
        truth[item["id"]] = [
            (item["text"][s["start"] : s["end"]], s["label"]) for s in item["spans"]
        ]
    names = names_left = 0
    for sid in w.snaps.values():
        texts = _shard_texts(w, sid)
        with w.db.session() as s:
            rows = s.execute(
                select(SnapshotRecordRow.record_id, SnapshotRecordRow.content_id).where(
                    SnapshotRecordRow.snapshot_id == sid
                )
            ).all()
        for rid, cid in rows:
            for value, label in truth.get(cid, []):
                if label in ("EMAIL", "PHONE"):
                    assert value not in texts[rid], (sid, label)
                elif label == "PERSON":
                    names += 1
                    names_left += value in texts[rid]
    assert names > 0 and names_left / names <= 0.10, (names_left, names)


def _shared_only_with_named_recipients(w: World, _m: re.Match[str]) -> None:
    now = datetime.now(UTC)
    pv = current_policy(w.db, now)
    assert PROVIDER in pv.purposes[SHARE].recipients
    providers.add_provider(w.db, "Unnamed AI Inc", webhook_url="http://127.0.0.1:9/x", now=now)
    with pytest.raises(PermissionDeniedError, match="allowed: "):
        provider_exports.create_export(
            w.db, w.settings, w.snaps[SHARE], "Unnamed AI Inc", "hf-parquet", now=now, actor="t"
        )
    e = provider_exports.get_export(w.db, w.export_id)
    assert e.snapshot_id == w.snaps[SHARE] and e.legal_basis == "consent"


def _recipients_listed(w: World, m: re.Match[str]) -> None:
    pv = current_policy(w.db, datetime.now(UTC))
    listed = [r.strip() for r in m.group(0).rstrip(".").split(";")]
    assert listed in [list(p.recipients) or ["the platform"] for p in pv.purposes.values()]


def _used_and_never(w: World, _m: re.Match[str]) -> None:
    _only_public_posts_articles_comments(w, _m)


_NEVER = {
    "private messages": lambda k, v: k == "message",
    "your profile": lambda k, v: k == "profile",
    "anything shared with your connections": lambda k, v: v == "connections",
    "anything private": lambda k, v: v == "private",
}


def _never_used(w: World, m: re.Match[str]) -> None:
    """Each thing named after "Never:" is absent from every snapshot."""
    things = re.split(r", | and ", m.group(1).lower())
    assert things and set(things) <= set(_NEVER), things
    rows = _content_of_snapshots(w)
    for thing in things:
        assert not any(_NEVER[thing](k, v) for k, v in rows), thing


def _train_off(w: World, _m: re.Match[str]) -> None:
    """Off: later training sets leave Ada out; the earlier one is stale at once."""
    if "train_off" in w.seen:
        return
    mine = w.records(w.snaps[TRAIN], w.ada)
    assert mine
    w.toggle(TRAIN, "off")
    snap = get_snapshot(w.db, w.snaps[TRAIN])
    assert snap.status == "stale" and snap.stale_records == len(mine)
    later = w.build(TRAIN)
    assert w.records(later, w.ada) == set()
    w.seen["train_off"] = later


def _train_off_page(w: World, _m: re.Match[str]) -> None:
    _train_off(w, _m)
    page = w.client.get(YOUR_DATA).text
    row = page.split(f">{w.snaps[TRAIN]}</a>", 1)[1].split("</tr>", 1)[0]
    assert '<td data-label="Status">stale</td>' in row


def _share_off(w: World, _m: re.Match[str]) -> None:
    """Off: a notice asks the provider to delete exactly Ada's exported records, and a
    later export leaves her out."""
    if "share_off" in w.seen:
        return
    with w.db.session() as s:
        exported = sorted(
            s.execute(
                select(ExportRecordRow.record_id).where(
                    ExportRecordRow.export_id == w.export_id, ExportRecordRow.member_id == w.ada
                )
            ).scalars()
        )
    assert exported
    w.toggle(SHARE, "off")
    with w.db.session() as s:
        notices = list(s.execute(select(DeletionNoticeRow)).scalars())
    assert [json.loads(n.payload)["record_ids"] for n in notices] == [exported]
    later = provider_exports.create_export(
        w.db, w.settings, w.snaps[SHARE], PROVIDER, "hf-parquet", now=datetime.now(UTC), actor="t"
    )
    with w.db.session() as s:
        assert not s.execute(
            select(ExportRecordRow.record_id).where(
                ExportRecordRow.export_id == later.id, ExportRecordRow.member_id == w.ada
            )
        ).all()
    w.seen["share_off"] = later.id


def _last_change(w: World, m: re.Match[str]) -> None:
    with w.db.session() as s:
        rows = s.execute(
            select(ConsentEventRow.action, ConsentEventRow.at).where(
                ConsentEventRow.member_id == w.ada
            )
        ).all()
    action = "grant" if m.group(1) == "on" else "withdraw"
    assert any(a == action and fmt_dt(at) == m.group(2) for a, at in rows), m.group(0)


def _policy_in_force(w: World, m: re.Match[str]) -> None:
    pv = current_policy(w.db, datetime.now(UTC))
    assert int(m.group(1)) == pv.version and m.group(2) == fmt_dt(pv.effective_at, False)


def _links_work(w: World, _m: re.Match[str]) -> None:
    for path in ("/settings/data-privacy/history", YOUR_DATA):
        assert w.client.get(path).status_code == 200


def _lead_your_data(w: World, _m: re.Match[str]) -> None:
    """The page lists exactly the snapshots holding Ada's items and the exports that
    included them; each snapshot's page shows before and after."""
    page = w.client.get(YOUR_DATA).text
    with w.db.session() as s:
        sids = set(
            s.execute(
                select(SnapshotRecordRow.snapshot_id)
                .where(SnapshotRecordRow.author_id == w.ada)
                .distinct()
            ).scalars()
        )
        exports = set(
            s.execute(
                select(ExportRecordRow.export_id)
                .where(ExportRecordRow.member_id == w.ada)
                .distinct()
            ).scalars()
        )
    assert set(re.findall(rf'href="{YOUR_DATA}/([^"]+)"', page)) == sids
    assert set(re.findall(r'<li id="export-([^"]+)"', page)) == exports
    detail = w.client.get(f"{YOUR_DATA}/{w.snaps[TRAIN]}").text
    assert "Before" in detail and "After (in the training set)" in detail


def _summary(w: World, m: re.Match[str]) -> None:
    """Counts, providers, withdrawal and removal dates match the database."""
    text = m.group(0)
    with w.db.session() as s:
        n = s.scalar(select(func.count()).where(SnapshotRecordRow.author_id == w.ada))
        withdrawals = s.execute(
            select(ConsentEventRow.at).where(
                ConsentEventRow.member_id == w.ada, ConsentEventRow.action == "withdraw"
            )
        ).scalars()
        notice = (
            s.execute(select(DeletionNoticeRow.created_at).order_by(DeletionNoticeRow.created_at))
            .scalars()
            .first()
        )
    assert text.startswith(f"Your {n:,} item(s) are in ")
    assert f"and 1 export to {PROVIDER}" in text
    for at in withdrawals:
        assert fmt_dt(at, False) in text
    assert notice is not None
    assert f"removal from {PROVIDER} requested on {fmt_dt(notice, False)}" in text


def _export_item(w: World, m: re.Match[str]) -> None:
    e = provider_exports.get_export(w.db, m.group(3))
    assert e.provider == m.group(1) and e.snapshot_id == m.group(4)
    assert fmt_dt(e.created_at) == m.group(2) and e.status == m.group(5)
    with w.db.session() as s:
        n = s.scalar(
            select(func.count()).where(
                ExportRecordRow.export_id == e.id, ExportRecordRow.member_id == w.ada
            )
        )
    assert m.group(0).split(" received ")[1].startswith(f"{n} of your items")


def _removal_requested(w: World, m: re.Match[str]) -> None:
    """The notice exists since that time, is not delivered yet (no webhook answers here)
    and is due by the provider's agreement deadline (30 days by default)."""
    with w.db.session() as s:
        rows = list(s.execute(select(DeletionNoticeRow)).scalars())
    assert any(fmt_dt(r.created_at) == m.group(1) for r in rows)
    assert all(r.delivered_at is None and r.acked_at is None for r in rows)
    assert any(fmt_dt(r.due_at, False) == m.group(2) for r in rows)
    assert all(r.due_at - r.created_at == timedelta(days=30) for r in rows)


def _exports_listed_at_once(w: World, _m: re.Match[str]) -> None:
    """An export that includes Ada's items shows on her page the moment it exists."""
    _lead_your_data(w, _m)


def _no_models(w: World, _m: re.Match[str]) -> None:
    """No model version the registry records held any of Ada's records, and no model
    lineage edge leaves a snapshot that included her."""
    from optin.services.models import member_models

    assert member_models(w.db, w.ada) == []
    with w.db.session() as s:
        models = s.execute(select(LineageEdgeRow).where(LineageEdgeRow.kind == "model")).all()
    assert not [e for (e,) in models if e.src in {w.snaps[TRAIN], w.snaps[SHARE]}]


Check = Callable[[World, re.Match[str]], None]
#: (pattern of a sentence, the check that makes it true)
CLAIMS: list[tuple[str, Check]] = [
    # settings: the lead
    (r"You decide whether your content may be used to build AI\.", _snapshot_authors_eligible),
    (r"Each use below has its own switch\.", _one_switch_per_use),
    (r"Nothing is used unless the switch says so\.", _snapshot_authors_eligible),
    (
        r"Every change is recorded in a tamper-evident ledger and you get a receipt for it\.",
        _ledger_and_receipt,
    ),
    # the purposes' descriptions
    (
        r"The platform may use your public posts, articles and comments to train its own AI "
        r"models that help members write content\.",
        _only_public_posts_articles_comments,
    ),
    (
        r"Private messages, content shared only with connections, and your profile are never "
        r"used\.",
        _only_public_posts_articles_comments,
    ),
    (
        r"Personal data such as names, e-mail addresses and phone numbers is removed before "
        r"training\.",
        _personal_data_removed,
    ),
    (
        r"The platform may share your public posts, articles and comments, with personal data "
        r"removed, with named third-party AI providers that train or fine-tune "
        r"content-creation models for the platform\.",
        _shared_only_with_named_recipients,
    ),
    # the facts
    (r"Your public posts, articles and comments\.", _used_and_never),
    (r"Never: (.+)\.", _never_used),
    (r"the platform|[^.;·()\d]+ \([^)\d]+\)(?:; [^.;·()\d]+)*", _recipients_listed),
    (
        r"Switching this off stops your content from going into any training set built from "
        r"now on\.",
        _train_off,
    ),
    (
        r"Training sets built earlier that included it are marked stale at once, and the page "
        r"'Your data and AI' shows which ones\.",
        _train_off_page,
    ),
    (
        r"Switching this off stops any future export of your content to providers and asks "
        r"providers to delete exports that included it\.",
        _share_off,
    ),
    (r"Switched (on|off), (\d\d \w{3} \d{4}, \d\d:\d\d UTC) \(receipt\)", _last_change),
    (r"Policy version (\d+), in force since (\d\d \w{3} \d{4})\.", _policy_in_force),
    (r"See every change you made · See where your content went", _links_work),
    # your data and AI
    (
        r"Where your content has gone: every training-data snapshot that included any of your "
        r"posts, articles or comments, how many, and what was removed from each before use; "
        r"and every export of it to a third-party AI provider, with when the provider was "
        r"asked to delete it\.",
        _lead_your_data,
    ),
    (r"Your \d[\d,]* item\(s\) are in .*", _summary),
    (
        r"(.+?) received \d+ of your items on (.+? UTC) \(export (\S+) of snapshot (\S+); "
        r"status (stale|complete)\)\.",
        _export_item,
    ),
    (
        r"Removal of your items was requested on (.+? UTC); it is on its way to .+?; awaiting "
        r".+?'s confirmation \(due by (\d\d \w{3} \d{4})\)\.",
        _removal_requested,
    ),
    (
        r"Every export of your items to an AI provider is listed here from the moment it is "
        r"made\.",
        _exports_listed_at_once,
    ),
    (r"No model the platform has recorded was trained on your content\.", _no_models),
]


def _check_page(w: World, html: str) -> list[str]:
    """Run the check of every sentence; returns the sentences no claim covers."""
    uncovered = []
    for sentence in sentences(html):
        hits = [(re.fullmatch(p, sentence), fn) for p, fn in CLAIMS]
        hits = [(m, fn) for m, fn in hits if m]
        if not hits:
            uncovered.append(sentence)
        for m, fn in hits:
            fn(w, m)
    return uncovered


def test_every_promise_on_the_member_pages_is_true(world: World) -> None:
    w = world
    settings_page = w.client.get(SETTINGS).text
    assert _check_page(w, settings_page) == []
    # the off-switch checks ran: Ada withdrew from both in the browser's place
    assert {"train_off", "share_off"} <= set(w.seen)
    your_data = w.client.get(YOUR_DATA).text
    assert _check_page(w, your_data) == []
    # and the text the checks rely on was there to check
    said = " ".join(sentences(settings_page) + sentences(your_data))
    for needle in ("asks providers to delete", "marked stale", "received", "Removal of your"):
        assert needle in said, needle


def test_the_sentence_splitter_finds_the_promises() -> None:
    html = (
        '<main><p class="lead">One. Two, e.g. three.</p><section class="card purpose">'
        '<p>Desc here.</p><dl class="facts"><dt>x</dt><dd>Fact <a>one</a>.</dd></dl>'
        "</section><p>not a promise.</p></main>"
    )
    assert sentences(html) == ["One.", "Two, e.g. three.", "Desc here.", "Fact one."]
