"""``optin redact``: detect and redact personal data in a JSONL file.

Input lines are ``{"id": ..., "text": ..., ...}``; output lines are
``{"id", "text": <redacted or null when dropped>, "spans": [...], "dropped", "density"}``
with spans on the ORIGINAL text, so ``score.py GOLD OUT`` scores the output (use
``--spans-only`` to leave ``text`` out: score.py insists that a present ``text`` equals
the gold text). Every input line is validated; a bad line stops the run with its line
number and nothing is written (the output goes to a temp file renamed on success).
"""

from __future__ import annotations

import json
import secrets
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import typer

from optin.errors import ConfigError, InputError
from optin.privacy.anonymize import DEFAULT_DROP_DENSITY, get_operator, operator_names
from optin.privacy.profiles import profile_names

KEY_FILE_NAME = "redaction.key"
#: Largest accepted input line; longer documents are rejected with their line number.
DEFAULT_MAX_LINE_MB = 64.0
#: Inputs at least this big get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 1 << 20


def register(app: typer.Typer) -> None:
    """Add the ``redact`` command to ``app``."""
    app.command("redact")(redact)


def redact(
    ctx: typer.Context,
    input: str = typer.Option(..., "--input", "-i", help="Input JSONL file, or - for stdin."),
    output: str = typer.Option(..., "--output", "-o", help="Output JSONL file, or - for stdout."),
    profile: str = typer.Option(
        "default", "--profile", "-p", help=f"Detection profile: {', '.join(profile_names())}."
    ),
    operator: str = typer.Option(
        "mask",
        "--operator",
        help=f"How to replace personal data: {', '.join(operator_names())}.",
    ),
    directory: Path | None = typer.Option(
        None,
        "--directory",
        help="Members JSONL (display_name, handle, profile_url) to catch every member mention; "
        "default: the platform directory of the data directory, when there is one.",
    ),
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="HMAC key for pseudonym/surrogate; default $OPTIN_HOME/keys/redaction.key "
        "(created with mode 0600 if missing).",
    ),
    drop_density: float = typer.Option(
        DEFAULT_DROP_DENSITY,
        "--drop-density",
        min=0.0,
        max=1.0,
        help="Drop a record (text null) when redacted non-space characters exceed this share "
        "of its non-space characters; 1 never drops.",
    ),
    min_real_words: int = typer.Option(
        0,
        "--min-real-words",
        min=0,
        help="Also drop a record with redacted personal data when fewer than this many "
        "words of its own text remain (the snapshot rule; snapshots use 3); 0: off.",
    ),
    spans_only: bool = typer.Option(
        False, "--spans-only", help="Leave the text out of the output (for score.py)."
    ),
    max_line_mb: float = typer.Option(
        DEFAULT_MAX_LINE_MB, "--max-line-mb", min=0.001, help="Largest accepted input line (MB)."
    ),
    progress: bool | None = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress bar on stderr (default: when stderr is a terminal and the input >= 1 MB).",
    ),
) -> None:
    """Detect and redact personal data in a JSONL file of {"id", "text"} records."""
    from optin.privacy.api import Redactor, RedactorConfig

    if profile not in profile_names():
        raise ConfigError(
            f"--profile {profile!r} is unknown; allowed: {', '.join(profile_names())}"
        )
    if operator not in operator_names():
        raise ConfigError(
            f"--operator {operator!r} is unknown; allowed: {', '.join(operator_names())}"
        )
    settings = _settings(ctx)
    key = b""
    if get_operator(operator).needs_key:
        key = _load_key(key_file, settings)
    config = RedactorConfig(
        profile=profile,
        operator=operator,
        key=key,
        drop_density=None if drop_density >= 1.0 else drop_density,
        min_real_words=min_real_words or None,
    )
    redactor = Redactor(config, _directory(directory, settings))
    src = "<stdin>" if input == "-" else input
    max_bytes = int(max_line_mb * 1_000_000)
    stats: Counter[str] = Counter()
    with _open_input(input) as (fin, size), _atomic_output(output) as fout:
        show = (
            progress
            if progress is not None
            else (sys.stderr.isatty() and (size is None or size >= PROGRESS_MIN_BYTES))
        )
        with _progress(show, size) as advance:
            for record in _records(fin, src, max_bytes, advance):
                r = redactor.redact(record["text"])
                out: dict[str, Any] = {"id": record["id"]}
                if not spans_only:
                    out["text"] = None if r.dropped else r.text
                out["spans"] = [f.to_span() for f in r.applied]
                out["dropped"] = r.dropped
                out["density"] = round(r.density, 4)
                fout.write(json.dumps(out, ensure_ascii=False) + "\n")
                stats["records"] += 1
                stats["dropped"] += r.dropped
                stats.update(str(f.label) for f in r.applied)
    _summary(stats)


# -- input -----------------------------------------------------------------------------


@contextmanager
def _open_input(name: str) -> Iterator[tuple[IO[bytes], int | None]]:
    if name == "-":
        yield sys.stdin.buffer, None
        return
    path = Path(name)
    if not path.is_file():
        raise InputError("file not found", field="--input", value=name, allowed="a JSONL file or -")
    with path.open("rb") as f:
        yield f, path.stat().st_size


