"""Consent as AI-use signals: ``GET /api/v1/content/{id}/usage``, the
``ContentUsageMiddleware`` for a platform's web tier and ``content_usage``. The header
is parsed by an independent RFC 8941/9651 parser (``http-sfv``)."""

from __future__ import annotations

import json
import re
import urllib.robotparser
from datetime import UTC, datetime

import http_sfv
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from optin.services.consent import record_consent
from optin.services.signals import content_usage, platform_signals
from optin.web.middleware import ContentUsageMiddleware
from tests.factories import add_content
from tests.web.conftest import World, csrf_of

TRAIN = "train_own_models"


def _parse(value: str) -> dict[str, str]:
    d = http_sfv.Dictionary()
    d.parse(value.encode())
    out = {}
    for k, item in d.items():
        assert isinstance(item.value, http_sfv.Token), (k, item.value)
        out[k] = str(item.value)
    return out


def _items(world: World) -> None:
    for who in ("alice", "bob", "eve", "kid"):
        add_content(world.db, f"m-{who}", f"p-{who}", f"a post by {who}")
    add_content(world.db, "m-alice", "msg-alice", "a private message", kind="message",
                visibility="private")  # fmt: skip
    add_content(world.db, "m-alice", "gone-alice", "deleted", deleted_at=datetime.now(UTC))


def test_switching_off_turns_the_signal_to_n_on_the_next_request(any_world: World) -> None:
    world = any_world
    _items(world)
    api = world.client()
    key = world.api_key("eligibility:read")
    h = {"Authorization": f"Bearer {key}"}

    def usage(cid: str) -> tuple[str, str, dict[str, object]]:
        r = api.get(f"/api/v1/content/{cid}/usage", headers=h)
        assert r.status_code == 200, r.text
        return r.headers["content-usage"], r.headers["tdm-reservation"], r.json()

    assert usage("p-alice")[:2] == ("train-ai=n", "1")  # no choice yet: opt-in means n
    c = world.login("alice")
    form = {"purpose": TRAIN, "choice": "on", "csrf_token": csrf_of(c)}
    c.post("/settings/data-privacy/generative-ai", data=form)
    header, tdm, body = usage("p-alice")
    assert _parse(header) == {"train-ai": "y"} and tdm == "0"
    assert body["purposes"] == [TRAIN] and body["content_usage"] == header
    # a private message, a deleted post and an unknown id never say y
    for cid in ("msg-alice", "gone-alice", "no-such-item"):
        assert _parse(usage(cid)[0]) == {"train-ai": "n"}, cid
    c.post("/settings/data-privacy/generative-ai", data={**form, "choice": "off"})
    header, tdm, _ = usage("p-alice")
    assert _parse(header) == {"train-ai": "n"} and tdm == "1"
    # without the scope: refused
    assert api.get("/api/v1/content/p-alice/usage").status_code == 401


@pytest.mark.parametrize("who", ["eve", "kid"])
def test_excluded_and_minor_members_are_always_n(world: World, who: str) -> None:
    _items(world)
    now = datetime.now(UTC)
    record_consent(world.db, f"m-{who}", TRAIN, "grant", source="cli", now=now)
    record_consent(world.db, f"m-{who}", "share_with_providers", "grant", source="cli", now=now)
    u = content_usage(world.db, f"p-{who}", now=datetime.now(UTC))
    assert u.value == "train-ai=n" and u.tdm_reservation == 1 and u.purposes == ()
    assert _parse(u.value) == {"train-ai": "n"}


def test_middleware_sets_the_header_on_a_platforms_post_pages(world: World) -> None:
    _items(world)
    record_consent(world.db, "m-bob", TRAIN, "grant", source="cli", now=datetime.now(UTC))
    platform = FastAPI()

    @platform.get("/posts/{cid}")
    def post(cid: str) -> PlainTextResponse:
        return PlainTextResponse(f"post {cid}")

    @platform.get("/about")
    def about() -> PlainTextResponse:
        return PlainTextResponse("about")

    app = ContentUsageMiddleware(
        platform, world.db, lambda p: p.removeprefix("/posts/") if p.startswith("/posts/") else None
    )
    c = TestClient(app)
    r = c.get("/posts/p-bob")
    assert r.status_code == 200 and _parse(r.headers["content-usage"]) == {"train-ai": "y"}
    assert r.headers["tdm-reservation"] == "0"
    assert _parse(c.get("/posts/p-alice").headers["content-usage"]) == {"train-ai": "n"}
    assert "content-usage" not in c.get("/about").headers


# -- platform level: robots.txt (draft-ietf-aipref-attach) and TDMRep tdmrep.json --------


