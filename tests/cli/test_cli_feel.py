"""The CLI as it feels from a terminal and a pipe: start-up loads no service (so
``--help`` is quick; ``bench/cli_startup.py`` times it), piped tables keep whole ids,
times without a zone are refused as imports refuse them, hints name real commands."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from optin.cli.core import parse_time
from optin.errors import InputError
from optin.services.consent import member_not_found

HEAVY = ("sqlalchemy", "pydantic", "pyarrow", "alembic", "numpy", "optin.services.snapshots")
#: what ``optin --help`` does not need either: Rich (help is Click's plain text), the
#: command modules (loaded lazily), Click itself (Typer vendors its own)
LIGHT = (
    "rich",
    "rich.markdown",
    "optin.cli.core",
    "optin.cli.snapshot",
    "optin.cli.context",
    "click",
)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIN_") and k != "COLUMNS"}
    env["OPTIN_HOME"] = str(home)
    return env


def test_help_imports_no_service(tmp_path: Path) -> None:
    code = (
        "import sys, runpy; sys.argv = ['optin', '--help']\n"
        "try:\n    runpy.run_module('optin.cli.main', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print('LOADED', [m for m in {HEAVY + LIGHT!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path),
        timeout=120, check=False,
    )  # fmt: skip
    assert "Consent-first training data" in out.stdout
    assert "LOADED []" in out.stdout, out.stdout[-400:]


def test_the_lazy_command_table_is_the_commands_the_modules_define() -> None:
    """``optin --help`` lists :data:`COMMANDS` without loading a module: each entry's name,
    order, modules and help must be what registering every module, as before, gives."""
    import importlib

    import typer
    import typer.main

    from optin.cli.main import COMMAND_MODULES, COMMANDS, first_paragraph, load_command

    eager = typer.Typer(rich_markup_mode=None)
    eager.callback()(lambda: None)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(eager)
    real = typer.main.get_command(eager).commands  # type: ignore[attr-defined]
    assert list(COMMANDS) == list(real)
    for name, entry in COMMANDS.items():
        assert entry.help == first_paragraph(real[name].help), name
        lazy = load_command(name)
        assert lazy.help == real[name].help, name
        assert sorted(getattr(lazy, "commands", {})) == sorted(
            getattr(real[name], "commands", {})
        ), f"{name}: {entry.modules} do not build all of its subcommands"
        # the modules named are needed: the command's code lives in one of them
        owners = {c.callback.__module__ for c in getattr(lazy, "commands", {}).values()} | (
            {lazy.callback.__module__} if not hasattr(lazy, "commands") else set()
        )
        assert owners <= set(entry.modules), (name, owners)


def test_help_lists_whole_sentences_and_suggests_commands(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "COLUMNS": "80"}
    out = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "--help"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0
    flat = " ".join(out.stdout.split())
    assert "..." not in out.stdout.split("Commands:")[1]
    assert "signed deletion notices when records become ineligible." in flat  # export's, whole
    assert "Usage: optin [OPTIONS] COMMAND [ARGS]..." in out.stdout
    sub = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "dsr", "--help"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert sub.returncode == 0 and "erasure-record" in sub.stdout and "compact" in sub.stdout
    assert "could not finish (a reader held the WAL;" in " ".join(sub.stdout.split())
    bare = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "consent"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert bare.returncode == 2 and "Commands:" in bare.stdout and "show" in bare.stdout
    typo = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "snapshto", "list"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert typo.returncode == 2 and "Did you mean 'snapshot'?" in typo.stderr
    assert "Traceback" not in typo.stderr


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T14:30:00+02:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_times_with_a_zone_or_a_date_are_read(text: str, want: datetime) -> None:
    assert parse_time(text, "--at") == want


@pytest.mark.parametrize("text", ["2024-05-01T12:30:00", "2024-05-01 12:30", "yesterday"])
def test_times_without_a_zone_are_refused_naming_the_option(text: str) -> None:
    with pytest.raises(InputError) as e:
        parse_time(text, "--as-of")
    msg = str(e.value)
    assert "--as-of" in msg and "2024-05-01T12:30:00Z" in msg and text in msg


def test_the_cli_refuses_a_zone_less_time(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "eligibility", "m1", "--purpose",
         "train_own_models", "--at", "2024-05-01T00:00:00"],
        capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 65 and "--at" in out.stderr and "no zone" in out.stderr
    assert "Traceback" not in out.stderr


def test_hints_name_a_command_that_lists_members() -> None:
    msg = str(member_not_found("m-nobody"))
    assert "optin member list" in msg and "optin demo" not in msg


def test_piped_tables_print_whole_ids(tmp_path: Path) -> None:
    from optin.services.demo import generate_demo
    from optin.services.snapshots import build_snapshot
    from optin.settings import Settings
    from optin.storage.database import Database

    settings = Settings(home=tmp_path)
    db = Database.open(settings)
    now = datetime.now(UTC)
    generate_demo(db, members=12, posts=30, seed=2, now=now, accounts=False)
    sid = build_snapshot(db, settings, "train_own_models", engine="inline", now=now).snapshot_id
    db.dispose()
    out = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "snapshot", "list"],
        capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert sid in out.stdout and "…" not in out.stdout
    row = next(line for line in out.stdout.splitlines() if sid in line)
    assert "train_own_models" in row.replace(sid, "")  # the purpose is on the id's row


#: what ``optin consent show`` and ``optin eligibility`` do not need: Typer's pydantic
#: adapters (``optin.cli.fastparse``), the ORM and pydantic (the embedded database is
#: read through ``sqlite3``: ``optin.services.quick``; the settings without pydantic:
#: ``optin.settings_env``), the engines, migrations and the training stack
SIMPLE_NOT_NEEDED = (
    "typer._adapters",
    "sqlalchemy",
    "pydantic",
    "pydantic_settings",
    "optin.settings",
    "optin.storage.database",
    "dask",
    "pyarrow",
    "numpy",
    "torch",
    "alembic",
    "optin.services.snapshots",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["consent", "show", "m1"],
        ["consent", "show", "@H-M1", "--json"],
        ["eligibility", "m1", "--purpose", "train_own_models"],
        ["eligibility", "m1", "--purpose", "train_own_models", "--json"],
        ["eligibility", "m-nobody", "--purpose", "train_own_models"],
    ],
)
def test_simple_commands_import_no_heavy_module(tmp_path: Path, argv: list[str]) -> None:
    from optin.settings import Settings
    from optin.storage.database import Database
    from tests.factories import add_member

    env = _env(tmp_path / "home")
    init = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "init"], env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    db = Database.open(Settings(home=tmp_path / "home"))
    try:
        add_member(db, "m1", country="IN")
    finally:
        db.dispose()
    code = (
        f"import sys, runpy; sys.argv = ['optin', *{argv!r}]\n"
        "try:\n    runpy.run_module('optin.cli.main', run_name='__main__')\n"
        "except SystemExit as e:\n    print('EXIT', e.code)\n"
        f"print('LOADED', [m for m in {SIMPLE_NOT_NEEDED!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    if "m-nobody" in argv:
        assert "EXIT 66" in out.stdout and "'m-nobody' does not exist" in out.stderr
    else:
        assert "EXIT 0" in out.stdout, out.stdout[-400:] + out.stderr[-400:]
        assert "m1" in out.stdout
    assert "LOADED []" in out.stdout, out.stdout[-400:]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["policy", "show", "--version", "abc"], "Invalid value for '--version'"),
        (["policy", "show", "--version", "2x"], "Invalid value for '--version'"),
        (["eligibility", "m1"], "Missing option '--purpose'"),
    ],
)
def test_values_fastparse_leaves_to_typer_get_typers_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only plain strings skip Typer's pydantic coercion: an int option is still parsed
    (and refused) by Typer, with its message naming the option."""
    from optin.cli.main import run

    assert run(argv) == 2
    assert message in capsys.readouterr().err


