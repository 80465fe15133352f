"""Pure pieces of the web layer: charts, the redaction diff, rate limiting, API keys,
the error table and the purpose texts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from optin.domain.policy import default_policy_text, parse_policy
from optin.errors import (
    AuthenticationError,
    ConfigError,
    ImportValidationError,
    InputError,
    NotFoundError,
    OptinError,
    PermissionDeniedError,
)
from optin.services.transparency import diff_segments
from optin.services.web_auth import LoginRateLimiter, hash_password, parse_scopes, verify_password
from optin.web import charts
from optin.web.pages import never_text, used_text
from optin.web.problems import status_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_charts_are_valid_svg_and_escape_labels() -> None:
    svgs = [
        charts.hbar_chart(
            "A <b>&", [("x<y", [0.5, 0.25]), ("z", [1.0, 0.0])], ["s&1", "s2"], percent=True
        ),
        charts.line_chart("L", ["Jan", "Feb", "now"], [("p<1>", [0.1, None, 0.3])]),
        charts.hbar_chart("empty", [], ["one"]),
    ]
    for svg in svgs:
        root = ET.fromstring(svg)  # well-formed XML
        assert root.tag.endswith("svg") and root.get("role") == "img"
        assert "style=" not in svg and "<script" not in svg
    assert "x&lt;y" in svgs[0] and "<b>" not in svgs[0]


@pytest.mark.parametrize(
    ("before", "after", "removed", "inserted"),
    [
        ("Call me at 555-1234 today", "Call me at [PHONE] today", ["555-1234"], ["[PHONE]"]),
        (
            "Thanks @ada and Bob!",
            "Thanks [HANDLE] and [PERSON]!",
            ["@ada", "Bob"],
            ["[HANDLE]", "[PERSON]"],
        ),
        ("nothing to hide", "nothing to hide", [], []),
    ],
)
def test_diff_marks_removed_and_inserted_parts(before, after, removed, inserted) -> None:
    left, right = diff_segments(before, after)
    assert "".join(s.text for s in left) == before
    assert "".join(s.text for s in right) == after
    dels = "".join(s.text for s in left if s.op == "del")
    ins = "".join(s.text for s in right if s.op == "ins")
    for r in removed:
        assert r in dels
    for i in inserted:
        assert i in ins
    if not removed:
        assert dels == "" and ins == ""


def test_rate_limiter_blocks_after_max_failures_and_forgets_after_window() -> None:
    rl = LoginRateLimiter(max_failures=3, window=timedelta(minutes=5))
    for k in range(3):
        assert rl.retry_after("1.2.3.4", "ada", NOW + timedelta(seconds=k)) == 0
        rl.failed("1.2.3.4", "ada", NOW + timedelta(seconds=k))
    assert rl.retry_after("1.2.3.4", "ada", NOW + timedelta(seconds=10)) > 0
    assert rl.retry_after("1.2.3.4", "ADA ", NOW + timedelta(seconds=10)) > 0  # same handle
    assert rl.retry_after("5.6.7.8", "ada", NOW) == 0  # other IP
    assert rl.retry_after("1.2.3.4", "ada", NOW + timedelta(minutes=6)) == 0
    rl.failed("1.2.3.4", "bob", NOW)
    rl.succeeded("1.2.3.4", "bob")
    assert rl.retry_after("1.2.3.4", "bob", NOW) == 0


def test_passwords_hash_with_argon2id_and_verify() -> None:
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "wrong")
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "x")
    with pytest.raises(InputError):
        hash_password("short")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["consents:write"], ("consents:write",)),
        (["consents:write,receipts:read"], ("consents:write", "receipts:read")),
        (["snapshots:read", "snapshots:read"], ("snapshots:read",)),
    ],
)
def test_scopes_parse(given, expected) -> None:
    assert parse_scopes(given) == expected


@pytest.mark.parametrize("bad", [[], ["admin"], ["consents:delete"]])
def test_unknown_scopes_are_refused_with_the_allowed_list(bad) -> None:
    with pytest.raises(InputError, match="allowed: consents:write"):
        parse_scopes(bad)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (InputError("x"), 422),
        (ImportValidationError([InputError("x")]), 422),
        (ConfigError("x"), 422),
        (NotFoundError("x"), 404),
        (PermissionDeniedError("x"), 403),
        (AuthenticationError("x"), 401),
        (OptinError("x"), 400),
    ],
)
def test_error_classes_map_to_http_status(exc: OptinError, status: int) -> None:
    assert status_for(exc) == status


def test_purpose_texts_say_what_is_used_and_never_used() -> None:
    pv = parse_policy(default_policy_text(), version=1, effective_at=NOW)
    p = pv.purposes["train_own_models"]
    assert used_text(p) == "Your public posts, articles and comments."
    assert never_text(p).startswith("Private messages")


def test_withdrawal_feedback_names_each_holder_from_the_lineage() -> None:
    from optin.web.pages import withdrawal_feedback

    snap = {"id": "s1", "purpose": "share_with_providers", "status": "stale", "as_of":
            "2026-01-01T00:00:00Z", "member_records": 3, "member_stale": {"records": 3}}  # fmt: skip
    other = {**snap, "id": "s2", "purpose": "train_own_models"}
    retired = {**snap, "id": "s3", "status": "retired"}
    lineage = {
        "snapshots": [snap, other, retired],
        "exports": [
            {"snapshot_id": "s1", "export_id": "e1", "provider": "P", "included_records": 2,
             "removal": {"requested_at": "2026-02-01T00:00:00Z", "due_at": "2026-03-03T00:00:00Z"}},
            {"snapshot_id": "s2", "export_id": "e2", "provider": "Q", "included_records": 1,
             "removal": None},
        ],
        "model_versions": [
            {"snapshot_id": "s1", "model_id": "m", "version": 2, "contains_member": True,
             "status": "current", "model_status": "needs_retrain", "member_records": 3},
        ],
    }  # fmt: skip
    held = withdrawal_feedback(lineage, "share_with_providers")
    assert [(h.kind, h.ident, h.items) for h in held] == [
        ("snapshot", "s1", 3), ("export", "e1", 2), ("model", "m v2", 3),
    ]  # fmt: skip
    assert "marked stale" in held[0].text and "2026-01-01" in held[0].text
    assert "queued on 2026-02-01" in held[1].text and "by 2026-03-03" in held[1].text
    assert "retrained without your content" in held[2].text
    # another purpose's holders are not named; nothing held: an empty list
    assert withdrawal_feedback({"snapshots": [other]}, "share_with_providers") == []
