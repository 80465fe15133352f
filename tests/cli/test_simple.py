"""The ``optin`` script's entry (``optin.cli.entry``) answers ``consent show`` and
``eligibility`` before Typer loads; for every command line it prints exactly what the
Typer entry (``optin.cli.main``) prints and exits with the same code: random command
lines (valid, misspelt, with Click's other spellings, errors) on random histories."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.storage.database import Database
from tests.services.test_eligibility import P, Q, _random_world

#: A time the command read from the clock (no --at): the two runs read it apart.
_NOW = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|\+00:00)")


@pytest.fixture()
def world(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    ids, _probes = _random_world(sqlite_db, random.Random(3), 8, late_members=True)
    for key in [k for k in os.environ if k.upper().startswith("OPTIN_")]:
        monkeypatch.delenv(key)
    assert sqlite_db.home is not None
    monkeypatch.setenv("OPTIN_HOME", str(sqlite_db.home))
    monkeypatch.delenv("COLUMNS", raising=False)
    yield ids


def _both(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, object]:
    from optin.cli import entry, main

    out = []
    for run in (entry.run, main.run):
        capsys.readouterr()
        code = run(list(argv))
        got = capsys.readouterr()
        if "--at" not in " ".join(argv):
            out.append((code, _NOW.sub("T", got.out), _NOW.sub("T", got.err)))
        else:
            out.append((code, got.out, got.err))
    return out[0], out[1]


def _tokens(ids: list[str], home: str, missing: str) -> st.SearchStrategy[list[str]]:
    member = st.sampled_from([*ids, f"@h-{ids[0]}", "m-nobody", "", "-x", "@"])
    time = st.sampled_from(
        ["2025-03-01", "2025-03-01T10:00:00Z", "2024-07-01T12:30:00+02:00", "2025-03-01T10:00",
         "soon", "", "-1"]
    )  # fmt: skip
    purpose = st.sampled_from([P, Q, "nope", ""])
    pair = st.one_of(
        st.tuples(st.just("--at"), time).map(list),
        time.map(lambda t: [f"--at={t}"]),
        st.tuples(st.just("--purpose"), purpose).map(list),
        purpose.map(lambda p: [f"--purpose={p}"]),
        st.sampled_from([["--json"], ["--json=1"], ["--help"], ["-h"], ["--"], ["--bogus"]]),
        member.map(lambda m: [m]),
    )
    root = st.lists(
        st.sampled_from(
            [["--home", home], [f"--home={home}"], ["--home", missing], ["-v"], ["--verbose"],
             ["--home"], ["--version"]]
        ),
        max_size=2,
    )  # fmt: skip
    words = st.sampled_from(
        [["consent", "show"], ["eligibility"], ["consent"], ["consent", "history"], ["eligibilty"]]
    )
    junk = st.tuples(root, words, st.lists(pair, max_size=5)).map(
        lambda t: [tok for part in t[0] for tok in part] + t[1] + [tok for p in t[2] for tok in p]
    )
    good_time = st.sampled_from(["2025-03-01", "2025-03-01T10:00:00Z", "2026-01-01T00:00:00Z"])
    # the forms the fast entry takes: each option at most once, in any order
    command = st.tuples(
        st.sampled_from([["consent", "show"], ["eligibility"]]),
        st.sampled_from([*ids, f"@h-{ids[1]}", "m-nobody"]),
        st.one_of(
            st.none(), good_time.map(lambda t: ["--at", t]), good_time.map(lambda t: [f"--at={t}"])
        ),
        st.booleans(),
        st.sampled_from([["--purpose", P], [f"--purpose={Q}"], ["--purpose", "nope"]]),
        st.sampled_from([[], ["-v"], ["--home", home], ["--verbose", f"--home={home}"]]),
        st.lists(pair, max_size=1),  # one more token or pair: a form Click reads otherwise
        st.randoms(use_true_random=False),
    ).map(_assemble)
    return st.one_of(command, command, junk)


def _assemble(parts: tuple[object, ...]) -> list[str]:
    words, member, at, as_json, purpose, root, extra, rnd = parts
    opts = [[member]] + ([at] if at else []) + ([["--json"]] if as_json else [])
    if words == ["eligibility"]:
        opts.append(purpose)
    opts += extra  # type: ignore[operator]
    rnd.shuffle(opts)  # type: ignore[attr-defined]
    return [*root, *words, *(tok for o in opts for tok in o)]  # type: ignore[misc]


def test_entry_prints_what_the_typer_entry_prints(
    world: list[str],
    sqlite_db: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from optin.cli import simple

    assert sqlite_db.home is not None
    codes: set[int] = set()
    answered: list[int] = []
    answer = simple._answer

    def counted(*args: object) -> int | None:
        code = answer(*args)  # type: ignore[arg-type]
        answered.append(code if code is not None else -1)
        return code

    monkeypatch.setattr(simple, "_answer", counted)

    @settings(
        max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(_tokens(world, str(sqlite_db.home), str(tmp_path / "no-home")))
    def same(argv: list[str]) -> None:
        fast, full = _both(argv, capsys)
        assert fast == full, argv
        codes.add(fast[0])  # type: ignore[index]

    same()
    assert {0, 2, 66} <= codes  # answered, refused by Click, unknown member or purpose
    assert answered.count(0) >= 10  # the fast entry answered (not only stepped aside)


@pytest.mark.parametrize(
    "argv",
    [
        ["consent", "show", "m000", "--at", "2025-03-01"],
        ["consent", "show", "@h-m001", "--json", "--at=2025-03-01T10:00:00Z"],
        ["eligibility", "m002", "--purpose", P, "--at", "2025-03-01"],
        ["--verbose", "eligibility", "--json", "m003", "--at", "2025-03-01", "--purpose", Q],
        ["eligibility", "m-nobody", "--purpose", P],
        ["eligibility", "m000", "--purpose", "nope", "--at", "2025-03-01"],
    ],
)
def test_script_entry_is_byte_identical_and_loads_neither_typer_nor_the_orm(
    world: list[str], argv: list[str]
) -> None:
    env = dict(os.environ)  # OPTIN_HOME: the world's
    runs = {}
    for module in ("optin.cli.entry", "optin.cli.main"):
        p = subprocess.run(
            [sys.executable, "-m", module, *argv], capture_output=True, env=env, timeout=120,
            check=False,
        )  # fmt: skip
        runs[module] = (p.returncode, p.stdout, p.stderr)
    assert runs["optin.cli.entry"] == runs["optin.cli.main"]
    code = (
        f"import sys; sys.argv = ['optin', *{argv!r}]\n"
        "from optin.cli.entry import run\nrun()\n"
        "heavy = ('typer', 'sqlalchemy', 'pydantic', 'pydantic_settings', 'optin.settings')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    assert "LOADED []" in out.stdout, out.stdout[-400:] + out.stderr[-400:]


def test_entry_steps_aside_before_printing(tmp_path: Path) -> None:
    from optin.cli.entry import parse_simple
    from optin.cli.simple import answer

    for argv in (
        ["--help"],
        ["consent", "show", "m1", "--help"],
        ["consent", "show", "m1", "--json", "--json"],
        ["eligibility", "m1"],
        ["eligibility", "m1", "--purpose", "--json"],
        ["consent", "show", "m1", "m2"],
        ["consent", "show", "--", "m1"],
        ["consent", "show", "m1", "--at"],
        ["-v", "--verbose", "consent", "show", "m1"],
        ["consent", "--home", str(tmp_path), "show", "m1"],
    ):
        assert parse_simple(argv) is None, argv
    line = parse_simple(["--home", str(tmp_path / "nowhere"), "consent", "show", "m1"])
    assert line is not None and answer(line) is None  # no database there: Typer's entry
    assert not (tmp_path / "nowhere").exists()


def test_other_command_lines_cost_the_entry_nothing() -> None:
    """``optin --help`` through the script's entry loads neither Rich nor the fast path
    (the entry reads the command line with the standard library alone)."""
    code = (
        "import sys; sys.argv = ['optin', '--help']\n"
        "from optin.cli.entry import run\ncode = run()\n"
        "print('LOADED', code, [m for m in ('rich', 'optin.cli.simple') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert "LOADED 0 []" in out.stdout, out.stdout[-400:] + out.stderr[-400:]


def test_a_configured_database_url_takes_the_full_path(
    db: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL (or any OPTIN_DATABASE_URL): the fast read steps aside and the full
    path answers, the same through either entry."""
    from optin.cli.entry import parse_simple
    from optin.cli.simple import answer
    from tests.factories import add_member

    add_member(db, "m1", handle="ada")
    for key in [k for k in os.environ if k.upper().startswith("OPTIN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("OPTIN_HOME", str(db.home or tmp_path))
    monkeypatch.setenv("OPTIN_DATABASE_URL", db.url)
    line = parse_simple(["consent", "show", "@ada", "--at", "2025-01-01"])
    assert line is not None and answer(line) is None
    for argv in (
        ["consent", "show", "@ada", "--at", "2025-01-01", "--json"],
        ["eligibility", "m1", "--purpose", P, "--at", "2025-01-01"],
        ["eligibility", "m-nobody", "--purpose", P],
    ):
        fast, full = _both(argv, capsys)
        assert fast == full, argv
        assert fast[0] in (0, 66)  # type: ignore[index]
