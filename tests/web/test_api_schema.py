"""Property-based API testing with schemathesis over the OpenAPI schema: whatever the
input (valid and invalid, per the schema), no 5xx, and every error is a problem+json
body. Runs in-process against the ASGI app with a key holding every scope; bounded
examples per operation so it finishes well under a minute."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from optin.services.web_auth import API_SCOPES
from tests.web.conftest import World

MAX_EXAMPLES = 25


@pytest.mark.slow
def test_api_never_answers_5xx(world: World) -> None:
    header = {"Authorization": f"Bearer {world.api_key(*API_SCOPES)}"}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", world.app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 6
    seen: list[tuple[str, int]] = []
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def check(case) -> None:  # type: ignore[no-untyped-def]
                response = case.call(headers=header)
                seen.append((case.path, response.status_code))
                assert response.status_code < 500, (case.method, case.path, response.text)
                if response.status_code >= 400:
                    ctype = response.headers.get("content-type", [""])
                    ctype = ctype[0] if isinstance(ctype, list) else ctype
                    assert ctype.startswith("application/problem+json"), (
                        case.method,
                        case.path,
                        response.status_code,
                        response.text,
                    )
                    body = response.json()
                    assert body["status"] == response.status_code and body["detail"]

            check()
    assert any(code < 300 for _, code in seen)  # valid requests did get through


#: Values that once reached the database or the clock and answered 500 (issue 10 #4).
HOSTILE_STRINGS = ("a\x00b", "\ud800", "[/x]", "../../../outside", "x" * 300)
HOSTILE_TIMES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "1969-12-31T23:59:59Z")


def _hostile_value(name: str, schema: dict[str, object]) -> list[object]:
    if name == "at" or schema.get("format") == "date-time":
        return list(HOSTILE_TIMES) + list(HOSTILE_STRINGS[:2])
    if schema.get("type") == "array":
        return [[s] for s in HOSTILE_STRINGS] + [["ok", "a\x00b"]]
    return list(HOSTILE_STRINGS)


def _q(value: object) -> str:
    """Percent-encode like a client would (lone surrogates as their UTF-8 bytes)."""
    from urllib.parse import quote

    text = value if isinstance(value, str) else str(value)
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _body_fields(spec: dict, op: dict) -> dict[str, dict]:
    ref = (
        op.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
        .get("$ref")
    )
    if not ref:
        return {}
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return dict(schema.get("properties", {}))


def _cases(spec: dict) -> list[tuple[str, str, dict, dict, object]]:
    """(method, path, query, headers, json body) for every operation, one hostile value
    at a time in every path parameter, query parameter and JSON field."""
    out: list[tuple[str, str, dict, dict, object]] = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            params = op.get("parameters", [])
            fields = _body_fields(spec, op)
            base_body = {n: ("2026-01-01T00:00:00Z" if n == "at" else "x") for n in fields}
            base_path = path
            for p in params:
                if p["in"] == "path":
                    base_path = base_path.replace("{" + p["name"] + "}", "x")
            for p in params:
                for v in _hostile_value(p["name"], p.get("schema", {})):
                    if p["in"] == "path":
                        if not isinstance(v, str) or "/" in v:
                            continue
                        out.append(
                            (method, path.replace("{" + p["name"] + "}", _q(v)), {}, {}, None)
                        )
                    elif p["in"] == "query":
                        out.append((method, base_path, {p["name"]: v}, {}, None))
            for name, fschema in fields.items():
                for v in _hostile_value(name, fschema):
                    out.append((method, base_path, {}, {}, {**base_body, name: v}))
    return out


@pytest.mark.slow
def test_api_answers_hostile_values_without_5xx_on_both_backends(any_world: World) -> None:
    """NUL, lone surrogates, markup, path-like ids, long values and out-of-range times in
    every parameter and field of every operation: never 5xx, always problem+json."""
    import json

    from fastapi.testclient import TestClient

    client = TestClient(any_world.app, raise_server_exceptions=False)
    header = {"Authorization": f"Bearer {any_world.api_key(*API_SCOPES)}"}
    spec = client.get("/api/v1/openapi.json").json()
    cases = _cases(spec)
    assert len(cases) > 40
    for method, path, query, _h, body in cases:
        url = "/api/v1" + path if not path.startswith("/api") else path
        if query:
            url += "?" + "&".join(
                f"{_q(k)}={_q(x)}"
                for k, v in query.items()
                for x in (v if isinstance(v, list) else [v])
            )
        kwargs: dict[str, object] = {"headers": header}
        if body is not None:
            # ensure_ascii keeps lone surrogates as \ud800 escapes, as a client would send
            kwargs["content"] = json.dumps(body).encode()
            kwargs["headers"] = {**header, "Content-Type": "application/json"}
        r = client.request(
            method.upper(), "/api/v1" + path if not path.startswith("/api") else path, **kwargs
        )  # type: ignore[arg-type]
        assert r.status_code < 500, (method, path, query, body, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), (
                method,
                path,
                r.status_code,
            )
