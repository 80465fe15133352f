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
