"""Data-subject requests on the web and the API: a member opens requests only for
themselves and downloads only their own package, through a link that works once; the
admin queue; the API with dsr:read / dsr:write (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import re
import zipfile

from optin.services import dsr
from tests.factories import add_content
from tests.web.conftest import World, csrf_of

REQUESTS = "/settings/data-privacy/requests"


def _open(c, kind: str = "access", **extra: str):  # type: ignore[no-untyped-def]
    return c.post(REQUESTS, data={"kind": kind, "csrf_token": csrf_of(c, REQUESTS), **extra})


def _rid(location: str) -> str:
    m = re.search(r"opened=(dsr_[0-9a-f]+)", location)
    assert m, location
    return m.group(1)


def test_member_requests_access_admin_completes_member_downloads_once(any_world: World) -> None:
    w = any_world
    add_content(w.db, "m-alice", "a1", "Alice on the migration of eels")
    add_content(w.db, "m-bob", "b1", "Bob on sourdough")
    alice = w.login("alice")
    # a member id in the form is ignored: the request is the session's member's
    r = _open(alice, member_id="m-bob", member="m-bob")
    assert r.status_code == 303
    rid = _rid(r.headers["location"])
    assert dsr.show_request(w.db, rid, w.app.state.optin.now()).member_id == "m-alice"
    page = alice.get(REQUESTS)
    assert rid in page.text and "verified" in page.text and "day(s) left" in page.text

    admin = w.login("admin")
    queue = admin.get("/admin/requests")
    assert queue.status_code == 200 and rid in queue.text
    assert re.search(r'class="left (ok|soon|urgent|overdue)"', queue.text)
    r = admin.post(
        f"/admin/requests/{rid}/complete", data={"csrf_token": csrf_of(admin, "/admin/requests")}
    )
    assert r.status_code == 303, r.text

    # bob can neither mint a link for alice's request nor use alice's link
    bob = w.login("bob")
    r = bob.post(f"{REQUESTS}/{rid}/download", data={"csrf_token": csrf_of(bob, REQUESTS)})
    assert r.status_code == 404
    r = alice.post(f"{REQUESTS}/{rid}/download", data={"csrf_token": csrf_of(alice, REQUESTS)})
    assert r.status_code == 303
    link = r.headers["location"]
    assert link.startswith(f"{REQUESTS}/package/")
    assert bob.get(link).status_code == 404
    got = alice.get(link)
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    assert "no-store" in got.headers["cache-control"]
    with zipfile.ZipFile(io.BytesIO(got.content)) as z:
        data = json.loads(z.read("data.json"))
        index = z.read("index.html").decode("utf-8")
    assert data["member_id"] == "m-alice"
    assert "Alice on the migration of eels" in index and "sourdough" not in index
    again = alice.get(link)
    assert again.status_code == 409 and "already used" in again.text
    # the token is stored only hashed
    token = link.rsplit("/", 1)[1]
    with w.db.session() as s:
        from sqlalchemy import text

        stored = [r[0] for r in s.execute(text("SELECT token_hash FROM dsr_downloads"))]
    assert token not in stored and len(stored) == 1


def test_member_sees_erasure_state_and_deadline_and_must_confirm(world: World) -> None:
    alice = world.login("alice")
    r = _open(alice, "erasure")
    assert r.status_code == 422 and "confirm" in r.text
    r = _open(alice, "erasure", confirm="yes")
    assert r.status_code == 303
    rid = _rid(r.headers["location"])
    page = alice.get(REQUESTS).text
    row = page[page.index(f'id="r-{rid}"') :]
    row = row[: row.index("</tr>")]
    assert "erasure" in row and "verified" in row and "day(s) left" in row and "UTC" in row
    # the admin completes it: the erasure engine runs, the request is completed
    admin = world.login("admin")
    r = admin.post(
        f"/admin/requests/{rid}/complete", data={"csrf_token": csrf_of(admin, "/admin/requests")}
    )
    assert r.status_code in (200, 303), r.text
    assert dsr.show_request(world.db, rid, world.app.state.optin.now()).state == "completed"


def test_admin_opens_on_behalf_extends_and_member_sees_the_notice(world: World) -> None:
    admin = world.login("admin")
    token = csrf_of(admin, "/admin/requests")
    r = admin.post(
        "/admin/requests", data={"member": "@bob", "kind": "access", "csrf_token": token}
    )
    assert r.status_code == 422 and "identity" in r.text
    r = admin.post(
        "/admin/requests",
        data={
            "member": "@bob",
            "kind": "access",
            "identity_method": "phone call, security questions",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    rid = r.headers["location"].split("done=")[1].split("#")[0]
    r = admin.post(
        f"/admin/requests/{rid}/extend", data={"text": "large archive", "csrf_token": token}
    )
    assert r.status_code == 303
    bob = world.login("bob")
    page = bob.get(REQUESTS).text
    assert "Notice:" in page and "large archive" in page and "(extended)" in page
    # refusing needs a reason; an empty one is shown as an error on the queue page
    r = admin.post(f"/admin/requests/{rid}/refuse", data={"text": "", "csrf_token": token})
    assert r.status_code == 422 and "reason is required" in r.text


def test_api_opens_lists_and_moves_requests(any_world: World) -> None:
    w = any_world
    h = {"Authorization": f"Bearer {w.api_key('dsr:write', 'dsr:read')}"}
    c = w.client()
    r = c.post("/api/v1/dsr", json={"member_id": "@alice", "kind": "access"}, headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "received" and body["channel"] == "api" and body["rule"] == "ccpa"
    rid = body["id"]
    r = c.post(f"/api/v1/dsr/{rid}/complete", json={}, headers=h)
    assert r.status_code == 409 and "verified" in r.json()["detail"]
    r = c.post(f"/api/v1/dsr/{rid}/verify", json={"text": "app re-authentication"}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "verified"
    dup = c.post("/api/v1/dsr", json={"member_id": "m-alice", "kind": "access"}, headers=h).json()
    assert dup["duplicate_of"] == rid
    listed = c.get("/api/v1/dsr?member_id=m-alice", headers=h).json()
    assert [x["id"] for x in listed] == [rid, dup["id"]] or {x["id"] for x in listed} == {
        rid,
        dup["id"],
    }
    r = c.post(f"/api/v1/dsr/{rid}/complete", headers=h)
    assert r.status_code == 200 and r.json()["package_available"] is True
    assert c.get(f"/api/v1/dsr/{dup['id']}", headers=h).json()["state"] == "completed"
    read_only = {"Authorization": f"Bearer {w.api_key('dsr:read')}"}
    r = c.post("/api/v1/dsr", json={"member_id": "m-bob", "kind": "erasure"}, headers=read_only)
    assert r.status_code == 403 and "dsr:write" in r.json()["detail"]
    r = c.get("/api/v1/dsr?state=nope", headers=h)
    assert r.status_code == 422 and "allowed" in r.json()["detail"]
