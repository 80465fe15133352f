"""Redactor / RedactorConfig / RedactedBatch: the facade the pipeline uses."""

from __future__ import annotations

import json
import pickle
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optin.errors import ConfigError
from optin.privacy.api import Redactor, RedactorConfig, get_redactor
from optin.privacy.detect import DirectoryEntry
from optin.privacy.profiles import get_profile

KEY = b"0123456789abcdef"
TEXT = "Mail Jane Doe at jane@corp.com or JANE@corp.com; Doe agreed."


def test_redact_replaces_every_occurrence() -> None:
    r = Redactor().redact(TEXT)
    assert r.text == "Mail [PERSON] at [EMAIL] or [EMAIL]; [PERSON] agreed."
    assert [TEXT[f.start : f.end] for f in r.applied] == [
        "Jane Doe",
        "jane@corp.com",
        "JANE@corp.com",
        "Doe",
    ]


def test_pseudonym_is_consistent_within_a_redactor() -> None:
    out = (
        Redactor(RedactorConfig(operator="pseudonym", key=KEY, drop_density=None)).redact(TEXT).text
    )
    tags = out.replace(";", "").split()
    assert tags[1] == tags[6]  # Jane Doe ... Doe
    assert tags[3] == tags[5]  # e-mail, case-insensitive


def test_when_keyed_operator_without_key_then_config_error() -> None:
    with pytest.raises(ConfigError, match="HMAC key"):
        Redactor(RedactorConfig(operator="pseudonym"))


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("profile", "lax", "default, strict, accurate"),
        ("operator", "shred", "keep, mask, pseudonym, surrogate"),
        ("chunk_chars", 10, ">= 2500"),
    ],
)
def test_when_config_names_unknown_value_then_config_error_lists_registry(
    field: str, value: object, allowed: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(allowed)):
        RedactorConfig(**{field: value})  # type: ignore[arg-type]


def test_profile_is_resolved_once_and_shared_with_the_analyzer() -> None:
    r = Redactor(RedactorConfig(profile="strict"))
    assert r.profile is get_profile("strict") and r.analyzer.profile is r.profile


@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string()])
def test_redact_batch_arrow_in_same_type_out(arrow_type: pa.DataType) -> None:
    texts = pa.array([TEXT, None, "nothing here", "jane@corp.com"], type=arrow_type)
    b = Redactor().redact_batch(texts)
    assert b.texts.type == arrow_type and len(b) == 4
    assert b.texts[1].as_py() is None and b.texts[2].as_py() == "nothing here"
    assert b.dropped.to_pylist() == [True, False, False, True]
    assert [len(fs) for fs in b.findings] == [4, 0, 0, 1]
    assert b.density.type == pa.float64()
    assert b.counts_by_label() == {"EMAIL": 3, "PERSON": 2}


def test_redact_batch_accepts_chunked_arrays_and_lists() -> None:
    chunked = pa.chunked_array([["a jane@corp.com"], ["b"]], type=pa.large_string())
    assert Redactor().redact_batch(chunked).texts.to_pylist() == ["a [EMAIL]", "b"]
    assert Redactor().redact_batch(["a jane@corp.com", None]).texts.to_pylist() == [
        "a [EMAIL]",
        None,
    ]


@pytest.mark.parametrize("bad", [pa.array([1, 2]), [b"bytes"]])
def test_redact_batch_rejects_non_strings(bad: object) -> None:
    with pytest.raises(ConfigError):
        Redactor().redact_batch(bad)  # type: ignore[arg-type]


def test_config_is_picklable_and_get_redactor_is_cached_per_process() -> None:
    cfg = RedactorConfig(operator="pseudonym", key=KEY, drop_density=0.5)
    cfg2 = pickle.loads(pickle.dumps(cfg))
    assert cfg2 == cfg and "0123" not in repr(cfg)
    r1, r2 = get_redactor(cfg), get_redactor(cfg2)
    assert r1 is r2
    assert get_redactor(RedactorConfig(operator="mask")) is not r1


def test_redactor_pickles_to_an_equivalent_redactor() -> None:
    for r in (
        Redactor(RedactorConfig(operator="pseudonym", key=KEY)),
        get_redactor(RedactorConfig()),
    ):
        again = pickle.loads(pickle.dumps(r))
        assert again.redact(TEXT) == r.redact(TEXT)


