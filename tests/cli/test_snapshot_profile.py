"""``optin snapshot build --profile``: the choices are the privacy profile registry's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optin.cli.main import run
from optin.privacy.profiles import profile_names
from tests.pipeline.helpers import AS_OF, PURPOSE, make_demo_home


@pytest.fixture(scope="module", name="home")
def home_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_home(tmp_path_factory.mktemp("demo") / "home", members=30, posts=200)


@pytest.fixture(name="cli")
def cli_fixture(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("OPTIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = run(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return rc, out, " ".join(err.split())

    return invoke


def _build(cli, profile: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return cli(
        "snapshot", "build", "--purpose", PURPOSE, "--as-of", AS_OF.isoformat(),
        "--profile", profile, "--workers", "1", "--shard-size", "100", "--json",
    )  # fmt: skip


def test_when_snapshot_built_with_profile_accurate_then_it_succeeds_and_records_it(cli) -> None:
    rc, out, err = _build(cli, "accurate")
    assert rc == 0, err
    result = json.loads(out)
    assert result["records"] > 0
    manifest = json.loads((Path(result["path"]) / "manifest.json").read_text("utf-8"))
    assert manifest["config"]["profile"] == "accurate"


def test_when_snapshot_profile_unknown_then_config_error_lists_the_registry(cli) -> None:
    rc, _, err = _build(cli, "lax")
    assert rc != 0 and ", ".join(profile_names()) in err and "lax" in err


def test_snapshot_build_help_lists_every_registered_profile(cli) -> None:
    rc, out, _ = cli("snapshot", "build", "--help")
    assert rc == 0 and ", ".join(profile_names()) in " ".join(out.split())


# -- issue 17 point 4: --operator, --min-real-words, --drop-density ------------------


def _build_with(cli, *flags: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return cli(
        "snapshot", "build", "--purpose", PURPOSE, "--as-of", AS_OF.isoformat(),
        "--workers", "1", "--shard-size", "100", "--json", *flags,
    )  # fmt: skip


def _manifest(out: str) -> dict:  # type: ignore[type-arg]
    return json.loads((Path(json.loads(out)["path"]) / "manifest.json").read_text("utf-8"))


def _redact_drops(manifest: dict) -> dict[str, int]:  # type: ignore[type-arg]
    [step] = [s for s in manifest["counts"]["steps"] if s["step"] == "redact"]
    return step["dropped"]


def test_default_build_uses_surrogates_and_the_words_rule_and_records_them(cli) -> None:
    rc, out, err = _build_with(cli)
    assert rc == 0, err
    m = _manifest(out)
    assert (m["config"]["operator"], m["config"]["min_real_words"]) == ("surrogate", 3)
    assert m["config"]["drop_density"] is None
    red = m["redaction"]
    assert red["operator"] == "surrogate" and red["min_real_words"] == 3
    assert red["per_label"] == {"CREDIT_CARD": "mask", "GOV_ID": "mask", "IBAN": "mask"}
    assert "too_little_text_left: fewer than 3 words" in red["drop_rule"]
    assert set(_redact_drops(m)) <= {"too_little_text_left"}
    sheet = (Path(json.loads(out)["path"]) / "datasheet.md").read_text("utf-8")
    assert "operator `surrogate`" in sheet and "realistic fake values" in sheet
    assert "too_little_text_left" in sheet
    assert "CREDIT_CARD, GOV_ID, IBAN by type tags" in sheet
    assert "judged on the text with every redacted span as its type tag" in sheet
    rc, vout, verr = cli("snapshot", "verify", json.loads(out)["snapshot_id"], "--json")
    assert rc == 0, verr
    [pd] = [c for c in json.loads(vout)["checks"] if c["name"] == "personal_data"]
    assert pd["ok"] and pd["counts"]["surrogates_skipped"] > 0


def test_operator_mask_and_density_flags_are_recorded_and_applied(cli) -> None:
    rc, out, err = _build_with(
        cli, "--operator", "mask", "--drop-density", "0.25", "--min-real-words", "0"
    )
    assert rc == 0, err
    m = _manifest(out)
    assert (m["config"]["operator"], m["config"]["drop_density"]) == ("mask", 0.25)
    assert m["config"]["min_real_words"] is None
    assert m["redaction"]["per_label"] == {}
    assert set(_redact_drops(m)) == {"pii_density"}
    assert "pii_density: more than 0.25" in m["redaction"]["drop_rule"]
    rc, _, verr = cli("snapshot", "verify", m["snapshot_id"])
    assert rc == 0, verr


def test_min_real_words_flag_changes_what_is_dropped(cli) -> None:
    rc, out, err = _build_with(cli, "--min-real-words", "6")
    assert rc == 0, err
    six = _redact_drops(_manifest(out)).get("too_little_text_left", 0)
    rc, out, err = _build_with(cli, "--min-real-words", "1")
    assert rc == 0, err
    one = _redact_drops(_manifest(out)).get("too_little_text_left", 0)
    assert six > one


@pytest.mark.parametrize(
    ("flags", "field", "allowed"),
    [
        (("--operator", "shout"), "--operator", "mask, pseudonym, surrogate"),
        (("--operator", "keep"), "--operator", "mask, pseudonym, surrogate"),  # never in a set
        (("--profile", "lax"), "--profile", None),
        (("--drop-density", "0"), "--drop-density", "0 < X <= 1"),
        (("--drop-density", "1.5"), "--drop-density", "0 < X <= 1"),
    ],
)
def test_bad_build_flags_name_the_option_and_the_allowed_values(
    cli, flags: tuple[str, ...], field: str, allowed: str | None
) -> None:
    rc, out, err = _build_with(cli, *flags)
    assert rc != 0 and not out
    assert field in err and flags[1] in err, err
    assert (allowed or ", ".join(profile_names())) in err, err
    assert "Traceback" not in err


def test_build_help_lists_the_operator_registry(cli) -> None:
    from optin.pipeline.config import snapshot_operators

    rc, out, _ = cli("snapshot", "build", "--help")
    flat = " ".join(out.split())
    assert rc == 0 and ", ".join(snapshot_operators()) in flat
    assert "--min-real-words" in flat and "--drop-density" in flat
