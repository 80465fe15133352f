"""The independent residual scanner: tables of what it sees and what it leaves, its
confidence interval, and its independence from the redactor's code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import optin.privacy.rescan as rescan_module
from optin.privacy.rescan import Directory, Rescan, scan

DIRECTORY = Directory.build(
    [("Jane Roe", "jroe"), ("阳旭", "yangxu"), ("Pieter van der Berg", "pvdb"), ("", "x")]
)

POSITIVES = [
    ("write to jane.roe@mailbox.org today", "EMAIL"),
    ("write to jane.roe＠mailbox.org today", "EMAIL"),  # fullwidth @ (NFKC)
    ("mail ja\u200bne@mailbox.org", "EMAIL"),  # zero-width space dropped
    ("write to jane@example.company.com", "EMAIL"),  # not the reserved example.com
    ("call +1 415-555-0234", "PHONE"),  # 555-02xx is a real range
    ("ping @jroe about it", "HANDLE"),
    ("call +44 20 7946 0958", "PHONE"),
    ("Llámame al 011 15-2356-2484.", "PHONE"),
    ("card 4111 1111 1111 1111 on file", "CREDIT_CARD"),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN"),
    ("thanks Jane Roe!", "PERSON"),
    ("Thanks JANE ROE for the help", "PERSON"),
    ("My former manager 阳旭 had a rule", "PERSON"),
    ("welcome Pieter van der Berg", "PERSON"),
]
NEGATIVES = [
    "thanks [PERSON] and <PERSON_3f2a>, write to [EMAIL]",
    "on 2024-05-01 we met 120 people",
    "version 1.2.3.4 shipped",
    "Jane went home; Roe is a deer",
    "follow @someone_else",  # not a member handle
    "an @ sign alone and a.b",
    "order 4111 1111 1111 1112",  # Luhn fails
    # the surrogate operator's fakes: reserved domains (RFC 2606/6761) and the NANP
    # range reserved for fiction never reach a real person
    "write to maya.young@example.com or ben@shop.example or x@host.test",
    "call +1 720-555-0134 or (212) 555-0199",
]


@pytest.mark.parametrize(("text", "label"), POSITIVES)
def test_rescan_sees_residual_personal_data(text: str, label: str) -> None:
    assert label in scan(text, DIRECTORY)


@pytest.mark.parametrize("text", NEGATIVES)
def test_rescan_leaves_tags_and_lookalikes(text: str) -> None:
    assert scan(text, DIRECTORY) == []


def test_residual_rate_and_wilson_interval() -> None:
    r = Rescan()
    for i in range(200):
        r.add(f"r{i}", ["PERSON"] if i < 4 else [])
    assert r.rate == pytest.approx(0.02)
    lo, hi = r.interval()
    assert 0.0 < lo < 0.02 < hi < 0.06
    assert r.record_ids == ["r0", "r1", "r2", "r3"]
    assert Rescan().interval() == (0.0, 0.0)


def test_rescan_shares_no_code_with_the_redactor() -> None:
    tree = ast.parse(Path(rescan_module.__file__).read_text(encoding="utf-8"))
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [None])  # type: ignore[list-item]
    }
    assert not any(m and m.startswith("optin") for m in imported), imported
