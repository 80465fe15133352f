"""Canaries: secret-shaped, deterministic, redactable, with a known candidate space."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from optin.errors import ConfigError, InputError
from optin.privacy.api import Redactor
from optin.training.canaries import (
    FORMATS,
    canary_training_texts,
    candidate_indices,
    get_format,
    make_canaries,
    read_canaries,
    write_canaries,
)


def test_when_same_key_then_same_canaries_and_other_key_differs() -> None:
    a = make_canaries(3, b"k1")
    assert a == make_canaries(3, b"k1")
    assert [c.secret for c in a] != [c.secret for c in make_canaries(3, b"k2")]


def test_n_canaries_at_each_repetition_count_formats_in_turn() -> None:
    cs = make_canaries(3, "seed", repetitions=(1, 4, 16))
    assert Counter(c.repetitions for c in cs) == {1: 3, 4: 3, 16: 3}
    assert [c.format for c in cs[:3]] == ["phone", "email", "id"]
    assert len({c.id for c in cs}) == 9
    by_format: dict[str, set[str]] = {}
    for c in cs:
        by_format.setdefault(c.format, set()).add(c.secret)
    assert all(len(s) == 3 for s in by_format.values())  # distinct within a format


def test_training_texts_repeat_each_canary_its_count() -> None:
    cs = make_canaries(1, 1, formats=("phone",))
    texts = canary_training_texts(cs)
    assert Counter(texts) == {c.text: c.repetitions for c in cs}
    assert len(texts) == 1 + 4 + 16


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_when_canary_is_redacted_then_its_secret_is_found_with_its_label(name: str) -> None:
    redactor = Redactor()
    fmt = get_format(name)
    for c in make_canaries(12, b"redact", formats=(name,), repetitions=(1,)):
        found = redactor.redact(c.text).applied
        spans = {(c.text[f.start : f.end], f.label.value) for f in found}
        assert (c.secret, fmt.label) in spans, (c.text, spans)


@pytest.mark.parametrize(
    ("digits", "index", "secret"),
    [
        (3, 0, "+1 650 253 0000"),
        (3, 999, "+1 650 253 0999"),
        (6, 123456, "+1 650 212 3456"),
        (1, 7, "+1 650 253 0007"),
    ],
)
def test_candidate_space_is_the_base_with_the_last_digits_free(digits, index, secret) -> None:
    fmt = get_format("phone")
    assert fmt.secret(index, digits) == secret
    assert fmt.index_of(secret, digits) == index


def test_when_space_is_small_then_every_other_candidate_is_listed() -> None:
    (c,) = make_canaries(1, b"x", formats=("email",), repetitions=(1,), digits=2)
    indices, exact = candidate_indices(c, b"k", max_candidates=1000)
    assert exact and len(indices) == 99 and c.index not in indices
    assert {c.candidate(i) for i in indices} | {c.text} == {c.candidate(i) for i in range(100)}


def test_when_space_is_large_then_a_seeded_uniform_sample_without_the_canary() -> None:
    (c,) = make_canaries(1, b"x", formats=("id",), repetitions=(1,), digits=8)
    indices, exact = candidate_indices(c, b"k", max_candidates=500)
    assert not exact and len(indices) == len(set(indices)) == 500
    assert c.index not in indices and all(0 <= i < 10**8 for i in indices)
    assert indices == candidate_indices(c, b"k", max_candidates=500)[0]


def test_when_bad_arguments_then_config_error_names_them() -> None:
    with pytest.raises(ConfigError, match="unknown canary format 'fax'"):
        make_canaries(1, 1, formats=("fax",))
    with pytest.raises(ConfigError, match=r"1\.\.6 free digits"):
        make_canaries(1, 1, formats=("phone",), digits=7)
    with pytest.raises(ConfigError, match="do not fit"):
        make_canaries(400, 1, digits=2)


def test_canaries_file_round_trips(tmp_path: Path) -> None:
    cs = make_canaries(2, b"file")
    path = tmp_path / "canaries.jsonl"
    write_canaries(path, cs)
    assert read_canaries(path) == cs


BAD_LINES = [
    ("not_json", "{", "invalid JSON"),
    ("missing", json.dumps({"id": "a"}), "field 'format': missing field"),
    (
        "bad_reps",
        json.dumps(
            {
                "id": "a",
                "format": "phone",
                "repetitions": 0,
                "prefix": "",
                "secret": "+1 650 253 0001",
                "suffix": "",
                "digits": 3,
            }
        ),
        "field 'repetitions': must be a positive integer",
    ),
    (
        "bad_format",
        json.dumps(
            {
                "id": "a",
                "format": "fax",
                "repetitions": 1,
                "prefix": "",
                "secret": "1",
                "suffix": "",
                "digits": 3,
            }
        ),
        "unknown canary format",
    ),
    (
        "bad_secret",
        json.dumps(
            {
                "id": "a",
                "format": "phone",
                "repetitions": 1,
                "prefix": "",
                "secret": "+1 999 253 0001",
                "suffix": "",
                "digits": 3,
            }
        ),
        "does not fit",
    ),
]


@pytest.mark.parametrize(("name", "line", "needle"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_when_canaries_file_is_bad_then_error_names_file_line_field(
    tmp_path, name, line, needle
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("\n" + line + "\n")
    with pytest.raises(InputError, match=needle) as exc:
        read_canaries(path)
    assert exc.value.line == 2 and str(path) in str(exc.value)
