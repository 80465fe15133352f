"""Issue 10 at the web edge: bounded, authenticated-first request bodies (#3); NUL bytes,
lone surrogates and out-of-range times refused with a clear answer on both backends
(#4); an access log that cannot be forged (#9); bidi-isolated member text (#10)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from optin.services.snapshots import SnapshotSummary
from optin.services.transparency import ItemView, Segment, SnapshotDetail, SnapshotUse
from optin.web.limits import json_too_deep
from optin.web.middleware import log_safe
from optin.web.templating import make_templates
from tests.web.conftest import World, login_token

ALL = ("consents:write", "eligibility:read", "receipts:read", "snapshots:read")
MiB = 1024 * 1024
HISTORY = "/settings/data-privacy/history"
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"


@pytest.fixture()
def world(any_world: World) -> World:
    """These tests run on SQLite and again on PostgreSQL."""
    return any_world


def _c(world: World):  # type: ignore[no-untyped-def]
    c = world.client()
    c.headers["Authorization"] = f"Bearer {world.api_key(*ALL)}"
    return c


def _problem(r, status: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def _consent(member_id: str = "m-alice", **extra: Any) -> dict[str, Any]:
    return {"member_id": member_id, "purpose": "train_own_models", "action": "grant", **extra}


# --------------------------------------------------------------------------- ASGI driver


class _Call:
    """Drive the real app at the ASGI level, to see how much of the body it reads."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.received = 0  # body bytes handed to the app
        self.receive_calls = 0
        self.status = 0
        self.body = b""

    def run(
        self,
        path: str,
        headers: list[tuple[bytes, bytes]],
        chunk: bytes,
        chunks: int | None,
        method: str = "POST",
    ) -> _Call:
        sent = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            self.receive_calls += 1
            sent += 1
            self.received += len(chunk)
            more = chunks is None or sent < chunks
            return {"type": "http.request", "body": chunk, "more_body": more}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body":
                self.body += message.get("body", b"")

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        asyncio.run(self.app(scope, receive, send))
        return self


# --------------------------------------------------------------------------- 3: bodies


def test_when_content_length_over_cap_then_413_problem_without_reading(world: World) -> None:
    call = _Call(world.app).run(
        "/api/v1/consents",
        [(b"content-type", b"application/json"), (b"content-length", b"209715200")],
        b"x" * 65536,
        64,  # 4 MiB actually sent
    )
    assert call.status == 413 and b"1048576 bytes" in call.body
    assert call.receive_calls == 0  # not one byte of the 200 MB was read


def test_when_api_body_without_valid_key_then_401_before_the_body_is_read(world: World) -> None:
    for auth in ([], [(b"authorization", b"Bearer optin_nope_nope")]):
        call = _Call(world.app).run(
            "/api/v1/consents",
            [(b"content-type", b"application/json"), (b"content-length", b"1000"), *auth],
            b"{" * 1000,
            1,
        )
        assert call.status == 401, call.body
        assert json.loads(call.body)["status"] == 401
        assert call.receive_calls == 0


def test_when_chunked_body_exceeds_cap_then_413_and_reading_stops_at_the_cap(
    world: World,
) -> None:
    key = world.api_key(*ALL)
    call = _Call(world.app).run(
        "/api/v1/consents",
        [
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", f"Bearer {key}".encode()),
        ],
        b" " * 65536,
        128,  # 8 MiB, sent in 64 KiB chunks
    )
    assert call.status == 413
    assert call.received <= MiB + 65536  # stopped at the first chunk past 1 MiB


