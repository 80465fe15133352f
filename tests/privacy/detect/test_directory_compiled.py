"""The compiled directory (``compile_directory`` / ``Directory.from_compiled``): the
same tables and the same findings as the JSONL it was compiled from, on tables of
mentions, adversarial names and random directories and texts; a stale, foreign, altered
or corrupt compiled file is refused with a clear error (an OptinError: one line for the
user, never a traceback). The tables are also checked against the computation the
directory had before it could be compiled (:func:`reference_tables`)."""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.errors import ConfigError, InputError, IntegrityError, OptinError
from optin.privacy.api import Redactor, RedactorConfig
from optin.privacy.detect import (
    Directory,
    DirectoryEntry,
    compile_directory,
    erasure_marker,
    lexicon,
)
from optin.privacy.detect import directory as dmod
from optin.privacy.detect import directory_compiled as cmod

KEY = b"k" * 32

MEMBERS = [
    DirectoryEntry("Jane Q. Doe", "jdoe", "https://example.social/in/jdoe"),
    DirectoryEntry("Zorblax Quint", "zq_77", None),
    DirectoryEntry("Admin", "admin", None),
    DirectoryEntry("grace", "grace", None),  # a name alone, a handle that is a word
    DirectoryEntry("Jean-Luc O'Brien", "@JL.OBrien", "http://www.Example.social/@jlob/"),
    DirectoryEntry("J.R.R. Tolkien", "jrr-t", None),
    DirectoryEntry("Ana María de la Cruz", "ana_maria", "example.social/u/ana_maria"),
    DirectoryEntry("山本知実", "yamamoto", None),
    DirectoryEntry("毕燕", "biyan", None),
    DirectoryEntry("Kim Min-jun", "minjun", None),
    DirectoryEntry("İlker Şen", "ilker", None),  # lower-casing changes the letters
    DirectoryEntry("Zoë’s Café", "zoe.cafe", None),
    DirectoryEntry("Jane Q. Doe", "jdoe2", None),  # the same name twice
    DirectoryEntry("Bob", "bob", "https://example.social/in/b\ud800b"),  # lone surrogate
]
ERASED = [
    DirectoryEntry("Quillon Vexhartley", "quillon_vex", "https://example.social/in/qv"),
    DirectoryEntry("佐藤花子", "hanako", None),
]

TEXTS = [
    "I met Jane Q. Doe today",
    "I met jane doe today, and JANE Q. DOE too",
    "ask Dr. Doe about it; Prof.Doe and ms. doe",
    "ping @jdoe please, and @jdoe. and @jdoe-",
    "ping zq_77 please, zq_77. (zq_77) zq_77x x_zq_77",
    "Zorblax Quint wrote this",
    "profile https://example.social/in/jdoe. and example.social/in/zq_77",
    "the admin panel; grace under pressure; Grace said",
    "Jean-Luc O'Brien and jean-luc o’brien and @jl.obrien and www.example.social/@jlob",
    "J.R.R. Tolkien, j.r.r. tolkien, @jrr-t, jrr-t",
    "Ana María de la Cruz, Ana Cruz, ana_maria, example.social/u/ana_maria?tab=1",
    "今天山本知实说了 山本知实 毕燕和毕燕说",
    "Kim Min-jun and kim min-jun, Mr Min-jun",
    "İlker Şen and ilker şen and i̇lker şen, @ilker",
    "Zoë’s Café and zoe.cafe and zoe.cafe.",
    "Quillon Vexhartley (@quillon_vex) and quillon_vex, https://example.social/in/qv",
    "佐藤花子さん and 佐藤花子",
    "bob https://example.social/in/b\ud800b and @bob",
    "mail jdoe@example.com, #jdoe, my jdoe-ish idea, Doe, a deer",
    "",
]


def write_jsonl(path: Path, members: Iterable[DirectoryEntry], erased: Iterable[DirectoryEntry] = ()) -> Path:  # fmt: skip
    """A directory JSONL file as the build writes it (members, then erased markers)."""
    lines = [
        json.dumps({"display_name": e.display_name, "handle": e.handle, "profile_url": e.profile_url})
        for e in members
    ]  # fmt: skip
    lines += [json.dumps({"erased": erasure_marker(e, KEY)}, sort_keys=True) for e in erased]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def findings(d: Directory, texts: Iterable[str]) -> list[list[tuple[Any, ...]]]:
    return [
        [(f.start, f.end, f.label, f.score, f.recognizer, f.explanation) for f in d.find(t)]
        for t in texts
    ]


def tables(d: Directory) -> tuple[Any, ...]:
    er = d.erased
    erased = None if er is None else (er.walk, er.surnames, er.handles, er.bare, er.urls, len(er))
    return (d._walk, d._first_tokens, d._cjk_names, d._surname_set, d._handles,
            d._not_bare, d._urls, len(d), erased)  # fmt: skip


