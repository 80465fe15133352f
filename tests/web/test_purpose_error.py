"""'Unknown purpose' is one error everywhere: :class:`NotFoundError` from
``require_purpose`` with one message, HTTP 404 in the API and the web form, exit 66 in
the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from optin.cli.main import run
from optin.errors import EXIT_CODES, NotFoundError
from optin.services import consent, eligibility
from optin.services.policy import policy_set, require_purpose
from tests.web.conftest import World, csrf_of

NOW = datetime.now(UTC)


def _check_message(text: str) -> None:
    assert "unknown purpose 'nope'" in text and "valid purposes:" in text
    assert "train_own_models" in text


def test_service_calls_raise_one_class_with_one_message(world: World) -> None:
    with pytest.raises(NotFoundError) as direct:
        require_purpose(policy_set(world.db), "nope", NOW)
    _check_message(str(direct.value))
    for call in (
        lambda: consent.record_consent(world.db, "m-alice", "nope", "on", source="cli", now=NOW),
        lambda: eligibility.decide_member(world.db, "m-alice", "nope", NOW),
        lambda: list(eligibility.decide_all(world.db, "nope", NOW)),
    ):
        with pytest.raises(NotFoundError) as e:
            call()
        _check_message(str(e.value))
    assert EXIT_CODES[NotFoundError] == 66


def test_api_answers_404_for_every_route(world: World) -> None:
    c = world.client()
    c.headers["Authorization"] = f"Bearer {world.api_key('consents:write', 'eligibility:read')}"
    answers = [
        c.post(
            "/api/v1/consents", json={"member_id": "m-alice", "purpose": "nope", "action": "grant"}
        ),
        c.get("/api/v1/members/m-alice/eligibility", params={"purpose": "nope"}),
        c.post("/api/v1/eligibility/batch", json={"purpose": "nope", "member_ids": ["m-alice"]}),
    ]
    for r in answers:
        assert r.status_code == 404, r.text
        _check_message(r.json()["detail"])


def test_web_form_answers_404(world: World) -> None:
    c = world.login("alice")
    r = c.post(
        "/settings/data-privacy/generative-ai",
        data={"purpose": "nope", "choice": "on", "csrf_token": csrf_of(c)},
    )
    assert r.status_code == 404
    assert "unknown purpose" in r.text


def test_cli_exits_66(world: World, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPTIN_DATABASE_URL", world.db.url)
    monkeypatch.setenv("COLUMNS", "200")
    for args in (
        ["consent", "set", "m-alice", "nope", "on"],
        ["eligibility", "m-alice", "--purpose", "nope"],
    ):
        capsys.readouterr()
        rc = run(["--home", str(world.settings.home), *args])
        err = " ".join(capsys.readouterr().err.split())
        assert rc == 66, err
        _check_message(err)