def test_oversized_bodies_get_413_problem_on_api_and_html_routes(world: World) -> None:
    big = b"a=" + b"x" * (MiB + 10)
    c = _c(world)
    b = _problem(
        c.post("/api/v1/consents", content=big, headers={"content-type": "application/json"}),
        413,
    )
    assert b["limit"] == MiB and "OPTIN_MAX_BODY_BYTES" in b["detail"]
    # the login form: the HTML error page, 413, before any parsing
    r = world.client().post(
        "/login", content=big, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413 and "text/html" in r.headers["content-type"]
    # a chunked upload (no Content-Length) is counted too
    r = c.post(
        "/api/v1/consents",
        content=iter([b" " * (512 * 1024)] * 4),
        headers={"content-type": "application/json"},
    )
    _problem(r, 413)


def test_when_json_nested_deeper_than_limit_then_400_problem_naming_it(world: World) -> None:
    c = _c(world)
    deep = b'{"member_id": ' + b"[" * 40 + b"]" * 40 + b', "purpose": "x", "action": "grant"}'
    b = _problem(
        c.post("/api/v1/consents", content=deep, headers={"content-type": "application/json"}),
        400,
    )
    assert "32 levels" in b["detail"] and b["limit"] == 32
    # brackets inside strings do not count; 32 levels is still fine (422: wrong type)
    ok = b'{"member_id": "' + b"[" * 50 + b'", "purpose": "x", "action": "grant"}'
    assert (
        c.post("/api/v1/consents", content=ok, headers={"content-type": "application/json"})
    ).status_code == 404  # unknown member: the body was parsed normally
    nested = b'{"member_id": ' + b"[" * 31 + b"]" * 31 + b"}"
    _problem(
        c.post("/api/v1/consents", content=nested, headers={"content-type": "application/json"}),
        422,
    )
    # without a key the answer is 401, whatever the body
    r = world.client().post(
        "/api/v1/consents", content=deep, headers={"content-type": "application/json"}
    )
    _problem(r, 401)


def test_json_depth_is_linear_and_ignores_strings() -> None:
    assert json_too_deep(b"[" * 33 + b"]" * 33, 32)
    assert not json_too_deep(b"[" * 32 + b"]" * 32, 32)
    assert not json_too_deep(b'["' + b"[" * 100 + b'"]', 32)
    assert not json_too_deep(b'["\\"' + b"[" * 100 + b'"]', 32)
    assert json_too_deep(b'["\\\\"' + b"[" * 100, 32)  # an escaped backslash ends the string
    assert json_too_deep(b"[" * MiB, 32)
    assert not json_too_deep(b'"\\"' * 300_000, 32)  # no quadratic backtracking


def test_batch_size_is_bounded_in_the_schema_and_enforced(world: World) -> None:
    schema = world.client().get("/api/v1/openapi.json").json()
    ids = schema["components"]["schemas"]["BatchIn"]["properties"]["member_ids"]
    assert ids["maxItems"] == 1000 and ids["items"]["maxLength"] == 64
    b = _problem(
        _c(world).post(
            "/api/v1/eligibility/batch",
            json={"purpose": "train_own_models", "member_ids": [f"m{i}" for i in range(1001)]},
        ),
        422,
    )
    assert b["errors"][0]["field"] == "member_ids"


# --------------------------------------------------------------------------- 4: NUL etc.


def test_when_json_field_holds_nul_or_lone_surrogate_then_422_naming_the_field(
    world: World,
) -> None:
    c = _c(world)
    b = _problem(c.post("/api/v1/consents", json=_consent("m-al\x00ice")), 422)
    assert b["field"] == "member_id" and "NUL" in b["detail"]
    b = _problem(
        c.post(
            "/api/v1/eligibility/batch",
            json={"purpose": "train_own_models", "member_ids": ["m-alice", "x\x00"]},
        ),
        422,
    )
    assert b["field"] == "member_ids.1"
    raw = b'{"member_id": "\\ud800", "purpose": "train_own_models", "action": "grant"}'
    b = _problem(
        c.post("/api/v1/consents", content=raw, headers={"content-type": "application/json"}),
        422,
    )
    assert b["field"] == "member_id" and "surrogate" in b["detail"]
    # a UTF-8-encoded surrogate, which Python's JSON parser would let through
    raw = b'{"member_id": "\xed\xa0\x80", "purpose": "train_own_models", "action": "grant"}'
    b = _problem(
        c.post("/api/v1/consents", content=raw, headers={"content-type": "application/json"}),
        422,
    )
    assert b["field"] == "member_id"
    # a proper pair (an emoji) is fine
    r = c.post("/api/v1/consents", json=_consent("m-\U0001f600"))
    _problem(r, 404)
    # the event of an accepted, clean request still goes through
    assert c.post("/api/v1/consents", json=_consent()).status_code == 201


def test_when_url_holds_nul_then_422_naming_the_parameter(world: World) -> None:
    c = _c(world)
    b = _problem(c.get("/api/v1/members/m-alice/eligibility", params={"purpose": "train\x00"}), 422)
    assert b["field"] == "purpose"
    _problem(c.get("/api/v1/receipts/ab%00cd"), 422)
    member = world.login("alice")
    for path in (f"{HISTORY}/ab%00cd/receipt.json", f"{YOUR_DATA}/ab%00cd"):
        r = member.get(path)
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        assert "NUL" in r.text


def test_when_login_form_holds_nul_then_422_not_500(world: World) -> None:
    c = world.client()
    token = login_token(c)
    r = c.post("/login", data={"handle": "ali\x00ce", "password": "x", "csrf_token": token})
    assert r.status_code == 422 and "handle" in r.text and "NUL" in r.text
    r = c.post("/login", data={"handle": "alice", "password": "pw\x00", "csrf_token": token})
    assert r.status_code == 422 and "password" in r.text


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "1969-12-31T23:59:59Z"]
)
def test_when_time_out_of_range_then_422_saying_what_is_allowed(world: World, at: str) -> None:
    c = _c(world)
    b = _problem(
        c.post(
            "/api/v1/eligibility/batch",
            json={"purpose": "train_own_models", "member_ids": ["m-alice"], "at": at},
        ),
        422,
    )
    assert b["errors"][0]["field"] == "at" and "1970" in b["detail"] and "9999" in b["detail"]
    _problem(c.post("/api/v1/consents", json=_consent(at=at)), 422)
    _problem(
        c.get(
            "/api/v1/members/m-alice/eligibility",
            params={"purpose": "train_own_models", "at": at},
        ),
        422,
    )