def test_fastparse_str_coercion_is_typers(tmp_path: Path) -> None:
    """For every string, the deferred ``str`` coercion returns what Typer's own adapter
    returns (the same string); other annotations are Typer's own coercion."""
    from types import SimpleNamespace

    import typer.core
    from hypothesis import given
    from hypothesis import strategies as st
    from typer import _coercion
    from typer.models import ArgumentInfo, OptionInfo

    import optin.cli.main  # noqa: F401  # installs optin.cli.fastparse

    fast = typer.core.build_runtime_param
    assert fast is not _coercion.build_runtime_param
    ctx = None  # what the str and int coercions pass on to error messages only
    param = SimpleNamespace(multiple=False, nargs=1)  # one value, as for `--x VALUE`

    @given(st.text(), st.sampled_from([OptionInfo(), ArgumentInfo()]))
    def same(value: str, info: object) -> None:
        desc = _coercion.resolve_type_descriptor(str, info)  # type: ignore[arg-type]
        want = _coercion.build_runtime_param(desc).coerce(value, param=param, ctx=ctx)  # type: ignore[arg-type]
        got = fast(desc).coerce(value, param=param, ctx=ctx)  # type: ignore[arg-type]
        assert got == want and type(got) is type(want)

    same()
    desc = _coercion.resolve_type_descriptor(int, OptionInfo())
    assert fast(desc).coerce("12", param=param, ctx=ctx) == 12  # type: ignore[arg-type]