def both(tmp: Path, members: Sequence[DirectoryEntry], erased: Sequence[DirectoryEntry] = ()) -> tuple[Directory, Directory]:  # fmt: skip
    src = write_jsonl(tmp / "d.jsonl", members, erased)
    sha = compile_directory(src, tmp / "d.arrow")
    key = KEY if erased else None
    plain = Directory.from_jsonl(src, erased_key=key)
    return plain, Directory.from_compiled(tmp / "d.arrow", src, sha256=sha, erased_key=key)


def _old_bare_ok(handle: str, lex: dict[str, tuple[int, int]]) -> bool:
    flags = lex.get(handle, (0, 0))[0]
    return any(ch.isdigit() or ch in "_." for ch in handle) or (
        len(handle) >= 5 and not flags and handle not in lexicon.STOP
    )


def reference_tables(entries: Iterable[DirectoryEntry]) -> tuple[Any, ...]:
    """The tables as ``Directory.__init__`` computed them before the compiled form (one
    plain loop, no caches or shortcuts): walk, CJK names, surnames, handles, bare, URLs."""
    lex = lexicon.names()
    names: dict[str, set[tuple[str, ...]]] = {}
    cjk: set[str] = set()
    surnames: set[str] = set()
    handles: set[str] = set()
    bare: set[str] = set()
    urls: set[str] = set()
    for e in entries:
        toks = tuple(t.lower() for t in dmod._TOKEN.findall(e.display_name))
        for v in dmod._name_variants(toks, lex):
            names.setdefault(v[0], set()).add(v)
            if len(v) == 1 and dmod._cjk(v[0]):
                cjk.add(v[0])
        if len(toks) >= 2 and len(toks[-1]) > 1:
            surnames.add(toks[-1])
        h = e.handle.lstrip("@").lower()
        if h:
            handles.add(h)
            if _old_bare_ok(h, lex):
                bare.add(h)
        if e.profile_url:
            urls.add(dmod._norm_url(e.profile_url))
    walk: dict[str, set[tuple[str, ...]]] = {}
    for group in names.values():
        for v in group:
            sub = tuple(w for t in v for w in dmod._SUBTOKEN.findall(t))
            if sub:
                walk.setdefault(sub[0], set()).add(sub)
    walk_sorted = {k: sorted(vs, key=lambda v: (-len(v), v)) for k, vs in walk.items()}
    return walk_sorted, cjk, surnames, handles, bare, urls


def assert_reference(d: Directory, entries: Sequence[DirectoryEntry]) -> None:
    walk, cjk, surnames, handles, bare, urls = reference_tables(entries)
    assert d._walk == walk
    assert d._first_tokens == set(walk)
    assert d._cjk_names == cjk
    assert d._surname_set == surnames
    assert d._handles == handles
    assert d._handles - d._not_bare == bare
    assert d._urls == urls


# -- the same directory ------------------------------------------------------------------


def test_when_compiled_then_tables_and_findings_equal_the_jsonl(tmp_path: Path) -> None:
    plain, compiled = both(tmp_path, MEMBERS, ERASED)
    assert tables(compiled) == tables(plain)
    assert findings(compiled, TEXTS) == findings(plain, TEXTS)
    assert any(findings(plain, TEXTS))
    assert_reference(plain, MEMBERS)


@pytest.mark.parametrize("text", TEXTS)
def test_when_a_member_is_mentioned_then_compiled_finds_what_jsonl_finds(
    tmp_path: Path, text: str
) -> None:
    plain, compiled = both(tmp_path, MEMBERS, ERASED)
    assert findings(compiled, [text]) == findings(plain, [text])


