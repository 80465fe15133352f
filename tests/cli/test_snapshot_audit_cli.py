"""``optin snapshot audit`` on the command line (issue 17 point 3): not audited, a
sample marked automatically from the demo ground truth, a people sample, an import
rejected whole with the line and field, and option mistakes as clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optin.cli.main import run
from tests.pipeline.helpers import make_demo_home

pytestmark = pytest.mark.slow


@pytest.fixture(name="cli")
def cli_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):  # type: ignore[no-untyped-def]
    home = make_demo_home(tmp_path / "home", members=30, posts=200)
    monkeypatch.delenv("OPTIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = run(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return rc, out, " ".join(err.split())

    rc, _, err = invoke("snapshot", "build", "--purpose", "train_own_models", "--workers", "1")
    assert rc == 0, err
    return invoke


def test_cli_audit(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rc, out, _ = cli("snapshot", "audit", "latest")
    assert rc == 0 and "not audited" in out
    # a demo platform: the ground truth marks the sample by default
    rc, out, err = cli("snapshot", "audit", "latest", "--sample", "30", "--json")
    assert rc == 0, err
    st = json.loads(out)
    assert st["complete"] and st["result"]["source"] == "ground_truth"
    assert st["reviewed"] == st["sample"] == min(30, st["population"])
    lines = Path(st["sample_file"]).read_text().splitlines()
    assert all(json.loads(x)["verdict"] in ("clean", "leak") for x in lines)
    rc, out, _ = cli("snapshot", "show", "latest")
    assert rc == 0 and "ground_truth" in out.split("leak:")[1].splitlines()[0]
    rc, out, _ = cli("snapshot", "verify", "latest", "--json")
    assert rc == 0
    audit = next(c for c in json.loads(out)["checks"] if c["name"] == "audit")
    assert audit["counts"]["source"] == "ground_truth"

    # another sample needs --replace; --people leaves it to reviewers
    rc, _, err = cli("snapshot", "audit", "latest", "--sample", "4", "--people")
    assert rc == 75
    assert "--replace" in err
    rc, out, err = cli("snapshot", "audit", "latest", "--sample", "4", "--people", "--replace")
    assert rc == 0, err
    assert "0 reviewed" in out and "not audited" in out
    assert "reviewers' copy: " in out
    sample_file = Path(st["sample_file"])  # the same file (a long path wraps in plain output)
    rc, out, _ = cli("snapshot", "show", "latest")
    assert "audit in progress: 0 of 4 reviewed" in out

    bad = tmp_path / "bad.jsonl"
    rows = [json.loads(x) for x in sample_file.read_text().splitlines()]
    rows[1].update(verdict="maybe")
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc, _, err = cli("snapshot", "audit", "latest", "--import", str(bad))
    assert rc == 65
    assert "bad.jsonl:2: field 'verdict': unknown verdict" in err and "nothing was imported" in err
    assert "Traceback" not in err

    good = tmp_path / "good.jsonl"
    rows[1].update(verdict="clean")
    good.write_text("".join(json.dumps(dict(r, verdict="clean")) + "\n" for r in rows))
    rc, out, err = cli("snapshot", "audit", "latest", "--import", str(good), "--reviewer", "carol")
    assert rc == 0, err
    assert "imported 4 review(s)" in out and "leak rate 0.0%" in out and "source people" in out

    rc, _, err = cli("snapshot", "audit", "latest", "--import", str(good), "--sample", "4")
    assert rc == 65 and "--import is given alone" in err
    rc, _, err = cli("snapshot", "audit", "nope", "--sample", "4")
    assert rc == 66 and "does not exist" in err and "Traceback" not in err
