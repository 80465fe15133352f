"""docs/json.md against the real output: each documented ``--json`` command is run on a
demo database and its document must have exactly the documented shape (the fields, and
each value's type)."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from optin.cli.main import run

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"
SECTION = re.compile(r"^### `optin (?P<cmd>[^`]+) --json`\n(?P<body>.*?)```json\n(?P<shape>.*?)```", re.S | re.M)  # fmt: skip
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),  # fields that vary, named in the text
}


def _sections() -> list[tuple[str, Any]]:
    return [(m["cmd"], json.loads(m["shape"])) for m in SECTION.finditer(DOC.read_text("utf-8"))]


def conforms(shape: Any, value: Any, where: str = "$") -> list[str]:
    """Where ``value`` differs from ``shape`` (empty: it conforms)."""
    if isinstance(shape, str):
        allowed = tuple(t for name in shape.split("|") for t in TYPES[name])
        ok = isinstance(value, allowed) and not (
            isinstance(value, bool) and bool not in allowed  # bool is an int in Python
        )
        return [] if ok else [f"{where}: {type(value).__name__}, documented {shape}"]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, documented a list"]
        if len(shape) > 1:  # a fixed-length list (a pair ...), position by position
            if len(value) != len(shape):
                return [f"{where}: {len(value)} items, documented {len(shape)}"]
            return [p for i, (s, v) in enumerate(zip(shape, value, strict=True)) for p in conforms(s, v, f"{where}[{i}]")]  # fmt: skip
        return [p for i, v in enumerate(value) for p in conforms(shape[0], v, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__}, documented an object"]
    keys = list(shape)
    if len(keys) == 1 and keys[0].startswith("<"):
        return [p for k, v in value.items() for p in conforms(shape[keys[0]], v, f"{where}.{k}")]
    out = [f"{where}: undocumented field {k!r}" for k in value if k not in shape]
    out += [f"{where}: documented field {k!r} missing" for k in shape if k not in value]
    return out + [p for k in shape if k in value for p in conforms(shape[k], value[k], f"{where}.{k}")]  # fmt: skip


def test_the_checker_catches_drift() -> None:
    assert conforms({"a": "integer"}, {"a": 1}) == []
    assert conforms({"a": "integer"}, {"a": True}) != []
    assert conforms({"a": "string|null"}, {"a": None}) == []
    assert conforms({"a": "integer"}, {"a": 1, "b": 2}) == ["$: undocumented field 'b'"]
    assert conforms({"<k>": "integer"}, {"x": 1, "y": "2"}) == ["$.y: str, documented integer"]
    assert conforms(["string"], ["a", 3]) == ["$[1]: int, documented string"]
    assert conforms(["string", "integer"], ["a", 3]) == []
    assert conforms(["string", "integer"], ["a"]) == ["$: 1 items, documented 2"]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from optin.services.demo import generate_demo
    from optin.services.snapshots import build_snapshot
    from optin.settings import Settings
    from optin.storage.database import Database

    home = tmp_path_factory.mktemp("json-docs")
    settings = Settings(home=home)
    db = Database.open(settings)
    now = datetime.now(UTC)
    generate_demo(db, members=20, posts=60, seed=4, now=now, accounts=False)
    build_snapshot(db, settings, "train_own_models", engine="inline", now=now)
    db.dispose()
    return home


def _placeholders(home: Path, tmp: Path) -> dict[str, str]:
    """The values the documented command lines' capitals stand for, from the demo."""
    from sqlalchemy import select

    import optin
    from optin.settings import Settings
    from optin.storage.database import Database
    from optin.storage.models import ConsentEventRow, SnapshotRecordRow, SnapshotRow

    db = Database.open(Settings(home=home))
    with db.session() as s:
        event = s.scalars(
            select(ConsentEventRow.event_id).where(ConsentEventRow.member_id == "m0000001")
        ).first()
        content = s.scalars(select(SnapshotRecordRow.content_id)).first()
        parent = s.scalars(select(SnapshotRow.id)).one()  # the fixture's snapshot
    db.dispose()
    return {
        "MEMBER": "m0000001",
        "PURPOSE": "train_own_models",
        "EVENT": str(event),
        "CONTENT": str(content),  # an item with a record in the demo's snapshot
        "PARENT": parent,
        "POLICYFILE": str(Path(optin.__file__).parent / "domain" / "default_policy.toml"),
        "FILE": str(tmp / "export.jsonl"),
        "KEYFILE": str(tmp / "witness.key"),
        "DEST": str(tmp / "model-copy"),
    }


