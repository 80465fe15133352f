"""``optin signals robots-txt|tdmrep``: the platform-level files, read back by
independent parsers (the stdlib robots.txt parser, http-sfv, json)."""

from __future__ import annotations

import json
import urllib.robotparser
from pathlib import Path

import http_sfv
import pytest

from optin.cli.main import run
from optin.settings import Settings


@pytest.fixture()
def cli(db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = run(["--home", str(db_settings.home), *args])
        out, err = capsys.readouterr()
        return rc, out, " ".join(err.split())

    return invoke


def test_robots_txt_and_tdmrep_files(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rc, out, _ = cli("signals", "robots-txt", "--path", "/posts/", "--path", "/t/")
    assert rc == 0
    rules = [ln.split(":", 1)[1].split() for ln in out.splitlines() if ln.startswith("Content-Usage:")]  # fmt: skip
    assert [p for p, _ in rules] == ["/posts/", "/t/"]
    for _p, expr in rules:
        d = http_sfv.Dictionary()
        d.parse(expr.encode())
        assert {k: str(v.value) for k, v in d.items()} == {"train-ai": "n"}
    rp = urllib.robotparser.RobotFileParser()
    rp.parse(out.splitlines())
    assert rp.can_fetch("x", "/posts/1")  # no crawl rule: preferences only

    target = tmp_path / "tdmrep.json"
    rc, out, _ = cli("signals", "tdmrep", "--path", "/posts/", "--policy-url",
                     "https://example.org/ai", "--out", str(target))  # fmt: skip
    assert rc == 0 and "wrote" in out
    assert json.loads(target.read_text("utf-8")) == [
        {"location": "/posts/*", "tdm-reservation": 1, "tdm-policy": "https://example.org/ai"}
    ]


def test_bad_paths_and_policy_urls_are_refused_without_a_traceback(cli) -> None:  # type: ignore[no-untyped-def]
    rc, out, err = cli("signals", "robots-txt", "--path", "posts")
    assert rc != 0 and "starting with '/'" in err and "Traceback" not in err + out
    rc, out, err = cli("signals", "tdmrep", "--path", "/p/", "--policy-url", "http://x")
    assert rc != 0 and "--policy-url" in err and "https://" in err
