"""A snapshot build compiles the members' directory once in the driver and its workers
load the compiled file (never the JSONL again); the snapshot is the one the JSONL load
gave, and the build's work dir holds the compiled file only while it runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from optin.errors import IntegrityError
from optin.privacy.detect import Directory
from optin.storage.database import Database
from tests.factories import add_member
from tests.pipeline.helpers import build, copy_home, make_demo_home, read_all

NEWCOMER = {"handle": "quillon_vex", "display_name": "Quillon Vexhartley"}


@pytest.fixture(scope="module", name="home")
def home_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = make_demo_home(tmp_path_factory.mktemp("dirload") / "home", members=60, posts=400)
    yield home


def _rows(result: Any) -> list[tuple[Any, ...]]:
    return sorted((r["record_id"], r["text"]) for r in read_all(result))


def test_when_snapshot_built_then_workers_load_the_compiled_directory(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_a, st_a = copy_home(home, tmp_path / "a")
    db_b, st_b = copy_home(home, tmp_path / "b")
    loads: list[tuple[str, Path, Path]] = []
    compiled_load = Directory.from_compiled.__func__  # type: ignore[attr-defined]
    jsonl_load = Directory.from_jsonl.__func__  # type: ignore[attr-defined]

    def from_compiled(cls: type[Directory], path: Any, source: Any, **kw: Any) -> Directory:
        loads.append(("compiled", Path(path), Path(source)))
        assert Path(path).is_file() and Path(path).stat().st_mode & 0o777 == 0o600
        return compiled_load(cls, path, source, **kw)  # type: ignore[no-any-return]

    def from_jsonl(cls: type[Directory], path: Any, erased_key: Any = None) -> Directory:
        loads.append(("jsonl", Path(path), Path(path)))
        return jsonl_load(cls, path, erased_key)  # type: ignore[no-any-return]

    monkeypatch.setattr(Directory, "from_compiled", classmethod(from_compiled))
    monkeypatch.setattr(Directory, "from_jsonl", classmethod(from_jsonl))
    compiled = build(db_a, st_a)
    assert loads and {kind for kind, _, _ in loads} == {"compiled"}
    assert {(p.name, s.name) for _, p, s in loads} == {("directory.arrow", "directory.jsonl")}
    assert not loads[0][1].exists()  # the work dir (clear text) is gone after the build

    # the same build, its workers loading the JSONL: the same snapshot
    def jsonl_instead(cls: type[Directory], path: Any, source: Any, **kw: Any) -> Directory:
        return jsonl_load(cls, source, kw.get("erased_key"))  # type: ignore[no-any-return]

    monkeypatch.setattr(Directory, "from_compiled", classmethod(jsonl_instead))
    plain = build(db_b, st_b)
    assert compiled.snapshot_id == plain.snapshot_id
    assert _rows(compiled) == _rows(plain) and compiled.records > 0
    db_a.dispose()
    db_b.dispose()


def test_when_compiled_directory_is_altered_then_the_build_fails_cleanly(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiled file that is not the one the driver wrote is refused by the workers
    (IntegrityError: a message, not a traceback), never used."""
    import optin.services.snapshots as snapshots

    db, st_ = copy_home(home, tmp_path / "a")
    add_member(db, "m-newcomer", **NEWCOMER)
    real = snapshots.compile_directory_job

    def compile_then_alter(paths: tuple[str, str]) -> str:
        sha = real(paths)
        out = Path(paths[1])
        out.write_bytes(out.read_bytes() + b"\0")
        return sha

    monkeypatch.setattr(snapshots, "compile_directory_job", compile_then_alter)
    with pytest.raises(IntegrityError, match="compiled directory"):
        build(db, st_)
    db.dispose()


def test_when_snapshot_built_then_the_compiled_directory_redacts_members(
    home: Path, tmp_path: Path
) -> None:
    from datetime import timedelta

    from tests.factories import add_content
    from tests.pipeline.helpers import AS_OF

    db, st_ = copy_home(home, tmp_path / "a")
    author = _an_eligible_author(db)
    add_member(db, "m-newcomer", **NEWCOMER)
    add_content(db, author, "c-hello", "Say hi to Quillon Vexhartley (@quillon_vex) today!",
                created_at=AS_OF - timedelta(days=3))  # fmt: skip
    texts = [t for _, t in _rows(build(db, st_))]
    assert not any("Vexhartley" in t or "quillon_vex" in t for t in texts)
    assert any("Say hi to" in t for t in texts)
    db.dispose()


def _an_eligible_author(db: Database) -> str:
    from optin.services.eligibility import decide_all
    from tests.pipeline.helpers import AS_OF, PURPOSE

    return next(d.member_id for d in decide_all(db, PURPOSE, AS_OF) if d.eligible)
