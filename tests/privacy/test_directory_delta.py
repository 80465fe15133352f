"""The directory delta: where no changed entry matches, two directories find the same.

The invariant an incremental build relies on (``optin.privacy.directory_delta``): for
any two directories and any text, if :meth:`DirectoryDelta.touches` is false the
directory recognizer finds exactly the same spans under both; and a fake accepted under
the old directory is refused under the new one only if :meth:`names_any` says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.privacy.detect import Directory, DirectoryEntry, compile_directory, erasure_marker
from optin.privacy.directory_delta import (
    ELEMENTS_FORMAT,
    DirectoryDelta,
    directory_elements,
    read_elements,
    write_elements,
)

KEY = b"k" * 32  # the snapshot's content-hash key
DIR_KEY = b"d" * 32  # the platform's directory key (erased members)

FIRST = ["Anna", "Ravi", "Chidinma", "Jun", "Grace", "Oskar", "Parisa", "毕燕"]
LAST = ["Kowalski", "Okafor", "van der Berg", "O'Sullivan", "Tanaka", "Smith", "Li"]
HANDLES = ["anna_k", "ravi.o", "jtanaka", "grace77", "oskar", "parisa-s", "chid"]
FILLER = ["met", "with", "Dr.", "@", "thanks", "and", "/in/", "https://x.test/in/", ",", "."]


def _entries() -> st.SearchStrategy[list[tuple[str, str, bool]]]:
    """(display name, handle, erased) members."""
    name = st.one_of(
        st.builds(lambda f, last: f"{f} {last}", st.sampled_from(FIRST), st.sampled_from(LAST)),
        st.sampled_from(FIRST),
        st.builds(
            lambda f, m, last: f"{f} {m} {last}",
            st.sampled_from(FIRST),
            st.sampled_from(FIRST),
            st.sampled_from(LAST),
        ),
    )
    return st.lists(st.tuples(name, st.sampled_from(HANDLES), st.booleans()), max_size=6)


def _text() -> st.SearchStrategy[str]:
    word = st.one_of(
        st.sampled_from(FIRST), st.sampled_from(LAST), st.sampled_from(HANDLES),
        st.sampled_from(FILLER), st.builds(lambda h: "@" + h, st.sampled_from(HANDLES)),
        st.builds(lambda h: "https://x.test/in/" + h, st.sampled_from(HANDLES)),
    )  # fmt: skip
    return st.lists(word, max_size=14).map(" ".join)


def _directory(tmp: Path, name: str, members: list[tuple[str, str, bool]]) -> tuple[Path, Path]:
    """The JSONL and compiled files of ``members`` (erased ones as markers)."""
    src = tmp / f"{name}.jsonl"
    lines = []
    for display, handle, erased in members:
        if erased:
            marker = erasure_marker(DirectoryEntry(display, handle), DIR_KEY)
            lines.append(json.dumps({"erased": marker}, sort_keys=True))
        else:
            lines.append(json.dumps({"display_name": display, "handle": handle}))
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp / f"{name}.arrow"
    compile_directory(src, out)
    return src, out


def _spans(d: Directory, text: str) -> list[tuple[int, int, str]]:
    return sorted((f.start, f.end, str(f.label)) for f in d.find(text))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(before=_entries(), after=_entries(), texts=st.lists(_text(), min_size=1, max_size=6))
def test_no_changed_entry_matches_means_the_same_findings(
    tmp_path_factory: pytest.TempPathFactory,
    before: list[tuple[str, str, bool]],
    after: list[tuple[str, str, bool]],
    texts: list[str],
) -> None:
    tmp = tmp_path_factory.mktemp("d")
    src1, c1 = _directory(tmp, "before", before)
    src2, c2 = _directory(tmp, "after", after)
    d1 = Directory.from_jsonl(src1, erased_key=DIR_KEY)
    d2 = Directory.from_jsonl(src2, erased_key=DIR_KEY)
    delta = DirectoryDelta.between(
        directory_elements(c1, src1, KEY), directory_elements(c2, src2, KEY), KEY, DIR_KEY
    )
    for text in texts:
        if not delta.touches(text):
            assert _spans(d1, text) == _spans(d2, text), text
    if sorted(before) == sorted(after):
        assert len(delta) == 0


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(before=_entries(), after=_entries(), fakes=st.lists(_text(), max_size=4))
def test_a_fake_changes_its_answer_only_where_names_any_says(
    tmp_path_factory: pytest.TempPathFactory,
    before: list[tuple[str, str, bool]],
    after: list[tuple[str, str, bool]],
    fakes: list[str],
) -> None:
    """The surrogate operator refuses a fake the directory finds anything in."""
    tmp = tmp_path_factory.mktemp("f")
    src1, c1 = _directory(tmp, "before", before)
    src2, c2 = _directory(tmp, "after", after)
    d1 = Directory.from_jsonl(src1, erased_key=DIR_KEY)
    d2 = Directory.from_jsonl(src2, erased_key=DIR_KEY)
    delta = DirectoryDelta.between(
        directory_elements(c1, src1, KEY), directory_elements(c2, src2, KEY), KEY, DIR_KEY
    )
    for fake in fakes:
        refused1 = next(iter(d1.find(fake)), None) is not None
        refused2 = next(iter(d2.find(fake)), None) is not None
        if refused1 != refused2:
            assert delta.names_any([fake])


def test_a_joining_member_touches_the_texts_that_name_them(tmp_path: Path) -> None:
    src1, c1 = _directory(tmp_path, "a", [("Anna Kowalski", "anna_k", False)])
    src2, c2 = _directory(
        tmp_path, "b", [("Anna Kowalski", "anna_k", False), ("Ravi Okafor", "ravi.o", False)]
    )
    delta = DirectoryDelta.between(
        directory_elements(c1, src1, KEY), directory_elements(c2, src2, KEY), KEY, b""
    )
    assert len(delta) > 0
    assert delta.touches("Lunch with Ravi Okafor today")
    assert delta.touches("ping @ravi.o")
    assert delta.touches("Lunch with Ravi\u200b Okafor today")  # on the normalised view
    assert not delta.touches("Lunch with Anna Kowalski today")  # unchanged entry
    assert not delta.touches("Ravi and Okafor are words here")
    assert delta.names_any(["Ravi Okafor"]) and not delta.names_any(["Anna Kowalski"])


def test_an_erased_member_stays_unchanged_and_erased_changes_need_the_key(
    tmp_path: Path,
) -> None:
    plain = [("Anna Kowalski", "anna_k", False)]
    src1, c1 = _directory(tmp_path, "a", plain)
    src2, c2 = _directory(tmp_path, "b", [*plain, ("Jun Tanaka", "jtanaka", True)])
    e1, e2 = directory_elements(c1, src1, KEY), directory_elements(c2, src2, KEY)
    delta = DirectoryDelta.between(e1, e2, KEY, DIR_KEY)
    assert delta.touches("thanks Jun Tanaka") and not delta.touches("thanks Anna")
    with pytest.raises(ValueError, match="directory key"):
        DirectoryDelta.between(e1, e2, KEY, b"")
    # the elements hold keyed hashes only: no name reads back
    blob = b"".join(e2.to_pylist())
    for word in (b"Anna", b"anna", b"kowalski", b"jun", b"tanaka", b"anna_k"):
        assert word not in blob


def test_elements_round_trip_and_refusals(tmp_path: Path) -> None:
    src, c = _directory(tmp_path, "a", [("Anna Kowalski", "anna_k", False)])
    e = directory_elements(c, src, KEY)
    write_elements(tmp_path / "e.arrow", e)
    got = read_elements(tmp_path / "e.arrow")
    assert got is not None and got.equals(e)
    assert read_elements(tmp_path / "missing.arrow") is None
    (tmp_path / "bad.arrow").write_bytes(b"not arrow")
    assert read_elements(tmp_path / "bad.arrow") is None
    assert ELEMENTS_FORMAT.startswith("optin-directory-elements")
    # elements are sorted and unique, and another key gives other elements
    values = e.to_pylist()
    assert values == sorted(set(values))
    assert set(directory_elements(c, src, b"other" * 8).to_pylist()).isdisjoint(values)
