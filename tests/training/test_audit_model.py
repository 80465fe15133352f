"""Audits of a tiny GPT-2 trained in-test: a canary repeated 16 times is exposed and
extracted, unseen ones are not; the loss attack tells members from non-members; the
CLI writes the result into the model card and applies the policy's thresholds."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from optin.cli.main import run
from optin.domain.policy import default_policy_text
from optin.training.audit import (
    exposure,
    extraction_probe,
    load_model,
    log_perplexities,
    membership_inference,
)
from optin.training.canaries import make_canaries, write_canaries
from tests.training.tiny import corpus, tokenizer_for, train

pytestmark = pytest.mark.slow

DIGITS = 3  # |R| = 1000: every candidate is scored (exact rank)


@pytest.fixture(scope="module")
def world():
    import torch

    torch.set_num_threads(1)
    (seen,) = make_canaries(1, b"seen", formats=("phone",), repetitions=(16,), digits=DIGITS)
    unseen = make_canaries(3, b"unseen", formats=("phone",), repetitions=(1,), digits=DIGITS)
    assert seen.secret not in {c.secret for c in unseen}  # drawn, never inserted
    canaries = [seen, *unseen]
    posts = corpus(60)
    members, non_members = posts[:40], posts[40:]
    texts = members + [seen.text] * seen.repetitions
    tok = tokenizer_for(posts + [c.text for c in canaries])
    model = train(tok, texts, steps=150, batch=8)
    return {
        "model": model,
        "tok": tok,
        "seen": seen,
        "unseen": unseen,
        "members": members,
        "non_members": non_members,
    }


def test_repeated_canary_is_exposed_and_unseen_ones_are_not(world) -> None:
    m, tok = world["model"], world["tok"]
    seen = exposure(m, tok, world["seen"])
    unseen = [exposure(m, tok, c) for c in world["unseen"]]
    assert seen.method == "exact" and seen.candidates_scored == 999
    assert seen.exposure_bits > 8.0, seen  # log2 1000 = 9.97 is the most there is
    mean_unseen = sum(e.exposure_bits for e in unseen) / len(unseen)
    assert seen.exposure_bits - mean_unseen > 3.0, (seen, unseen)


def test_exposure_of_text_with_candidates_and_sampled_estimate(world) -> None:
    m, tok, c = world["model"], world["tok"], world["seen"]
    others = [c.candidate(i) for i in range(c.space_size) if i != c.index]
    full = exposure(m, tok, c.text, others)
    assert full.rank == exposure(m, tok, c).rank and full.space_size == 1000
    sampled = exposure(m, tok, c, max_candidates=200)
    assert sampled.method == "sampled" and sampled.candidates_scored == 200
    assert sampled.exposure_bits == pytest.approx(full.exposure_bits, abs=2.0)


def test_log_perplexity_is_in_bits_and_lower_for_training_text(world) -> None:
    m, tok = world["model"], world["tok"]
    member, outsider = log_perplexities(m, tok, [world["members"][0], world["non_members"][0]])
    assert 0 < member < outsider
    # by hand, on one text: sum of -log2 p over the tokens after the first
    import torch

    ids = tok(world["members"][0])["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(m(torch.tensor([ids])).logits[0, :-1], dim=-1)
    by_hand = -sum(logp[i, ids[i + 1]].item() for i in range(len(ids) - 1)) / math.log(2)
    assert member == pytest.approx(by_hand, rel=1e-4)


def test_memorized_string_is_extracted_verbatim_and_an_unseen_one_is_not(world) -> None:
    m, tok, seen = world["model"], world["tok"], world["seen"]
    n = len(tok(seen.text)["input_ids"])
    kw = {"prefix_tokens": n - 8, "new_tokens": 8}
    hit = extraction_probe(m, tok, [seen.text], **kw)
    assert (hit.probed, hit.verbatim, hit.near_verbatim) == (1, 1, 1)
    miss = extraction_probe(m, tok, [c.text for c in world["unseen"]], **kw)
    assert miss.probed == 3 and miss.verbatim == 0
    short = extraction_probe(m, tok, ["too short"], prefix_tokens=16, new_tokens=16)
    assert (short.probed, short.skipped_short, short.verbatim_rate) == (0, 1, None)


def test_loss_attack_separates_members_from_non_members(world) -> None:
    from tests.training.tiny import new_model

    m, tok = world["model"], world["tok"]
    plain = membership_inference(m, tok, world["members"], world["non_members"])
    assert plain.auc is not None and plain.auc > 0.7 and not plain.calibrated
    ref = new_model(tok, seed=1)  # an untrained reference: calibration must not break it
    calibrated = membership_inference(m, tok, world["members"], world["non_members"], reference=ref)
    assert calibrated.calibrated and calibrated.auc is not None and calibrated.auc > 0.6
    same = membership_inference(m, tok, world["non_members"], world["non_members"])
    assert same.auc == pytest.approx(0.5)


def _model_dir(world, tmp_path: Path) -> Path:
    d = tmp_path / "model"
    world["model"].save_pretrained(d)
    world["tok"].save_pretrained(d)
    audit = d / "audit"
    audit.mkdir()
    seen = world["seen"]
    write_canaries(audit / "canaries.jsonl", [seen])
    for name, texts in (
        ("training", [seen.text, *world["members"][:10]]),
        ("non_members", world["non_members"][:10]),
        # never trained on, as a withdrawn member's records are for a model retrained
        # without them
        ("withdrawn", world["non_members"][10:]),
    ):
        (audit / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    card = {
        "model": "tiny-test",
        "canaries": "audit/canaries.jsonl",
        "audit_records": {
            "training": "audit/training.jsonl",
            "non_members": str(audit / "non_members.jsonl"),  # absolute works too
            "withdrawn": "audit/withdrawn.jsonl",
        },
    }
    (d / "model_card.json").write_text(json.dumps(card))
    return d


def test_cli_audit_writes_the_card_and_applies_the_policy(
    world, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPTIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    d = _model_dir(world, tmp_path)
    home = str(tmp_path / "home")
    args = ["--home", home, "audit", str(d), "--prefix-tokens", "8", "--max-candidates", "300"]
    # no database: the shipped default policy (its rep-1 limit has no rep-1 canary here)
    rc = run([*args, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert "shipped default" in out["policy"] and rc == (0 if out["verdict"]["passed"] else 1)
    card = json.loads((d / "model_card.json").read_text())
    assert card["model"] == "tiny-test"  # other keys kept
    (rep,) = card["audit"]["result"]["canaries"]["by_repetition"]
    assert rep["repetitions"] == 16 and rep["max_bits"] > 8.0
    assert card["audit"]["result"]["membership"]["training"]["auc"] > 0.7
    forgotten = card["audit"]["result"]["membership"]["withdrawn"]
    assert forgotten["members"] == 10 and 0.2 < forgotten["auc"] < 0.8  # near chance
    assert card["audit"]["result"]["extraction"]["withdrawn"]["verbatim"] == 0
    checks = {c["name"]: c for c in card["audit"]["verdict"]["checks"]}
    assert checks["max_exposure_bits[1]"]["passed"] is None  # not measured
    assert checks["max_withdrawn_membership_auc"]["measured"] == forgotten["auc"]
    assert checks["max_withdrawn_verbatim_rate"]["passed"] is True
    assert world["seen"].secret not in (d / "model_card.json").read_text()
    assert world["members"][0] not in (d / "model_card.json").read_text()
    # a policy that limits repetition 16 to 5 bits: the model fails it
    strict = tmp_path / "strict.toml"
    strict.write_text(
        default_policy_text().replace(
            'max_exposure_bits = { "1" = 8.0 }', 'max_exposure_bits = { "16" = 5.0 }'
        )
    )
    rc = run([*args, "--policy", str(strict)])
    out, err = capsys.readouterr()
    assert rc == 1 and "FAIL" in out
    assert "audit failed" in err and "max_exposure_bits[16]" in err
    card = json.loads((d / "model_card.json").read_text())
    assert card["audit"]["verdict"]["passed"] is False


def test_cli_audit_uses_the_policy_in_force_in_the_database(
    world, tmp_path: Path, sqlite_db, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("OPTIN_DATABASE_URL", sqlite_db.url)
    d = _model_dir(world, tmp_path)
    rc = run(
        ["--home", str(tmp_path), "audit", str(d), "--json", "--no-write", "--max-candidates", "50"]
    )
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["policy"] == "policy version 1" and out["card"] is None
    assert "audit" not in json.loads((d / "model_card.json").read_text())
    (each,) = out["result"]["canaries"]["each"]
    assert each["method"] == "sampled" and each["candidates_scored"] == 50


BAD_CARDS = [
    ("not_json", "{", "invalid JSON"),
    ("missing_file", json.dumps({"canaries": "nope.jsonl"}), "field 'canaries': no such file"),
    ("bad_group", json.dumps({"audit_records": {"everyone": "x"}}), "unknown record group"),
    ("ref_not_dir", json.dumps({"reference_model": "model_card.json"}), "no such directory"),
]


@pytest.mark.parametrize(("name", "card", "needle"), BAD_CARDS, ids=[b[0] for b in BAD_CARDS])
def test_when_model_card_is_bad_then_error_names_it(
    world, tmp_path, capsys, monkeypatch, name, card, needle
) -> None:
    monkeypatch.delenv("OPTIN_DATABASE_URL", raising=False)
    d = _model_dir(world, tmp_path)
    (d / "model_card.json").write_text(card)
    assert run(["--home", str(tmp_path / "h"), "audit", str(d)]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert "model_card.json" in err and needle in err and "Traceback" not in err


def test_when_not_a_model_dir_then_input_error(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("OPTIN_DATABASE_URL", raising=False)
    assert run(["--home", str(tmp_path / "h"), "audit", str(tmp_path / "missing")]) == 65
    assert run(["--home", str(tmp_path / "h"), "audit", str(tmp_path)]) == 65
    assert "no config.json" in " ".join(capsys.readouterr().err.split())


def test_load_model_round_trip(world, tmp_path: Path) -> None:
    d = _model_dir(world, tmp_path)
    model, tok = load_model(d)
    a = log_perplexities(model, tok, [world["members"][0]])
    assert a == pytest.approx(log_perplexities(world["model"], world["tok"], [world["members"][0]]))


def test_without_torch_the_cli_says_how_to_install_the_train_extra(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    code = (
        "import sys; sys.modules['torch'] = None; "
        "import optin.training.audit, optin.training.canaries; "
        "from optin.cli.main import run; "
        f"sys.exit(run(['--home', {str(tmp_path / 'h')!r}, 'audit', {str(d)!r}]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPTIN_DATABASE_URL"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 69, p.stderr
    assert "pip install 'optin[train]'" in " ".join(p.stderr.split())