# --------------------------------------------------------------------------- 9: logs


def test_access_log_escapes_control_characters(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="optin.web.access")
    world.client().get("/x%0A127.0.0.1%20GET%20/admin%20200%0D%1B[31m\u202e")
    lines = [r.getMessage() for r in caplog.records if r.name == "optin.web.access"]
    assert lines, caplog.records
    assert all("\n" not in m and "\r" not in m and "\x1b" not in m for m in lines)
    assert "\\x0a127.0.0.1" in lines[0] and "\\u202e" in lines[0]
    assert log_safe("a\\x0a") == "a\\\\x0a"  # a literal backslash cannot pose as an escape


# --------------------------------------------------------------------------- 10: bidi


class _Isolation(HTMLParser):
    """Records, for every text node, whether an enclosing element isolates it."""

    VOID = {"meta", "link", "input", "br", "img", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.texts: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        self.stack.append(tag == "bdi" or ("dir", "auto") in attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.texts.append((data, any(self.stack)))


def _texts(html: str, needle: str) -> list[tuple[str, bool]]:
    p = _Isolation()
    p.feed(html)
    return [(t, iso) for t, iso in p.texts if needle in t]


def test_member_text_is_bidi_isolated_on_the_your_data_page() -> None:
    rlo = "\u202e"
    templates = make_templates(Path("src/optin/web/templates").resolve())
    t = datetime(2026, 1, 1, tzinfo=UTC)
    item = ItemView(
        "c1",
        "r1",
        "post",
        t,
        before=f"Mail me {rlo}at ada@example.org",
        after="Mail me [EMAIL]",
        before_segments=[Segment("same", f"Mail me {rlo}at "), Segment("del", "ada@example.org")],
        after_segments=[Segment("same", "Mail me "), Segment("ins", "[EMAIL]")],
    )
    summary = SnapshotSummary(
        id="s1",
        purpose="p",
        as_of=t,
        built_at=t,
        status="built",
        records=1,
        engine=None,
        profile=None,
        path="",
        manifest_sha256=None,
    )
    detail = SnapshotDetail(SnapshotUse(summary, 1), [item, item], 2)
    user = SimpleNamespace(handle=f"ev{rlo}il", is_admin=False)
    html = templates.env.get_template("your_data_snapshot.html").render(
        detail=detail,
        policy=SimpleNamespace(purposes={}, version=1, effective_at=t),
        user=user,
        csrf_token="t",
        stale=[],
        nav=YOUR_DATA,
    )
    found = _texts(html, rlo)
    assert len(found) == 3  # two items' "before" text and the handle in the navigation
    assert all(isolated for _text, isolated in found), found
    # every segment is its own isolate, so an override cannot run into the next one
    assert html.count("<bdi>") >= 9