def test_when_directory_is_empty_then_compiled_is_empty_too(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text("\n")  # what the build writes when nobody is listed
    sha = compile_directory(src, tmp_path / "d.arrow")
    d = Directory.from_compiled(tmp_path / "d.arrow", src, sha256=sha)
    assert len(d) == 0 and list(d.find("Jane Doe @jdoe")) == []


def test_when_compiled_twice_then_the_file_is_the_same(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", MEMBERS, ERASED)
    a = compile_directory(src, tmp_path / "a.arrow")
    b = compile_directory(src, tmp_path / "b.arrow")
    assert a == b
    assert (tmp_path / "a.arrow").stat().st_mode & 0o777 == 0o600


def test_when_compiled_directory_pickled_then_it_still_matches(tmp_path: Path) -> None:
    plain, compiled = both(tmp_path, MEMBERS, ERASED)
    again = pickle.loads(pickle.dumps(compiled))
    assert findings(again, TEXTS) == findings(plain, TEXTS)


def test_when_redactor_config_names_compiled_file_then_redaction_is_the_same(
    tmp_path: Path,
) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", MEMBERS, ERASED)
    sha = compile_directory(src, tmp_path / "d.arrow")
    base = RedactorConfig(operator="pseudonym", key=b"p" * 32, directory_path=str(src),
                          directory_key=KEY, drop_density=None)  # fmt: skip
    compiled = RedactorConfig(
        operator="pseudonym", key=b"p" * 32, directory_path=str(src), directory_key=KEY,
        drop_density=None, directory_compiled=str(tmp_path / "d.arrow"),
        directory_compiled_sha256=sha,
    )  # fmt: skip
    a, b = Redactor(base), Redactor(compiled)
    assert tables(b.directory) == tables(a.directory)  # type: ignore[arg-type]
    for t in TEXTS:
        assert b.redact(t) == a.redact(t)


def test_when_compiled_file_named_without_its_jsonl_then_config_error() -> None:
    with pytest.raises(ConfigError, match="directory_path"):
        RedactorConfig(directory_compiled="d.arrow")


# -- random directories and texts ----------------------------------------------------------

_PIECES = st.sampled_from(
    ["Jane", "Q.", "Doe", "jane", "DOE", "J.R.", "O'Brien", "o’brien", "Jean-Luc", "İlker",
     "ŞEN", "Straße", "Ñandú", "山本", "知実", "毕燕", "佐藤花子", "Kim", "Min-jun", "a", "Dr",
     "the", "admin", "grace", "Grace", "x1", "ǅemal", "Ⅻ", "e\u0301", "de", "la", "Zoë’s",
     "von", "_", ".", "-", "a.b", "Mc.Kay", "Ο'Νίκος"]
)  # fmt: skip
_NAMES = st.one_of(
    st.lists(_PIECES, min_size=1, max_size=4).map(" ".join),
    st.text(st.sampled_from("aBé.'’-_ 山知İı\u0301x1"), min_size=1, max_size=12),
).filter(lambda s: s.strip() != "")
_HANDLES = st.text(st.sampled_from("abcxyzJDOE0129_.-"), min_size=1, max_size=10).map(
    lambda h: h if h[0] != "@" else "x" + h
)
_URLS = st.one_of(
    st.none(),
    _HANDLES.map(lambda h: f"https://example.social/in/{h}"),
    st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != ""),
)
_ENTRIES = st.builds(DirectoryEntry, _NAMES, _HANDLES, _URLS)


def _texts(members: Sequence[DirectoryEntry]) -> st.SearchStrategy[str]:
    parts = [e.display_name for e in members] + [e.display_name.lower() for e in members]
    parts += [f"@{e.handle}" for e in members] + [e.handle for e in members]
    parts += [e.profile_url for e in members if e.profile_url]
    parts += [f"Dr. {e.display_name.split()[-1]}" for e in members if e.display_name.split()]
    parts += ["今天", "说了", "the", "and", ",", ".", "-", "@", "/", "https://", "www.", "'s"]
    seps = st.sampled_from([" ", "", "\n", ". ", ", ", "  ", "-", "/", "@"])
    return st.lists(st.tuples(st.sampled_from(parts), seps), max_size=10).map(
        lambda xs: "".join(a + b for a, b in xs)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_when_random_directory_then_compiled_equals_jsonl_and_reference(data: st.DataObject) -> None:  # fmt: skip
    members = data.draw(st.lists(_ENTRIES, min_size=1, max_size=8), label="members")
    erased = data.draw(st.lists(_ENTRIES, max_size=3), label="erased")
    texts = data.draw(st.lists(_texts(members + erased), min_size=1, max_size=6), label="texts")
    assert_reference(Directory.from_entries(members), members)
    with tempfile.TemporaryDirectory() as tmp:
        plain, compiled = both(Path(tmp), members, erased)
    assert tables(compiled) == tables(plain)
    assert findings(compiled, texts) == findings(plain, texts)
    assert_reference(plain, members)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("aZé.'’- 山İıǅ\u0301\u00b2x1_"), max_size=14))
def test_when_any_name_then_its_tables_are_the_plain_computation(name: str) -> None:
    lex = lexicon.names()
    subs, cjk, surname = dmod._name_tables(name, lex)
    toks = tuple(t.lower() for t in dmod._TOKEN.findall(name))
    variants = dmod._name_variants(toks, lex)
    walk = [tuple(w for t in v for w in dmod._SUBTOKEN.findall(t)) for v in variants]
    assert list(subs) == [v for v in walk if v]
    assert list(cjk) == [v[0] for v in variants if len(v) == 1 and dmod._cjk(v[0])]
    assert surname == (toks[-1] if len(toks) >= 2 and len(toks[-1]) > 1 else None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=10))
def test_when_any_handle_then_bare_is_the_plain_rule(handle: str) -> None:
    lex = lexicon.names()
    assert dmod._bare_ok(handle, lex) == _old_bare_ok(handle, lex)


