"""A short run of ``bench/fuzz_imports.py``: generated import files never end in an
internal error or a partial import, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from bench.fuzz_imports import Report, fuzz

from optin.storage.database import Database


@pytest.mark.slow
def test_when_import_files_are_fuzzed_then_no_internal_error(db: Database) -> None:
    report = fuzz(db, Report(db.engine.dialect.name), seconds=20, max_cases=150)
    assert report.cases >= 50, report
    assert not report.internal, "\n\n".join(report.internal[:5])
