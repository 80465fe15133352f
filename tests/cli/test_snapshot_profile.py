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