# -- refused -------------------------------------------------------------------------------


@pytest.fixture(name="compiled")
def compiled_fixture(tmp_path: Path) -> tuple[Path, Path, str]:
    src = write_jsonl(tmp_path / "d.jsonl", MEMBERS, ERASED)
    out = tmp_path / "d.arrow"
    return src, out, compile_directory(src, out)


def _user_sees(e: OptinError, capsys: pytest.CaptureFixture[str]) -> str:
    from optin.cli.main import exit_code_of

    assert exit_code_of(e) not in (None, 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") <= 1
    return err


def test_when_jsonl_changed_after_compiling_then_stale_is_refused(
    compiled: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    src, out, sha = compiled
    with src.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"display_name": "New Member", "handle": "newbie"}) + "\n")
    with pytest.raises(IntegrityError, match="stale") as exc:
        Directory.from_compiled(out, src, sha256=sha, erased_key=KEY)
    assert "stale" in _user_sees(exc.value, capsys)


def test_when_compiled_from_another_jsonl_then_refused(
    compiled: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _, out, _ = compiled
    other = write_jsonl(tmp_path / "other.jsonl", MEMBERS[:2])
    with pytest.raises(IntegrityError, match="stale"):
        Directory.from_compiled(out, other)


def test_when_sha256_differs_then_refused(compiled: tuple[Path, Path, str]) -> None:
    src, out, sha = compiled
    with pytest.raises(IntegrityError, match="SHA-256"):
        Directory.from_compiled(out, src, sha256="0" * 64, erased_key=KEY)
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    out.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="SHA-256"):
        Directory.from_compiled(out, src, sha256=sha, erased_key=KEY)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],
        lambda b: b"",
        lambda b: b"not an arrow file at all\n",
        lambda b: b"ARROW1\x00\x00" + b"\xff" * 64,
        lambda b: b[:-12],
    ],
    ids=["truncated", "empty", "text", "bad-header", "no-footer"],
)
def test_when_compiled_file_is_corrupt_then_input_error(
    compiled: tuple[Path, Path, str], damage: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out, _ = compiled
    out.write_bytes(damage(out.read_bytes()))
    with pytest.raises(InputError, match="not a compiled directory") as exc:
        Directory.from_compiled(out, src, erased_key=KEY)
    assert str(out) in _user_sees(exc.value, capsys)


def test_when_jsonl_is_given_as_the_compiled_file_then_input_error(
    compiled: tuple[Path, Path, str],
) -> None:
    src, _, _ = compiled
    with pytest.raises(InputError, match="not a compiled directory"):
        Directory.from_compiled(src, src, erased_key=KEY)


def test_when_arrow_file_has_another_layout_then_input_error(
    compiled: tuple[Path, Path, str],
) -> None:
    src, out, _ = compiled
    meta = pa.ipc.open_file(out).schema.metadata
    table = pa.table({"handles": [["jdoe"]]}).replace_schema_metadata(meta)
    with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    with pytest.raises(InputError, match="not a compiled directory"):
        Directory.from_compiled(out, src, erased_key=KEY)


def test_when_compiled_by_another_format_then_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", MEMBERS)
    monkeypatch.setattr(cmod, "COMPILED_FORMAT", "optin-directory-0")
    compile_directory(src, tmp_path / "d.arrow")
    monkeypatch.undo()
    with pytest.raises(InputError, match="another format"):
        Directory.from_compiled(tmp_path / "d.arrow", src)


def test_when_name_lists_differ_then_input_error(
    compiled: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out, sha = compiled
    monkeypatch.setattr(lexicon, "digest", lambda: "0" * 64)
    with pytest.raises(InputError, match="other name lists"):
        Directory.from_compiled(out, src, sha256=sha, erased_key=KEY)


def test_when_files_are_missing_then_input_error(compiled: tuple[Path, Path, str]) -> None:
    src, out, _ = compiled
    with pytest.raises(InputError, match="cannot read compiled directory"):
        Directory.from_compiled(out.with_name("nope.arrow"), src)
    with pytest.raises(InputError, match="cannot read directory file"):
        Directory.from_compiled(out, src.with_name("nope.jsonl"))


def test_when_erased_members_listed_and_no_key_then_input_error(
    compiled: tuple[Path, Path, str],
) -> None:
    src, out, sha = compiled
    with pytest.raises(InputError, match="no key"):
        Directory.from_compiled(out, src, sha256=sha)


def test_when_jsonl_is_bad_then_compiling_reports_it_as_the_load_does(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text('{"display_name": "Ok Name", "handle": "ok"}\n{"handle": "x"}\n')
    with pytest.raises(InputError) as exc:
        compile_directory(src, tmp_path / "d.arrow")
    assert (exc.value.line, exc.value.field) == (2, "display_name")
    assert not (tmp_path / "d.arrow").exists()
