"""Pipeline steps as pure functions over Arrow tables (no database)."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optin.errors import ConfigError
from optin.pipeline.config import BuildConfig
from optin.pipeline.incremental import member_keys
from optin.pipeline.merkle import merkle_root
from optin.pipeline.schema import INPUT, OUTPUT
from optin.pipeline.steps.consent import consent_gate
from optin.pipeline.steps.dedupe import dedupe_keys, find_duplicates
from optin.pipeline.steps.quality import language_filter, quality_filter, quality_reason
from optin.pipeline.steps.redact import redact_step
from optin.pipeline.steps.write import created_months, parquet_bytes, record_ids
from optin.privacy.api import RedactorConfig
from optin.storage.snapshots import CONTENT_SCHEMA

Q = dict(min_chars=20, min_words=3, boilerplate=("click here",), max_repeat_ratio=0.5)


def test_storage_content_schema_equals_pipeline_input() -> None:
    assert CONTENT_SCHEMA.equals(INPUT)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "empty"),
        ("short", "too_short"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too_few_words"),
        ("Great offer, click here to claim your prize now", "boilerplate"),
        ("buy buy buy buy buy buy buy buy buy buy buy now", "repetitive"),
        ("A perfectly ordinary post about hiring engineers.", None),
    ],
)
def test_when_text_is_checked_then_quality_reason_matches(
    text: str | None, reason: str | None
) -> None:
    assert quality_reason(text, **Q) == reason  # type: ignore[arg-type]


def test_when_quality_filter_drops_then_counts_by_reason() -> None:
    t = pa.table(
        {
            "text": pa.array(
                ["short", "A perfectly ordinary post about hiring.", None], pa.large_string()
            )
        }
    )
    kept, counts = quality_filter(t, **Q)  # type: ignore[arg-type]
    assert kept.num_rows == 1
    assert counts == Counter({"too_short": 1, "empty": 1})


@pytest.mark.parametrize(
    ("tags", "allowed", "kept", "reasons"),
    [
        (["en", "und", "", "fr-CA"], (), 2, {"language_unknown": 2}),
        (["en", "fr", "en-GB"], ("en",), 2, {"language_not_allowed": 1}),
        (["EN!"], (), 0, {"language_unknown": 1}),
    ],
)
def test_language_filter(
    tags: list[str], allowed: tuple[str, ...], kept: int, reasons: dict[str, int]
) -> None:
    out, counts = language_filter(pa.table({"language": tags}), allowed)
    assert out.num_rows == kept
    assert dict(counts) == reasons


def test_when_author_not_eligible_then_row_dropped_with_author_reason() -> None:
    t = pa.table({"author_id": ["a", "b", "c", "a"], "x": [1, 2, 3, 4]})
    kept, counts = consent_gate(t, pa.array(["a"]), {"b": "WITHDRAWN"})
    assert kept["x"].to_pylist() == [1, 4]
    assert counts == Counter({"WITHDRAWN": 1, "NOT_A_MEMBER": 1})


def _dups(texts: list[str], created: list[int], seed: int = 0) -> tuple[list[bool], list[bool]]:
    e, b = dedupe_keys(texts, num_perm=112, bands=14, shingle_words=3, seed=seed)
    em, nm = find_duplicates(np.array(created, dtype=np.int64), e, lambda i: b[:, i], 14)
    return em.tolist(), nm.tolist()


BASE = "We are hiring a senior data engineer to build our streaming platform in Lisbon"


def test_when_exact_duplicates_then_earliest_is_kept() -> None:
    em, nm = _dups([BASE, BASE.upper() + "!!", BASE], [30, 10, 20])
    assert em == [True, False, True]
    assert nm == [False, False, False]


def test_when_near_duplicates_then_earliest_is_kept_and_others_differ() -> None:
    other = "The quarterly results exceeded expectations thanks to strong cloud revenue growth"
    em, nm = _dups([BASE + " today", other, BASE + " this week"], [5, 1, 2])
    assert em == [False, False, False]
    assert nm == [True, False, False]


def test_when_created_ties_then_smaller_position_wins() -> None:
    em, _ = _dups([BASE, BASE], [7, 7])
    assert em == [False, True]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(range(6)), min_size=1, max_size=25), st.randoms())
def test_dedupe_result_does_not_depend_on_input_order(
    variants: list[int], rnd: random.Random
) -> None:
    texts = [f"{BASE} variant {v} " + " ".join(f"w{v}x{i}" for i in range(v)) for v in variants]
    created = list(range(len(texts)))
    rnd.shuffle(created)
    em, nm = _dups(texts, created)
    kept = {(t, c) for t, c, e, n in zip(texts, created, em, nm, strict=True) if not (e or n)}
    order = list(range(len(texts)))
    rnd.shuffle(order)
    em2, nm2 = _dups([texts[i] for i in order], [created[i] for i in order])
    kept2 = {
        (texts[i], created[i]) for i, e, n in zip(order, em2, nm2, strict=True) if not (e or n)
    }
    assert kept == kept2
    # every exact text survives at most once, and the survivor is its earliest copy
    for t in set(texts):
        copies = [c for tt, c in zip(texts, created, strict=True) if tt == t]
        survivors = [c for tt, c in kept if tt == t]
        assert len(survivors) <= 1
        if survivors:
            assert survivors[0] == min(copies)


def test_merkle_root_construction() -> None:
    h = lambda b: hashlib.sha256(b).digest()  # noqa: E731
    a, b, c = h(b"a"), h(b"b"), h(b"c")
    assert merkle_root([]) == hashlib.sha256(b"").hexdigest()
    assert merkle_root(["a"]) == a.hex()
    assert merkle_root(["b", "a"]) == h(a + b).hex()
    assert merkle_root(["c", "a", "b"]) == h(h(a + b) + c).hex()  # odd node promoted


def test_record_ids_are_keyed_and_opaque() -> None:
    ids = record_ids(["c1", "c2"], b"k" * 32)
    assert ids != record_ids(["c1", "c2"], b"j" * 32)
    assert all(len(i) == 32 and "c1" not in i for i in ids)


def _out_table() -> pa.Table:
    created = pa.array(
        [datetime(2025, 1, 31, 23, 59, tzinfo=UTC)] * 2, INPUT.field("created_at").type
    )
    return pa.table(
        {
            "record_id": ["r1", "r2"],
            "text": pa.array(["x", "y"], pa.large_string()),
            "kind": ["post", "post"],
            "language": ["en", "en"],
            "created_month": created_months(created),
        }
    )


def test_parquet_bytes_are_deterministic_and_carry_only_output_columns() -> None:
    t = _out_table()
    a = parquet_bytes(t, row_group_size=10, zstd_level=3)
    assert a == parquet_bytes(t, row_group_size=10, zstd_level=3)
    import pyarrow.parquet as pq

    back = pq.read_table(pa.BufferReader(a))
    assert back.schema.names == OUTPUT.names
    assert back["created_month"].to_pylist() == ["2025-01", "2025-01"]
    meta = pq.read_metadata(pa.BufferReader(a))
    assert meta.row_group(0).column(1).compression == "ZSTD"


def test_when_text_is_dense_with_personal_data_then_redact_drops_it() -> None:
    t = pa.table(
        {
            "text": pa.array(
                [
                    "Mail jane.doe@example.com or call +1 415 555 0100, card 4111 1111 1111 1111",
                    "Our team shipped the new analytics dashboard this week, thanks everyone",
                ],
                pa.large_string(),
            )
        }
    )
    out = redact_step(t, RedactorConfig(profile="default", operator="mask"))
    assert out.dropped == Counter({"pii_density": 1})
    assert out.table["text"].to_pylist() == [t["text"][1].as_py()]
    assert out.findings["EMAIL"] == 1


def test_snapshot_rule_drops_only_records_with_too_little_text_left() -> None:
    texts = [
        "Mail jane.doe@mailbox.org or call +1 415 867 5309",  # 4 words left: kept
        "jane.doe@mailbox.org | +1 415 867 5309",  # nothing of its own left: dropped
        "Our team shipped the new analytics dashboard this week, thanks everyone",
    ]
    t = pa.table({"text": pa.array(texts, pa.large_string())})
    cfg = RedactorConfig(operator="mask", drop_density=None, min_real_words=3)
    out = redact_step(t, cfg)
    assert out.dropped == Counter({"too_little_text_left": 1})
    assert out.table["text"].to_pylist() == ["Mail [EMAIL] or call [PHONE]", texts[2]]
    both = redact_step(t, RedactorConfig(operator="mask", drop_density=0.25, min_real_words=3))
    assert both.dropped == Counter({"pii_density": 2})  # the density test comes first


def test_config_rejects_unknown_profile_and_lists_allowed() -> None:
    with pytest.raises(ConfigError, match="allowed: default, strict"):
        BuildConfig(purpose="p", profile="nope")


def test_when_a_stage_result_goes_through_its_marker_then_it_reads_back_equal(
    tmp_path: Path,
) -> None:
    from optin.pipeline.io import atomic_write_json
    from optin.pipeline.results import StageOneResult, drops_by_step
    from optin.pipeline.shard import _finished

    r = StageOneResult(
        shard="00000",
        input_sha256="a" * 64,
        stage1_sha256="b" * 64,
        rows_in=10,
        rows_out=6,
        dropped_by_step={"language": {"language_unknown": 1}, "quality": {"too_short": 3}},
        findings={"EMAIL": 2},
        seconds={"language": 0.1},
        records={"language": 10},
    )
    assert r.dropped == {"language_unknown": 1, "too_short": 3} and r.rows_seen == 10
    marker = tmp_path / "stage1-00000.json"
    atomic_write_json(marker, r.to_json())
    assert _finished(marker, StageOneResult, input_sha256="a" * 64) == r
    assert _finished(marker, StageOneResult, input_sha256="c" * 64) is None
    atomic_write_json(marker, {"shard": "00000", "dropped": {}})  # another shape: rerun
    assert _finished(marker, StageOneResult, input_sha256="a" * 64) is None
    assert drops_by_step([r, r])["quality"] == Counter({"too_short": 6})


def test_when_steps_run_then_each_counts_its_drops_under_its_name() -> None:
    from optin.pipeline.steps.lineup import STAGE_STEP_NAMES, DedupeStep, stage1_steps

    cfg = BuildConfig(purpose="p")
    red = RedactorConfig(profile="default", operator="mask")
    names = [s.name for s in stage1_steps(cfg, red)]
    assert (
        (*names, DedupeStep.name) == STAGE_STEP_NAMES == ("language", "redact", "quality", "dedupe")
    )
    table = pa.table({"x": list(range(5))})
    out = DedupeStep(exact=(1,), near=(3, 4)).run(table)
    assert out.table["x"].to_pylist() == [0, 2]
    assert out.dropped == Counter({"exact_duplicate": 1, "near_duplicate": 2})
    assert DedupeStep(exact=(), near=()).run(table).dropped == Counter()


@settings(max_examples=80, deadline=None)
@given(
    ids=st.lists(st.text(max_size=80), max_size=12),
    key=st.binary(min_size=0, max_size=200),
)
def test_record_ids_are_hmac_sha256_of_the_content_id(ids: list[str], key: bytes) -> None:
    """The precomputed-pad HMAC equals the standard library's, for keys shorter and
    longer than SHA-256's block (the record id is a published derivation)."""
    ids = [i.encode("utf-8", "replace").decode() for i in ids]  # no lone surrogates
    want = [hmac.new(key, i.encode(), "sha256").hexdigest()[:32] for i in ids]
    assert record_ids(ids, key) == want


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.text(max_size=40), max_size=10), key=st.binary(min_size=1, max_size=80))
def test_member_keys_are_keyed_blake2b_of_the_member_id(ids: list[str], key: bytes) -> None:
    ids = [i.encode("utf-8", "replace").decode() for i in ids]
    want = [hashlib.blake2b(i.encode(), key=key[:64], digest_size=16).digest() for i in ids]
    assert member_keys(ids, key) == want
