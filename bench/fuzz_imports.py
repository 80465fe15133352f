"""Fuzz the importers: hypothesis-generated JSONL and CSV files of members, content and
consent events, imported into SQLite and PostgreSQL. Every outcome must be a success or
an :class:`~optin.errors.OptinError` (a clear message); anything else is an internal
error and is printed with the input that caused it. A rejected import must leave the
database unchanged (all or nothing). Bounded in time: it stops by itself.

    .venv/bin/python bench/fuzz_imports.py --seconds 120            # both backends
    .venv/bin/python bench/fuzz_imports.py --backend sqlite --seconds 30

Exit status 0 when no internal error was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.errors import OptinError
from optin.services.imports import ImportFormat, ImportKind, import_bytes
from optin.storage.database import Database

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
MEMBERS = ("m1", "m2", "m3")

# ------------------------------------------------------------------ value strategies

_hostile_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfffy",
        "[/x]",
        "[bold red]XX[/]",
        "<script>alert(1)</script>",
        "\u202e",
        "é",
        "💥",
        "a" * 300,
        "9" * 40,
        "-1",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-14:00",
        "2024-02-30T00:00:00Z",
        "2024-03-01T00:00:00",
        "2024-03-01T00:00:00Z",
        "2024-03-01",
        "NaN",
        "m1",
        "US",
        "XX",
        "post",
        "public",
        "grant",
        "withdraw",
        "train_own_models",
        "2024-02-01T00:00:00Z=US;2024-05-01T00:00:00Z=IN",
        "=;=",
        "a@b.co",
    ]
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    _hostile_text,
)
_json_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)

_VALID: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from([*MEMBERS, "c1", "c2", "n1", "n-2", "x:y"]),
    "handle": st.sampled_from(["ada", "bob", "h_1", "Ada"]),
    "display_name": st.sampled_from(["Ada", "Bob B.", "名前"]),
    "email": st.sampled_from(["a@b.co", "x@y.org"]),
    "birth_date": st.sampled_from(["1990-05-17", "2015-01-01"]),
    "joined_at": st.sampled_from(["2024-02-01T00:00:00Z", "2024-01-01T10:00:00+02:00"]),
    "country": st.sampled_from(["US", "IN", "DE", "BR"]),
    "countries": st.just([{"since": "2024-02-01T00:00:00Z", "country": "US"}]),
    "statuses": st.just([{"since": "2024-02-01T00:00:00Z", "status": "active"}]),
    "author_id": st.sampled_from(MEMBERS),
    "kind": st.sampled_from(["post", "article", "comment", "message"]),
    "visibility": st.sampled_from(["public", "connections", "private"]),
    "text": st.sampled_from(["Hello world, this is a post.", "Call me at +1 555 0100"]),
    "language": st.sampled_from(["en", "pt-BR", "de"]),
    "created_at": st.sampled_from(["2024-03-01T00:00:00Z"]),
    "edited_at": st.sampled_from(["2024-03-02T00:00:00Z", "2024-02-01T00:00:00Z"]),
    "deleted_at": st.sampled_from(["2024-03-03T00:00:00Z"]),
    "event_id": st.sampled_from(["e1", "e2", "e3", str(uuid.UUID(int=1))]),
    "member_id": st.sampled_from(MEMBERS),
    "purpose": st.sampled_from(["train_own_models", "share_with_providers", "nope"]),
    "action": st.sampled_from(["grant", "withdraw"]),
    "at": st.sampled_from(["2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"]),
    "policy_version": st.sampled_from([1, 2, "1"]),
    "source": st.sampled_from(["import", "web", "api", "cli", "bogus"]),
    "recorded_at": st.sampled_from(["2024-03-01T00:00:01Z"]),
}
FIELDS: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.MEMBERS: (
        "id",
        "handle",
        "display_name",
        "email",
        "birth_date",
        "joined_at",
        "country",
        "countries",
        "statuses",
    ),
    ImportKind.CONTENT: (
        "id",
        "author_id",
        "kind",
        "visibility",
        "text",
        "language",
        "created_at",
        "edited_at",
        "deleted_at",
    ),
    ImportKind.CONSENTS: (
        "event_id",
        "member_id",
        "purpose",
        "action",
        "at",
        "policy_version",
        "source",
        "recorded_at",
    ),
}


@st.composite
def records(draw: st.DrawFn, kind: ImportKind) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for name in FIELDS[kind]:
        choice = draw(st.integers(0, 9))
        if choice < 6:
            rec[name] = draw(_VALID[name])
        elif choice < 8:
            rec[name] = draw(_json_value)
        # else: left out
    if draw(st.integers(0, 9)) == 0:
        rec[draw(st.text(max_size=6))] = draw(_scalar)
    return rec


def _jsonl_line(draw: st.DrawFn, rec: dict[str, Any]) -> bytes:
    line = json.dumps(rec, ensure_ascii=draw(st.booleans()))
    mutation = draw(st.integers(0, 19))
    if mutation == 0 and rec:  # a duplicate key
        k = draw(st.sampled_from(sorted(rec)))
        line = line[:-1] + (", " if len(rec) else "") + json.dumps(k) + ': "dup"}'
    elif mutation == 1:  # truncated
        line = line[: draw(st.integers(0, max(0, len(line) - 1)))]
    elif mutation == 2:  # deep nesting
        depth = draw(st.sampled_from([17, 500, 5000, 100_000]))
        line = line[:-1] + (", " if rec else "") + '"deep": ' + "[" * depth + "]" * depth + "}"
    elif mutation == 3:  # a very long integer
        line = line[:-1] + (", " if rec else "") + '"n": ' + "9" * 5000 + "}"
    elif mutation == 4:
        line = draw(st.sampled_from(["[]", "null", "1", '"x"', "{", "NaN", "Infinity"]))
    data = line.encode("utf-8", "surrogatepass")
    if mutation == 5:  # invalid UTF-8 bytes
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[pos:]
    return data


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    if any(c in text for c in ',"\n\r') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


@st.composite
def import_files(draw: st.DrawFn) -> tuple[ImportKind, ImportFormat, bytes]:
    kind = draw(st.sampled_from(list(ImportKind)))
    fmt = draw(st.sampled_from(list(ImportFormat)))
    recs = draw(st.lists(records(kind), min_size=0, max_size=6))
    if fmt is ImportFormat.JSONL:
        data = b"\n".join(_jsonl_line(draw, r) for r in recs) + b"\n"
        return kind, fmt, data
    columns = list(dict.fromkeys(k for r in recs for k in r)) or list(FIELDS[kind])
    if draw(st.integers(0, 9)) == 0:
        columns.append(draw(st.sampled_from(columns)))  # a repeated column
    lines = [",".join(_csv_cell(c) for c in columns)]
    for r in recs:
        cells = [_csv_cell(r.get(c)) for c in columns]
        if draw(st.integers(0, 14)) == 0:
            cells = cells[:-1]
        lines.append(",".join(cells))
    text = "\n".join(lines) + "\n"
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.sampled_from([b"\x00", b"\xff", b'"', b"\r"])) + data[pos:]
    return kind, fmt, data


# ------------------------------------------------------------------------- running


@dataclass
class Report:
    backend: str
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    internal: list[str] = field(default_factory=list)


def _counts(db: Database) -> tuple[int, ...]:
    with db.engine.connect() as conn:
        return tuple(
            int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one())
            for t in ("members", "member_countries", "content_items", "consent_events")
        )


def one_case(db: Database, report: Report, kind: ImportKind, fmt: ImportFormat, data: bytes):
    """Import ``data``; record the outcome; an unexpected exception is an internal error."""
    report.cases += 1
    before = _counts(db)
    try:
        import_bytes(db, kind, data, fmt=fmt, now=NOW, name=f"fuzz.{fmt.value}")
        report.outcomes["imported"] += 1
    except OptinError as e:
        report.outcomes[type(e).__name__] += 1
        if _counts(db) != before:
            report.internal.append(f"partial import after {type(e).__name__}: {data[:300]!r}")
    except Exception as e:
        report.outcomes["INTERNAL"] += 1
        tb = "".join(traceback.format_exception(e)[-3:])
        report.internal.append(f"{kind}/{fmt}: {type(e).__name__}: {e}\n{tb}input: {data[:400]!r}")


def fuzz(db: Database, report: Report, *, seconds: float, max_cases: int | None = None) -> Report:
    """Run generated cases against ``db`` for ``seconds`` (or ``max_cases``)."""
    from tests.factories import add_member

    for mid in MEMBERS:
        add_member(db, mid)
    deadline = time.monotonic() + seconds

    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(import_files())
    def batch(case: tuple[ImportKind, ImportFormat, bytes]) -> None:
        if time.monotonic() > deadline or (max_cases is not None and report.cases >= max_cases):
            return
        one_case(db, report, *case)

    while time.monotonic() < deadline and (max_cases is None or report.cases < max_cases):
        batch()
    return report


@contextmanager
def backend_db(backend: str) -> Iterator[Database]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            db = Database(f"sqlite:///{Path(d) / 'optin.db'}", home=Path(d))
            db.init()
            try:
                yield db
            finally:
                db.dispose()
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    db = Database(url.render_as_string(hide_password=False))
    try:
        db.init()
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--seconds", type=float, default=60.0, help="Time per backend.")
    args = ap.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    failed = False
    for backend in backends:
        with backend_db(backend) as db:
            t0 = time.perf_counter()
            r = fuzz(db, Report(backend), seconds=args.seconds)
            took = time.perf_counter() - t0
        print(
            f"{backend}: {r.cases} cases in {took:.0f} s, {len(r.internal)} internal errors; "
            + ", ".join(f"{k} {v}" for k, v in r.outcomes.most_common())
        )
        for problem in r.internal[:10]:
            print("  " + problem.replace("\n", "\n  "))
        failed = failed or bool(r.internal)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.factories
    sys.exit(main())


__all__: list[str] = ["Report", "fuzz", "import_files", "main", "one_case"]
_: Callable[..., Any] = main