def _proof_file(home: Path, event_id: str, tmp: Path) -> str:
    from optin.services import tlog
    from optin.services.receipts import receipt
    from optin.settings import Settings
    from optin.storage.database import Database

    settings = Settings(home=home)
    db = Database.open(settings)
    rc = receipt(db, event_id)
    pf = tlog.member_proof_file(
        db, settings, "m0000001", event_id, now=datetime.now(UTC), receipt=rc
    )
    db.dispose()
    path = tmp / "consent.tlog-proof"
    path.write_text(pf.encode(), "utf-8")
    return str(path)


def test_every_documented_shape_is_the_output(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sections = _sections()
    assert len(sections) >= 72, "docs/json.md lost its sections"
    values = _placeholders(demo_home, tmp_path)
    problems: dict[str, list[str]] = {}
    no_torch = importlib.util.find_spec("torch") is None  # train/model need the extra
    for cmd, shape in sections:  # in the page's order: a section may use an earlier one's
        if no_torch and cmd.startswith(("train", "model", "audit")):
            continue
        if "PROOFFILE" in cmd:  # the member's download, as the web page serves it
            values["PROOFFILE"] = _proof_file(demo_home, values["EVENT"], tmp_path)
        argv = [values.get(a, a) for a in shlex.split(cmd)]
        capsys.readouterr()
        home = tmp_path / "empty" if cmd.startswith("demo") else demo_home  # needs an empty one
        code = run(["--home", str(home), *argv, "--json"])
        out = capsys.readouterr()
        assert code == 0, (cmd, out.err)
        got = json.loads(out.out)
        assert got not in ([], {}), f"{cmd}: empty output checks nothing"
        if found := conforms(shape, got):
            problems[cmd] = found
        if cmd.startswith(("apikey create", "dsr open")):
            values["APIKEY" if cmd.startswith("apikey") else "REQUEST"] = got["id"]
        if cmd.startswith("snapshot build"):
            values["SNAPSHOT"] = got["snapshot_id"]
        if cmd.startswith("snapshot derive"):
            values["CHILD"] = got["snapshot_id"]
        if cmd.startswith("log keygen"):
            values["VKEY"] = got["log_vkey"]
        if cmd.startswith("train"):
            values["MODEL"] = got["model_id"]
    assert problems == {}


#: commands that print a result but no JSON, and why (docs/json.md says the same)
NO_JSON = {
    "optin serve": "a server",
    "optin witness serve": "a server",
    "optin redact": "its output is JSON Lines already; the summary goes to stderr",
}


def test_every_command_that_prints_a_result_takes_json() -> None:
    from optin.cli.docs import commands

    leaves = {name: c for name, c in commands() if not hasattr(c, "commands")}
    without = {
        name
        for name, c in leaves.items()
        if "--json" not in {o for p in c.params for o in getattr(p, "opts", [])}
    }
    assert without == set(NO_JSON)
    page = DOC.read_text("utf-8")
    for name in NO_JSON:
        assert f"`{name}`" in page, f"docs/json.md does not say why {name} has no --json"
    documented = {"optin " + " ".join(shlex.split(cmd)[:2]) for cmd, _ in _sections()}
    documented |= {"optin " + shlex.split(cmd)[0] for cmd, _ in _sections()}
    missing = {n for n in leaves if n not in without and n not in documented}
    assert missing == set(), f"docs/json.md does not describe {sorted(missing)}"
    assert "Not described here yet" not in page