def test_huge_text_is_analysed_in_windows_with_same_result() -> None:
    unit = "Hello there, Jane Doe wrote to jane@corp.com about the plan. "
    text = unit * 500  # ~31k chars
    small = Redactor(RedactorConfig(chunk_chars=2_500, drop_density=None)).redact(text)
    whole = Redactor(RedactorConfig(chunk_chars=100_000, drop_density=None)).redact(text)
    assert small == whole
    assert "jane@" not in small.text and "Jane" not in small.text


BENCH = Path("/work/shared/benchmarks/pii")


def _dev_texts(*datasets: str) -> list[str]:
    out: list[str] = []
    for ds in datasets:
        path = BENCH / ds / "dev.jsonl"
        if path.exists():
            out += [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines()]
    return out


@pytest.mark.parametrize("operator", ["mask", "pseudonym"])
def test_real_analyzer_does_not_detect_tags_so_redaction_is_idempotent(operator: str) -> None:
    texts = _dev_texts("panorama_spia", "wnut17") or [TEXT]
    r = Redactor(RedactorConfig(operator=operator, key=KEY, drop_density=None))
    changed = [
        i for i, t in enumerate(texts) if r.redact(r.redact(t).text).text != r.redact(t).text
    ]
    assert changed == []


def _redact_in_worker(cfg: RedactorConfig, texts: list[str]) -> list[str | None]:
    return get_redactor(cfg).redact_batch(texts).texts.to_pylist()


def test_config_ships_to_process_pool_workers() -> None:
    cfg = RedactorConfig(operator="pseudonym", key=KEY, drop_density=None)
    texts = [TEXT, "no personal data here", TEXT.upper()]
    with ProcessPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(_redact_in_worker, [cfg, cfg], [texts, texts]))
    expected = get_redactor(cfg).redact_batch(texts).texts.to_pylist()
    assert got == [expected, expected]


MEMBER = DirectoryEntry("Zorbax Quintaverde", "zq_88", "https://platform.example/in/zq_88")
MENTION = "great talk by zorbax quintaverde today, ping zq_88 for the deck"


def test_directory_entries_in_config_catch_member_mentions(tmp_path: Path) -> None:
    plain = Redactor(RedactorConfig(drop_density=None)).redact(MENTION).text
    assert "quintaverde" in plain  # lower-case, unknown name: the directory is needed
    cfg = RedactorConfig(directory_entries=(MEMBER,), drop_density=None)
    out = get_redactor(pickle.loads(pickle.dumps(cfg))).redact(MENTION).text
    assert "quintaverde" not in out and "zq_88" not in out
    members = tmp_path / "members.jsonl"
    members.write_text(
        json.dumps({"display_name": MEMBER.display_name, "handle": MEMBER.handle}) + "\n"
    )
    by_path = get_redactor(RedactorConfig(directory_path=str(members), drop_density=None))
    assert by_path.redact(MENTION).text == out


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=1, max_value=25),
    st.sampled_from(["mask", "pseudonym", "surrogate"]),
    st.sampled_from(["\n", " ", " ... "]),
)
def test_real_analyzer_replaces_every_occurrence(n: int, operator: str, sep: str) -> None:
    text = sep.join(["Contact Jane Doe at JANE.DOE@GMAIL.COM or +1 415 555 2671 today."] * n)
    out = Redactor(RedactorConfig(operator=operator, key=KEY, drop_density=None)).redact(text).text
    assert "jane" not in out.lower() and "2671" not in out


def test_public_names_resolve() -> None:
    import optin.privacy
    import optin.privacy.anonymize

    for module in (optin.privacy, optin.privacy.anonymize):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_redactor_with_a_directory_object_pickles_with_it() -> None:
    from optin.privacy.detect import Directory

    r = Redactor(RedactorConfig(drop_density=None), Directory.from_entries([MEMBER]))
    again = pickle.loads(pickle.dumps(r))
    assert again.redact(MENTION) == r.redact(MENTION)
    assert "quintaverde" not in again.redact(MENTION).text