def _records(
    f: IO[bytes], src: str, max_bytes: int, advance: Callable[[int], None]
) -> Iterator[dict[str, Any]]:
    """Validated records, one per non-blank line; InputError names file, line and field."""
    lineno = 0
    while True:
        raw = f.readline(max_bytes + 2)
        if not raw:
            return
        lineno += 1
        if len(raw.rstrip(b"\r\n")) > max_bytes:
            raise InputError(
                f"line is longer than the limit of {max_bytes / 1e6:g} MB",
                file=src,
                line=lineno,
                allowed="raise --max-line-mb, or split the document",
            )
        advance(len(raw))
        if not raw.strip():
            continue
        yield _parse(raw, src, lineno)


def _parse(raw: bytes, src: str, lineno: int) -> dict[str, Any]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            f"invalid UTF-8 at byte {e.start}", file=src, line=lineno, allowed="UTF-8 text"
        ) from None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(
            f"invalid JSON ({e.msg} at column {e.colno})",
            file=src,
            line=lineno,
            allowed='one JSON object per line, e.g. {"id": "1", "text": "..."}',
        ) from None
    if not isinstance(record, dict):
        raise InputError(
            f"expected a JSON object, got {_json_type(record)}",
            file=src,
            line=lineno,
            allowed='{"id": ..., "text": ...}',
        )
    if "id" not in record:
        raise InputError(
            "is missing", file=src, line=lineno, field="id", allowed="string or integer"
        )
    rid = record["id"]
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        raise InputError(
            f"is {_json_type(rid)}",
            file=src,
            line=lineno,
            field="id",
            allowed="string or integer",
        )
    if "text" not in record:
        raise InputError("is missing", file=src, line=lineno, field="text", allowed="a string")
    if not isinstance(record["text"], str):
        raise InputError(
            f"is {_json_type(record['text'])}",  # never echo the content itself
            file=src,
            line=lineno,
            field="text",
            allowed="a string",
        )
    return record


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type ("null", "a number", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


# -- output ----------------------------------------------------------------------------


@contextmanager
def _atomic_output(name: str) -> Iterator[IO[str]]:
    """Write to a temp file next to ``name`` and rename it on success; stdout for ``-``."""
    from optin.files import atomic_text

    if name == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(name)
    if not path.parent.is_dir():
        raise InputError(
            "directory does not exist",
            field="--output",
            value=str(path.parent),
            allowed="a path in an existing directory, or -",
        )
    with atomic_text(path, mode=0o600, mkdir=False) as f:
        yield f


@contextmanager
def _progress(show: bool, total: int | None) -> Iterator[Callable[[int], None]]:
    if not show:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from optin.cli.context import err_console

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("redact", total=total)
        yield lambda n: bar.advance(task, n)


def _summary(stats: Counter[str]) -> None:
    from optin.cli.context import err_console

    labels = ", ".join(
        f"{k} {v}" for k, v in sorted(stats.items()) if k not in ("records", "dropped")
    )
    err_console.print(
        f"redacted {stats['records']} record(s), dropped {stats['dropped']}"
        + (f"; findings: {labels}" if labels else ""),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


# -- settings, directory, key ----------------------------------------------------------


def _settings(ctx: typer.Context) -> Any:
    try:
        from optin.cli.context import settings_from
    except ImportError:  # pragma: no cover - older layouts
        return None
    return settings_from(ctx)


def _directory(path: Path | None, settings: Any) -> Any:
    from optin.privacy.detect import Directory

    if path is not None:
        if not path.is_file():
            raise InputError(
                "file not found",
                field="--directory",
                value=str(path),
                allowed="a members JSONL file",
            )
        return Directory.from_jsonl(path)
    if settings is None:
        return None
    if not settings.database_url and not (settings.home / "optin.db").exists():
        return None  # no platform database: skip importing the storage layer (start-up)
    try:
        from optin.services.directory import platform_directory
    except ImportError:
        return None
    return platform_directory(settings)


def _load_key(key_file: Path | None, settings: Any) -> bytes:
    """The HMAC key: ``--key-file``, else ``$OPTIN_HOME/keys/redaction.key`` (created)."""
    if key_file is not None:
        if not key_file.is_file():
            raise ConfigError(f"--key-file {key_file} does not exist; allowed: a readable key file")
        return _read_key(key_file)
    home = getattr(settings, "home", None)
    if home is None:
        raise ConfigError("no data directory to keep the redaction key in; pass --key-file")
    path = Path(home) / "keys" / KEY_FILE_NAME
    if not path.exists():
        _create_key(path)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    data = path.read_bytes().strip()
    try:
        key = bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = data
    if len(key) < 16:
        raise ConfigError(
            f"key file {path} holds {len(key)} byte(s); allowed: at least 16 bytes "
            "(e.g. 64 hex digits from `openssl rand -hex 32`)"
        )
    return key


def _create_key(path: Path) -> None:
    """Create a random 32-byte key (hex) with mode 0600; never overwrite one."""
    from optin.files import create_secret_file

    create_secret_file(path, (secrets.token_hex(32) + "\n").encode("ascii"))
