"""Issue 10 #1: concurrent first consents for a member with no ledger key yet.

Before the fix two transactions both created the member's key and one failed with
``IntegrityError UNIQUE member_keys.member_id`` (HTTP 500, the choice not recorded).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from optin.services.consent import record_consent
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.keys import KeyRing, unseal
from tests.factories import add_members

N = 32


def _consent_in_parallel(db: Database, members: list[str]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(members))

    def one(i: int, member: str) -> None:
        start.wait()
        try:
            record_consent(
                db,
                member,
                "train_own_models",
                "on" if i % 2 == 0 else "off",
                source="web",
                now=datetime.now(UTC),
                personal={"ip": f"192.0.2.{i}"},
            )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i, m)) for i, m in enumerate(members)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def _check_ledger(db: Database, expected: Counter[str]) -> None:
    with db.session() as s:
        report = ledger.verify(s)
        assert report.ok, report.problem
        rows = list(ledger.iter_rows(s))
        assert Counter(r.member_id for r in rows) == expected
        ring = KeyRing(s)
        ring.load(expected)
        ips = set()
        for r in rows:
            fields: Any = unseal(ring.key_for_read(r.member_id), r.event_id, r.personal)
            assert fields is not None, f"event of {r.member_id} not readable with its key"
            ips.add(fields["ip"])
        assert len(ips) == sum(expected.values())


@pytest.mark.parametrize("shape", ["same member", "different members"])
def test_when_32_first_consents_race_then_no_error_and_all_recorded(
    db: Database, shape: str
) -> None:
    if shape == "same member":
        add_members(db, [{"id": "m1"}])
        members = ["m1"] * N
    else:
        members = add_members(db, [{"id": f"m{i}"} for i in range(N)])
    errors = _consent_in_parallel(db, members)
    assert errors == [], f"{len(errors)} of {N} failed: {errors[0]!r}"
    _check_ledger(db, Counter(members))
