"""`optin redact`: happy paths, every bad-input case, atomic output, keys, scoring."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from optin.cli import redact as redact_cli
from optin.errors import ConfigError, InputError, exit_code_for
from optin.settings import Settings

BENCH = Path("/work/shared/benchmarks/pii")
REPO = Path(__file__).resolve().parents[2]


def make_app(home: Path) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = Settings(home=home)

    redact_cli.register(app)
    return app


def invoke(tmp_path: Path, *args: str, stdin: str | bytes | None = None):
    return CliRunner().invoke(make_app(tmp_path / "home"), ["redact", *args], input=stdin)


def write(tmp_path: Path, lines: list[str] | bytes) -> Path:
    p = tmp_path / "in.jsonl"
    if isinstance(lines, bytes):
        p.write_bytes(lines)
    else:
        p.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return p


def read_out(p: Path) -> list[dict]:
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]


GOOD = json.dumps(
    {
        "id": "a",
        "text": "Hi Jane Doe, please mail jane@corp.com about the long plan for the whole team today, and bring the slides for the review meeting.",
    }
)


def test_file_to_file_spans_are_on_original_text(tmp_path: Path) -> None:
    src = write(tmp_path, [GOOD, "", json.dumps({"id": 7, "text": "nothing", "meta": {"x": 1}})])
    out = tmp_path / "out.jsonl"
    res = invoke(tmp_path, "--input", str(src), "--output", str(out))
    assert res.exit_code == 0, res.output
    rows = read_out(out)
    assert [r["id"] for r in rows] == ["a", 7]
    original = json.loads(GOOD)["text"]
    assert (
        rows[0]["text"]
        == "Hi [PERSON], please mail [EMAIL] about the long plan for the whole team today, and bring the slides for the review meeting."
    )
    assert [original[s["start"] : s["end"]] for s in rows[0]["spans"]] == [
        "Jane Doe",
        "jane@corp.com",
    ]
    assert set(rows[0]["spans"][0]) == {"start", "end", "label", "score", "recognizer"}
    assert rows[1] == {"id": 7, "text": "nothing", "spans": [], "dropped": False, "density": 0.0}
    assert "redacted 2 record(s)" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_stdin_to_stdout_and_spans_only(tmp_path: Path) -> None:
    res = invoke(tmp_path, "-i", "-", "-o", "-", "--spans-only", stdin=GOOD + "\n")
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout.splitlines()[0])
    assert "text" not in row and len(row["spans"]) == 2


def test_dense_record_is_dropped_with_null_text(tmp_path: Path) -> None:
    src = write(tmp_path, [json.dumps({"id": "d", "text": "jane@corp.com"})])
    res = invoke(tmp_path, "-i", str(src), "-o", "-")
    row = json.loads(res.stdout.splitlines()[0])
    assert row["dropped"] is True and row["text"] is None and row["density"] == 1.0
    res = invoke(tmp_path, "-i", str(src), "-o", "-", "--drop-density", "1")
    assert json.loads(res.stdout.splitlines()[0])["text"] == "[EMAIL]"


def test_min_real_words_drops_a_record_with_too_little_text_left(tmp_path: Path) -> None:
    rows = [
        json.dumps({"id": "short", "text": "Thanks Jane Doe!"}),
        json.dumps({"id": "long", "text": "Thanks Jane Doe for the review of our plan today."}),
    ]
    src = write(tmp_path, rows)
    args = ("-i", str(src), "-o", "-", "--drop-density", "1")
    kept = [json.loads(x) for x in invoke(tmp_path, *args).stdout.splitlines()]
    assert [r["dropped"] for r in kept] == [False, False]
    res = invoke(tmp_path, *args, "--min-real-words", "3")
    got = {r["id"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert got["short"]["dropped"] is True and got["short"]["text"] is None
    assert got["long"]["dropped"] is False and "[PERSON]" in got["long"]["text"]


BAD_CASES = [
    ("invalid_json", [GOOD, '{"id": "b", "text": '], "in.jsonl:2: invalid JSON"),
    (
        "invalid_utf8",
        GOOD.encode() + b"\n" + b'{"id": "b", "text": "caf\xe9"}\n',
        "in.jsonl:2: invalid UTF-8 at byte",
    ),
    (
        "missing_text",
        [GOOD, GOOD, '{"id": "b"}'],
        "in.jsonl:3: field 'text': is missing; allowed: a string",
    ),
    (
        "non_string_text",
        ['{"id": "b", "text": 42}'],
        "in.jsonl:1: field 'text': is a number; allowed: a string",
    ),
    (
        "missing_id",
        ['{"text": "x"}'],
        "in.jsonl:1: field 'id': is missing; allowed: string or integer",
    ),
    ("null_text", ['{"id": "b", "text": null}'], "in.jsonl:1: field 'text': is null"),
    ("bool_id", ['{"id": true, "text": "x"}'], "field 'id': is a boolean"),
    ("blank_then_bad", ["", GOOD, "  ", "42"], "in.jsonl:4: expected a JSON object, got a number"),
    ("not_object", ["[1, 2]"], "in.jsonl:1: expected a JSON object, got an array"),
]


@pytest.mark.parametrize(("case", "content", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_names_line_and_leaves_no_output(
    tmp_path: Path, case: str, content, message: str
) -> None:
    src = write(tmp_path, content)
    out = tmp_path / "out.jsonl"
    res = invoke(tmp_path, "-i", str(src), "-o", str(out))
    assert isinstance(res.exception, InputError), res.output
    assert message in str(res.exception)
    assert exit_code_for(res.exception) == 65
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no output, no temp file


def test_when_line_exceeds_limit_then_error_names_line_and_limit(tmp_path: Path) -> None:
    src = write(tmp_path, [GOOD, json.dumps({"id": "big", "text": "x" * 5000})])
    res = invoke(
        tmp_path, "-i", str(src), "-o", str(tmp_path / "out.jsonl"), "--max-line-mb", "0.001"
    )
    assert isinstance(res.exception, InputError)
    assert "in.jsonl:1: line is longer than the limit of 0.001 MB" in str(res.exception) or (
        "in.jsonl:2: line is longer than the limit" in str(res.exception)
    )
    assert "--max-line-mb" in str(res.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_existing_output_is_untouched_on_failure(tmp_path: Path) -> None:
    src = write(tmp_path, [GOOD, "not json"])
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    invoke(tmp_path, "-i", str(src), "-o", str(out))
    assert out.read_text() == "previous\n"


@pytest.mark.parametrize(
    ("args", "exc", "message"),
    [
        (["--profile", "lax"], ConfigError, "allowed: default, strict, accurate"),
        (["--operator", "shred"], ConfigError, "allowed: keep, mask, pseudonym, surrogate"),
        (
            ["--operator", "pseudonym", "--key-file", "/nonexistent/key"],
            ConfigError,
            "does not exist",
        ),
        (
            ["--directory", "/nonexistent/members.jsonl"],
            InputError,
            "field '--directory': file not found",
        ),
    ],
)
def test_bad_options_give_config_errors(
    tmp_path: Path, args: list[str], exc: type, message: str
) -> None:
    src = write(tmp_path, [GOOD])
    res = invoke(tmp_path, "-i", str(src), "-o", "-", *args)
    assert isinstance(res.exception, exc) and message in str(res.exception), res.output


def test_missing_input_file_is_an_input_error(tmp_path: Path) -> None:
    res = invoke(tmp_path, "-i", str(tmp_path / "nope.jsonl"), "-o", "-")
    assert isinstance(res.exception, InputError) and "field '--input': file not found" in str(
        res.exception
    )


def test_pseudonym_key_is_created_0600_in_home_and_reused(tmp_path: Path) -> None:
    src = write(tmp_path, [GOOD])
    first = invoke(tmp_path, "-i", str(src), "-o", "-", "--operator", "pseudonym")
    assert first.exit_code == 0, first.output
    key = tmp_path / "home" / "keys" / "redaction.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    second = invoke(tmp_path, "-i", str(src), "-o", "-", "--operator", "pseudonym")
    assert first.stdout == second.stdout and "<PERSON_" in first.stdout


def test_key_file_option_changes_pseudonyms(tmp_path: Path) -> None:
    src = write(tmp_path, [GOOD])
    k1, k2 = tmp_path / "k1", tmp_path / "k2"
    k1.write_text("11" * 32)
    k2.write_text("22" * 32)
    a = invoke(
        tmp_path, "-i", str(src), "-o", "-", "--operator", "pseudonym", "--key-file", str(k1)
    )
    b = invoke(
        tmp_path, "-i", str(src), "-o", "-", "--operator", "pseudonym", "--key-file", str(k2)
    )
    assert a.exit_code == b.exit_code == 0 and a.stdout != b.stdout


def test_progress_bar_can_be_forced(tmp_path: Path) -> None:
    src = write(tmp_path, [GOOD] * 20)
    res = invoke(tmp_path, "-i", str(src), "-o", str(tmp_path / "o.jsonl"), "--progress")
    assert res.exit_code == 0, res.output
    assert len(read_out(tmp_path / "o.jsonl")) == 20


def test_real_entry_point_bad_input_has_no_traceback(tmp_path: Path) -> None:
    src = write(tmp_path, [GOOD, "{oops"])
    proc = subprocess.run(
        [
            str(REPO / ".venv/bin/python"),
            "-m",
            "optin.cli.main",
            "redact",
            "-i",
            str(src),
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OPTIN_HOME": str(tmp_path / "home")},
    )
    assert proc.returncode == 65, proc.stderr
    err = " ".join(proc.stderr.split())  # rich wraps long lines
    assert "in.jsonl:2: invalid JSON" in err and "Traceback" not in err
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.skipif(
    not (BENCH / "presidio_synth/dev.jsonl").exists(), reason="benchmark data absent"
)
def test_cli_output_scores_with_score_py(tmp_path: Path) -> None:
    out = tmp_path / "pred.jsonl"
    res = invoke(
        tmp_path, "-i", str(BENCH / "presidio_synth/dev.jsonl"), "-o", str(out), "--spans-only"
    )
    assert res.exit_code == 0, res.output
    proc = subprocess.run(
        [
            "python3",
            str(BENCH / "score.py"),
            str(BENCH / "presidio_synth/dev.jsonl"),
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary  # scored; figures are the quality benchmark's business


def test_directory_option_catches_member_mentions(tmp_path: Path) -> None:
    members = tmp_path / "members.jsonl"
    members.write_text(json.dumps({"display_name": "Zorbax Quintaverde", "handle": "zq_88"}) + "\n")
    text = "great talk by zorbax quintaverde today, ping zq_88 for the deck and the notes from it"
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": text}) + "\n")
    res = invoke(
        tmp_path, "-i", str(src), "-o", "-", "--directory", str(members), "--drop-density", "1"
    )
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout.splitlines()[0])
    assert "quintaverde" not in row["text"] and "zq_88" not in row["text"]
    assert {s["recognizer"] for s in row["spans"]} == {"directory"}


def test_lone_surrogate_and_invisible_characters_are_redacted_not_a_crash(tmp_path: Path) -> None:
    text = (
        "x\\ud800y: a long enough text to be kept for training, please write to me at the "
        "usual place or mail ja\\u200bne@corp.com whenever you like, thanks a lot"
    )
    src = write(tmp_path, ['{"id": "s", "text": "' + text + '"}'])
    out = tmp_path / "out.jsonl"
    res = invoke(tmp_path, "-i", str(src), "-o", str(out))
    assert res.exit_code == 0, res.output
    (row,) = read_out(out)
    assert "\ufffd" in row["text"] and "[EMAIL]" in row["text"]
    assert "ja" not in row["text"].split("mail ")[1][:3]
