"""Erased members in the platform directory: keyed hashes only, matched exactly as the
plain entries were (the same table of mentions as test_directory.py)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optin.errors import InputError
from optin.privacy.detect import (
    Analyzer,
    Directory,
    DirectoryEntry,
    ErasedNames,
    erasure_marker,
)
from optin.privacy.findings import Label

KEY = b"k" * 32
ERASED = [
    DirectoryEntry("Jane Q. Doe", "jdoe", "https://example.social/in/jdoe"),
    DirectoryEntry("Zorblax Quint", "zq_77", None),
]
ALIVE = [DirectoryEntry("Admin", "admin", None)]


@pytest.fixture(scope="module")
def plain() -> Directory:
    return Directory.from_entries(ERASED + ALIVE)


@pytest.fixture(scope="module")
def keyed() -> Directory:
    erased = ErasedNames(KEY, [erasure_marker(e, KEY) for e in ERASED])
    return Directory.from_entries(ALIVE, erased)


MENTIONS = [
    ("I met Jane Q. Doe today", "Jane Q. Doe", Label.PERSON),
    ("I met jane doe today", "jane doe", Label.PERSON),
    ("ask Dr. Doe about it", "Doe", Label.PERSON),
    ("ping @jdoe please", "@jdoe", Label.HANDLE),
    ("ping zq_77 please", "zq_77", Label.HANDLE),
    ("Zorblax Quint wrote this", "Zorblax Quint", Label.PERSON),
    ("profile https://example.social/in/jdoe.", "https://example.social/in/jdoe", Label.URL),
    ("profile example.social/in/zq_77", "example.social/in/zq_77", Label.URL),
]


@pytest.mark.parametrize(("text", "expected", "label"), MENTIONS)
def test_when_erased_member_is_mentioned_then_keyed_directory_finds_it(
    keyed: Directory, text: str, expected: str, label: Label
) -> None:
    found = {(text[f.start : f.end], f.label) for f in keyed.find(text)}
    assert (expected, label) in found


@pytest.mark.parametrize(
    "text",
    ["the admin panel", "Doe, a deer", "my jdoe-ish idea", "mail jdoe@example.com", "Jane said"],
)
def test_when_word_only_looks_like_erased_member_then_silent(keyed: Directory, text: str) -> None:
    found = [text[f.start : f.end] for f in keyed.find(text) if text[f.start : f.end] != "admin"]
    assert found == []


def test_when_marker_made_then_it_holds_no_name_handle_or_url() -> None:
    blob = json.dumps([erasure_marker(e, KEY) for e in ERASED]).lower()
    for word in ("jane", "doe", "jdoe", "zorblax", "quint", "zq_77", "example.social"):
        assert word not in blob


def test_when_key_differs_then_erased_names_are_not_found() -> None:
    erased = ErasedNames(b"x" * 32, [erasure_marker(e, KEY) for e in ERASED])
    d = Directory.from_entries([], erased)
    assert list(d.find("I met Jane Q. Doe and @jdoe today")) == []


def test_when_keyed_directory_pickled_then_it_still_matches(keyed: Directory) -> None:
    again = pickle.loads(pickle.dumps(keyed))
    assert [f.label for f in again.find("hello Zorblax Quint")] == [Label.PERSON]


def test_when_jsonl_has_erased_lines_then_key_is_required(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    lines = [json.dumps({"display_name": "Admin", "handle": "admin"})]
    lines += [json.dumps({"erased": erasure_marker(e, KEY)}) for e in ERASED]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="no key"):
        Directory.from_jsonl(p)
    d = Directory.from_jsonl(p, erased_key=KEY)
    assert len(d) == 3
    a = Analyzer("default", directory=d)
    text = "Zorblax Quint and @jdoe said hi"
    assert {text[f.start : f.end] for f in a.redactable(a.analyze(text))} >= {
        "Zorblax Quint",
        "@jdoe",
    }


_WORDS = st.sampled_from(
    ["Jane", "Q.", "Doe", "Dr.", "jane", "doe", "@jdoe", "zq_77", "Zorblax", "Quint", "met",
     "the", "and", "https://example.social/in/jdoe", "jdoe@example.com", ",", "."]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, max_size=12))
def test_when_any_text_then_keyed_finds_what_plain_finds(words: list[str]) -> None:
    plain = Directory.from_entries(ERASED)
    keyed = Directory.from_entries([], ErasedNames(KEY, [erasure_marker(e, KEY) for e in ERASED]))
    text = " ".join(words)
    assert sorted((f.start, f.end, f.label) for f in plain.find(text)) == sorted(
        (f.start, f.end, f.label) for f in keyed.find(text)
    )
