"""Platform directory: every mention of a member is caught exactly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from optin.errors import InputError
from optin.privacy.detect import Analyzer, Directory, DirectoryEntry
from optin.privacy.findings import Label

MEMBERS = [
    DirectoryEntry("Jane Q. Doe", "jdoe", "https://example.social/in/jdoe"),
    DirectoryEntry("Zorblax Quint", "zq_77", None),
    DirectoryEntry("Admin", "admin", None),
]


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.from_entries(MEMBERS)


@pytest.mark.parametrize(
    ("text", "expected", "label"),
    [
        ("I met Jane Q. Doe today", "Jane Q. Doe", Label.PERSON),
        ("I met jane doe today", "jane doe", Label.PERSON),
        ("ask Dr. Doe about it", "Doe", Label.PERSON),
        ("ping @jdoe please", "@jdoe", Label.HANDLE),
        ("ping zq_77 please", "zq_77", Label.HANDLE),
        ("Zorblax Quint wrote this", "Zorblax Quint", Label.PERSON),
        ("profile https://example.social/in/jdoe.", "https://example.social/in/jdoe", Label.URL),
        ("profile example.social/in/zq_77", "example.social/in/zq_77", Label.URL),
    ],
)
def test_when_member_is_mentioned_then_directory_finds_it(
    directory: Directory, text: str, expected: str, label: Label
) -> None:
    found = {(text[f.start : f.end], f.label) for f in directory.find(text)}
    assert (expected, label) in found


@pytest.mark.parametrize(
    "text",
    ["the admin panel", "Doe, a deer", "my jdoe-ish idea", "mail jdoe@example.com"],
)
def test_when_word_only_looks_like_member_then_directory_is_silent(
    directory: Directory, text: str
) -> None:
    assert [text[f.start : f.end] for f in directory.find(text)] == []


def test_when_directory_given_then_analyzer_redacts_members(directory: Directory) -> None:
    a = Analyzer("default", directory=directory)
    text = "Zorblax Quint and zq_77 said hi"
    red = {text[f.start : f.end] for f in a.redactable(a.analyze(text))}
    assert {"Zorblax Quint", "zq_77"} <= red


def test_when_jsonl_is_valid_then_directory_loads(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    p.write_text(
        json.dumps({"display_name": "Jane Doe", "handle": "@jdoe"})
        + "\n\n"
        + json.dumps({"display_name": "Bob Ray", "handle": "bray", "profile_url": None})
        + "\n"
    )
    assert len(Directory.from_jsonl(p)) == 2


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("{not json", None),
        ('["list"]', None),
        ('{"handle": "x"}', "display_name"),
        ('{"display_name": "A B", "handle": "bad handle!"}', "handle"),
        ('{"display_name": "A B", "handle": "ab", "profile_url": 5}', "profile_url"),
    ],
)
def test_when_jsonl_is_bad_then_input_error_names_line_and_field(
    tmp_path: Path, line: str, field: str | None
) -> None:
    p = tmp_path / "m.jsonl"
    p.write_text(json.dumps({"display_name": "Ok Name", "handle": "ok"}) + "\n" + line + "\n")
    with pytest.raises(InputError) as exc:
        Directory.from_jsonl(p)
    assert exc.value.line == 2
    assert exc.value.field == field


@pytest.mark.slow
def test_when_directory_has_100k_members_then_it_builds_without_blowing_up() -> None:
    entries = (
        DirectoryEntry(
            f"Member{i} Surname{i}", f"member_{i}", f"https://example.social/in/member_{i}"
        )
        for i in range(100_000)
    )
    # CPU time, not wall time: the bound holds on a loaded machine too (speed figures
    # themselves come from bench/, this only guards against an accidental blow-up).
    t0 = time.process_time()
    d = Directory.from_entries(entries)
    built = time.process_time() - t0
    assert built < 15
    text = "hi Member99999 Surname99999 and @member_5 see https://example.social/in/member_77"
    got = {text[f.start : f.end] for f in d.find(text)}
    assert got == {"Member99999 Surname99999", "@member_5", "https://example.social/in/member_77"}