def _content_usage_rules(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """(user-agent, path, preferences) per ``Content-Usage`` line, read as the draft
    writes it: ``Content-Usage: [path] usage-expression`` inside a User-Agent group;
    the expression is an SF dictionary (parsed by http-sfv)."""
    rules, agent = [], None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        assert sep, f"line {n}: not a 'field: value' line: {raw!r}"
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            agent = value
        elif key == "content-usage":
            assert agent is not None, f"line {n}: Content-Usage outside a User-Agent group"
            path, _, expr = value.partition(" ") if value.startswith("/") else ("", "", value)
            rules.append((agent, path, _parse(expr.strip())))
        else:
            raise AssertionError(f"line {n}: unexpected field {key!r}")
    return rules


def _matches(pattern: str, path: str) -> bool:
    """TDMRep / robots.txt location: a path prefix, ``*`` any characters, ``$`` the end."""
    rx = re.escape(pattern).replace(r"\*", ".*")
    rx = rx[:-2] + "$" if rx.endswith(r"\$") else rx
    return re.match(rx, path) is not None


def test_robots_txt_and_tdmrep_state_the_opt_in_default_per_content_path(
    any_world: World,
) -> None:
    world = any_world
    _items(world)
    record_consent(world.db, "m-bob", TRAIN, "grant", source="cli", now=datetime.now(UTC))
    api = world.client()
    h = {"Authorization": f"Bearer {world.api_key('eligibility:read')}"}
    q = "path=/posts/&path=/threads/"
    r = api.get(f"/api/v1/signals/robots.txt?{q}", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    rules = _content_usage_rules(r.text)
    assert rules == [("*", "/posts/", {"train-ai": "n"}), ("*", "/threads/", {"train-ai": "n"})]
    # the stdlib robots.txt parser reads the group without error and blocks nothing
    rp = urllib.robotparser.RobotFileParser()
    rp.parse(r.text.splitlines())
    assert rp.can_fetch("AnyBot", "/posts/p-bob")
    # truthful: the file says the default only; bob's opted-in item says y itself
    assert "Content-Usage: train-ai=y" in r.text and "policy version" in r.text
    u = api.get("/api/v1/content/p-bob/usage", headers=h)
    assert _parse(u.headers["content-usage"]) == {"train-ai": "y"}

    t = api.get(f"/api/v1/signals/tdmrep.json?{q}&policy_url=https://example.org/ai", headers=h)
    assert t.status_code == 200
    doc = json.loads(t.text)
    assert isinstance(doc, list) and len(doc) == 2
    for rule in doc:
        assert set(rule) <= {"location", "tdm-reservation", "tdm-policy"}
        assert rule["tdm-reservation"] in (0, 1) and rule["tdm-policy"] == "https://example.org/ai"
    assert [r_["tdm-reservation"] for r_ in doc] == [1, 1]
    assert _matches(doc[0]["location"], "/posts/p-bob")
    assert not _matches(doc[0]["location"], "/about")
    assert _matches(doc[1]["location"], "/threads/t1/2")


def test_platform_signals_refuse_bad_paths_and_say_when_no_policy_is_in_force(
    world: World,
) -> None:
    api = world.client()
    h = {"Authorization": f"Bearer {world.api_key('eligibility:read')}"}
    bad = api.get("/api/v1/signals/robots.txt?path=posts", headers=h)
    assert bad.status_code == 422 and "starting with '/'" in bad.text
    assert api.get("/api/v1/signals/tdmrep.json?path=/p/").status_code == 401
    long_ago = datetime(1990, 1, 1, tzinfo=UTC)
    sig = platform_signals(world.db, ["/posts/"], now=long_ago)
    assert sig.policy_version is None and "No consent policy is in force" in sig.robots_txt()
    assert _content_usage_rules(sig.robots_txt()) == [("*", "/posts/", {"train-ai": "n"})]
    assert sig.tdmrep() == [{"location": "/posts/*", "tdm-reservation": 1}]


def test_the_revisions_followed_are_pinned_and_named_where_the_signals_are() -> None:
    """The drafts are named with their revision numbers in the code, in the generated
    robots.txt and in the README (Internet-Drafts change between revisions)."""
    import re
    from datetime import UTC, datetime
    from pathlib import Path

    from optin.services.signals import DRAFTS, PlatformSignals

    vocab, attach, tdmrep = DRAFTS
    assert re.fullmatch(r"draft-ietf-aipref-vocab-\d\d", vocab)
    assert re.fullmatch(r"draft-ietf-aipref-attach-\d\d", attach)
    assert "10 May 2024" in tdmrep
    robots = PlatformSignals(("/posts/",), datetime(2026, 1, 1, tzinfo=UTC), 1).robots_txt()
    assert vocab in robots and attach in robots
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    assert vocab in readme and attach in readme
