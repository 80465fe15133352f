"""The model card's words match its numbers, and say plainly what a run protects
(plain Python: no torch)."""

from __future__ import annotations

import pytest

from optin.training.card import data_statement, privacy_statement, render_readme

MEMBER = {
    "unit": "member",
    "epsilon": 7.9,
    "delta": 1e-5,
    "sample_rate": 0.1,
    "max_examples_per_member": 4,
    "clip_norm": 1.0,
    "noise_multiplier": 1.2,
    "steps": 40,
    "accountant": "RDP (sampled Gaussian mechanism; Mironov et al. 2019)",
}


@pytest.mark.parametrize(
    ("privacy", "says", "never"),
    [
        (MEMBER, ["Member-level", "(7.9, 1e-05)-DP", "at most 4 examples"], ["NOT per member"]),
        (
            {**MEMBER, "unit": "example", "max_examples_per_member": None},
            ["Example-level differential privacy only", "NOT per member"],
            ["Member-level"],
        ),
        ({}, ["No differential privacy", "can memorise"], ["-DP"]),
        (
            {**MEMBER, "composition": "parallel: each member in one cohort"},
            ["Member-level", "Shards: parallel"],
            [],
        ),
    ],
)
def test_privacy_statement_names_its_unit(privacy: dict, says: list[str], never: list[str]) -> None:
    text = privacy_statement(privacy)
    for s in says:
        assert s in text
    for s in never:
        assert s not in text


def test_readme_carries_the_card() -> None:
    card = {
        "model_id": "model-x",
        "version": 2,
        "snapshot": {
            "id": "snap-1",
            "purpose": "train_own_models",
            "as_of": "2025-05-01",
            "manifest_sha256": "ab" * 32,
        },
        "ledger": {
            "snapshot": {"length": 10, "head_hash": "h1"},
            "at_training": {"length": 12, "head_hash": "h2"},
            "checkpoint": None,
        },
        "training": {
            "records": 30,
            "members": 9,
            "steps": 5,
            "tokens": 900,
            "tokens_per_s": 100.0,
            "first_loss": 5.0,
            "last_loss": 4.0,
        },
        "allow_stale": {"reason": "rerun", "stale_records": 3, "left_out": True},
        "base": {"description": "tiny"},
        "tokenizer": "byte-level",
        "privacy": MEMBER,
        "checkpoints": "none kept",
        "sharding": {
            "shards": 2,
            "assignment": "HMAC",
            "combine": "mean of logits",
            "cohorts": [
                {
                    "cohort": 0,
                    "adapter": "adapters/cohort-00-v2",
                    "records": 20,
                    "members": 6,
                    "trained_in": 2,
                },
                {"cohort": 1, "adapter": None, "records": 0, "members": 0, "trained_in": 1},
            ],
            "retired": [{"component": "cohort-00-v1", "reason": "3 records", "at": "t"}],
        },
        "audit": None,
    }
    card["data_statement"] = data_statement(card)
    card["privacy_statement"] = privacy_statement(MEMBER)
    text = render_readme(card)
    assert "30 records of 9 members" in text and "used anyway: rerun" in text
    assert "ab" * 32 in text and "length 12, head `h2`" in text
    assert "| 1 | (no members) | 0 | 0 | 1 |" in text and "Retired: cohort-00-v1" in text
    assert "Not audited yet" in text
