"""Import kinds, formats and results; reading JSONL and CSV into located records.

Files are read as bytes (at most :data:`MAX_FILE_BYTES`, lines of at most
:data:`MAX_LINE_BYTES`) and decoded line by line, so invalid UTF-8 is reported with its
line number. JSON is parsed strictly: a duplicate key, an integer of more than
:data:`MAX_INT_DIGITS` digits, ``NaN``/``Infinity``, nesting deeper than
:data:`MAX_DEPTH`, a NUL character or a lone surrogate in any value or key is an error
naming the line and field (NUL is refused in CSV too: PostgreSQL cannot store it, and
SQLite must not accept what PostgreSQL refuses). Every problem is counted in
:class:`Errors`; the first :data:`MAX_ERRORS` are listed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from optin.errors import ImportValidationError, InputError

#: Errors listed in the report (all are counted).
MAX_ERRORS = 200
#: Largest import file read (bytes); larger files are refused before parsing.
MAX_FILE_BYTES = 1 << 30
#: Longest line (bytes): a content text of 1,000,000 characters, JSON-escaped, fits.
MAX_LINE_BYTES = 8 << 20
#: Deepest nesting of JSON arrays/objects in a record (records are flat; histories are 3).
MAX_DEPTH = 16
#: Most digits of a JSON integer (ids and versions are far shorter).
MAX_INT_DIGITS = 18
#: Tolerated clock skew for "not in the future".
FUTURE_SKEW = timedelta(seconds=5)


class ImportKind(StrEnum):
    MEMBERS = "members"
    CONTENT = "content"
    CONSENTS = "consents"
    MEMBER_EVENTS = "member-events"


class ImportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class ImportResult:
    kind: str
    file: str
    records: int
    inserted: int
    skipped: int
    ledger_head: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "file": self.file,
            "records": self.records,
            "inserted": self.inserted,
            "skipped_identical": self.skipped,
            "ledger_head": self.ledger_head,
        }


# ---------------------------------------------------------------------------- reading


class TooMany(Exception):
    """Kept for callers that catch it; :class:`Errors` no longer stops at the cap."""


def _by_line(e: InputError) -> int:
    return e.line if e.line is not None else 1 << 62


@dataclass
class Errors:
    """Every problem of one file: all counted (and the invalid lines), the first
    :data:`MAX_ERRORS` by line kept for the report."""

    file: str
    items: list[InputError] = field(default_factory=list)
    total: int = 0
    lines: set[int] = field(default_factory=set)

    def add(
        self,
        message: str,
        *,
        line: int | None,
        fld: str | None = None,
        value: object = None,
        allowed: str | None = None,
    ) -> None:
        self.total += 1
        if line is not None:
            self.lines.add(line)
        self.items.append(
            InputError(
                message,
                file=self.file,
                line=line,
                field=printable(fld) if fld is not None else None,
                value=value,
                allowed=allowed,
            )
        )
        if len(self.items) >= 2 * MAX_ERRORS:  # keep memory bounded: the lowest lines
            self.items = sorted(self.items, key=_by_line)[:MAX_ERRORS]

    def raise_if_any(self) -> None:
        if not self.items:
            return
        ordered = sorted(self.items, key=_by_line)[:MAX_ERRORS]
        invalid = len(self.lines)
        if self.total > len(ordered):
            ordered.append(
                InputError(
                    f"stopped after {MAX_ERRORS} errors listed: {self.total} errors in "
                    f"{invalid} invalid record(s) in all",
                    file=self.file,
                )
            )
        raise ImportValidationError(
            ordered, file=self.file, invalid_records=invalid, total_errors=self.total
        )


def printable(text: str) -> str:
    """``text`` with control characters and lone surrogates as escapes (for messages)."""
    if text.isprintable() and not _SURROGATE.search(text):
        return text
    return "".join(
        c if c.isprintable() and not _SURROGATE.match(c) else ascii(c)[1:-1] for c in text
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def read_limited(f: IO[bytes], name: str) -> bytes:
    """At most :data:`MAX_FILE_BYTES` of ``f``, refusing early a line longer than
    :data:`MAX_LINE_BYTES` (so ``/dev/zero`` is refused after 8 MiB, not read forever)."""
    buf = bytearray()
    line_no, line_start = 1, 0
    chunk = 1 << 20
    while True:
        data = f.read(chunk)
        if not data:
            return bytes(buf)
        start = len(buf)
        buf += data
        first = data.find(b"\n")
        if first != -1:
            _check_line(start + first - line_start, line_no, name)
            line_no += data.count(b"\n")
            line_start = start + data.rfind(b"\n") + 1
        _check_line(len(buf) - line_start, line_no, name)
        if len(buf) > MAX_FILE_BYTES:
            raise InputError(
                f"the file is larger than the limit of {MAX_FILE_BYTES >> 20} MiB",
                file=name,
                allowed=f"at most {MAX_FILE_BYTES >> 20} MiB per file (split it)",
            )


def _check_line(size: int, line: int, name: str) -> None:
    if size > MAX_LINE_BYTES:
        raise InputError(
            f"line is longer than the limit of {MAX_LINE_BYTES >> 20} MiB",
            file=name,
            line=line,
            allowed=f"lines of at most {MAX_LINE_BYTES >> 20} MiB (one record per line)",
        )


def detect_format(path: Path, fmt: str | None) -> ImportFormat:
    """``fmt`` if given, else from the extension (.jsonl/.ndjson/.json -> jsonl, .csv)."""
    allowed = ", ".join(f.value for f in ImportFormat)
    if fmt is not None:
        try:
            return ImportFormat(fmt.lower())
        except ValueError:
            raise InputError(
                "unknown format", field="--format", value=fmt, allowed=allowed
            ) from None
    ext = path.suffix.lower()
    if ext in (".jsonl", ".ndjson", ".json"):
        return ImportFormat.JSONL
    if ext == ".csv":
        return ImportFormat.CSV
    raise InputError(
        "cannot tell the format from the file extension",
        file=str(path),
        value=ext or "(none)",
        allowed=".jsonl, .ndjson, .csv, or pass --format jsonl|csv",
    )


def _decoded_lines(data: bytes, errs: Errors) -> list[str]:
    """Lines of ``data`` decoded as UTF-8; an invalid line is reported and blanked."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    out: list[str] = []
    for no, raw in enumerate(data.split(b"\n"), start=1):
        if len(raw) > MAX_LINE_BYTES:
            errs.add(
                f"line is longer than the limit of {MAX_LINE_BYTES >> 20} MiB",
                line=no,
                allowed=f"lines of at most {MAX_LINE_BYTES >> 20} MiB (one record per line)",
            )
            out.append("")
            continue
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            errs.add(f"invalid UTF-8 at byte {e.start} of the line", line=no, allowed="UTF-8 text")
            out.append("")
    return out


# ------------------------------------------------------------------- strict JSON


class _LongInt:
    """What the decoder returns for an integer literal with too many digits."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the keys it saw twice."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dups: list[str] = []
        for k, _ in pairs:
            if k in seen:
                dups.append(k)
            seen.add(k)
        obj.duplicates = tuple(dups)
    return obj


def _parse_int(text: str) -> int | _LongInt:
    digits = len(text.lstrip("-"))
    return _LongInt(digits) if digits > MAX_INT_DIGITS else int(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_int=_parse_int, parse_constant=_refuse_constant
)
_DEEP_KEY = re.compile(r'"((?:[^"\\]|\\.){0,200})"\s*:\s*(?=(?:[\[{]\s*){8})')


def _loads(text: str) -> Any:
    return _DECODER.decode(text)


def _deep_field(text: str) -> str | None:
    """The key whose value opens the deep nesting, for the message (best effort)."""
    m = _DEEP_KEY.search(text)
    return m.group(1) if m else None


_ALLOWED = {
    "text": "UTF-8 text without NUL characters or lone surrogates",
    "int": f"integers of at most {MAX_INT_DIGITS} digits",
    "depth": f"at most {MAX_DEPTH} levels of nesting",
    "key": "each key once per object",
}


def _value_problem(value: Any) -> tuple[str, str] | None:
    """Why a decoded value is refused and what is allowed (NUL, lone surrogate, long
    integer, deep nesting, a duplicate nested key), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            problem = _text_problem(v)
            if problem:
                return problem, _ALLOWED["text"]
        elif isinstance(v, _LongInt):
            return f"integer with {v.digits} digits", _ALLOWED["int"]
        elif isinstance(v, (dict, list)):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels", _ALLOWED["depth"]
            if isinstance(v, _Object) and v.duplicates:
                dup = printable(v.duplicates[0])
                return f"duplicate key '{dup}' in a nested object", _ALLOWED["key"]
            items = list(v.items()) if isinstance(v, dict) else [(None, x) for x in v]
            for k, x in items:
                if k is not None and (problem := _text_problem(k)):
                    return f"a key has a {problem}", _ALLOWED["text"]
                stack.append((x, depth + 1))
    return None


def _text_problem(s: str) -> str | None:
    if "\x00" in s:
        return "NUL character (U+0000)"
    if not s.isascii() and _SURROGATE.search(s):
        return "lone surrogate (not a Unicode character)"
    return None


def check_values(no: int, rec: dict[str, Any], errs: Errors) -> bool:
    """Refuse NUL, lone surrogates, duplicate keys, long integers and deep nesting in
    any field of ``rec`` (one error per field); True when the record is clean."""
    ok = True
    for key in getattr(rec, "duplicates", ()):
        errs.add(
            "duplicate key in the JSON object",
            line=no,
            fld=key,
            allowed="each key once per record",
        )
        ok = False
    for key, value in rec.items():
        key_problem = _text_problem(key)
        found = (f"the name has a {key_problem}", _ALLOWED["text"]) if key_problem else None
        found = found or _value_problem(value)
        if found is not None:
            errs.add(f"invalid value: {found[0]}", line=no, fld=key, allowed=found[1])
            ok = False
    return ok


def read_jsonl(data: bytes, errs: Errors) -> list[tuple[int, dict[str, Any]]]:
    records: list[tuple[int, dict[str, Any]]] = []
    for no, text in enumerate(_decoded_lines(data, errs), start=1):
        if not text.strip():
            continue
        try:
            obj = _loads(text)
        except json.JSONDecodeError as e:
            errs.add(
                f"malformed JSON: {e.msg} at column {e.colno}",
                line=no,
                allowed="one JSON object per line",
            )
            continue
        except RecursionError:
            errs.add(
                f"JSON nested deeper than {MAX_DEPTH} levels",
                line=no,
                fld=_deep_field(text),
                allowed=f"at most {MAX_DEPTH} levels of nesting",
            )
            continue
        except ValueError as e:  # NaN / Infinity
            errs.add(f"malformed JSON: {e}", line=no, allowed="one JSON object per line")
            continue
        if not isinstance(obj, dict):
            errs.add(
                "a record must be a JSON object",
                line=no,
                value=type(obj).__name__,
                allowed='{"field": value, ...}',
            )
            continue
        if check_values(no, obj, errs):
            records.append((no, obj))
    return records


def read_csv(data: bytes, errs: Errors, fields: Sequence[str]) -> list[tuple[int, dict[str, Any]]]:
    text = "\n".join(_decoded_lines(data, errs))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, dict[str, Any]]] = []
    header: list[str] | None = None
    try:
        start = 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            if header is None:
                header = [h.strip() for h in row]
                for h in header:
                    if h not in fields:
                        errs.add("unknown column", line=line, fld=h, allowed=", ".join(fields))
                dup = {h for h in header if header.count(h) > 1}
                for h in sorted(dup):
                    errs.add("column appears twice", line=line, fld=h)
                continue
            if len(row) != len(header):
                errs.add(
                    f"expected {len(header)} fields, found {len(row)}",
                    line=line,
                    allowed="one value per header column (quote values with commas)",
                )
                continue
            rec = {
                h: (v if v != "" else None) for h, v in zip(header, row, strict=True) if h in fields
            }
            if check_values(line, rec, errs):
                records.append((line, rec))
    except csv.Error as e:
        errs.add(
            f"malformed CSV: {e}",
            line=reader.line_num,
            allowed='RFC 4180 CSV with a header row; quote with "',
        )
    if header is None and not errs.items:
        errs.add(
            "the CSV file is empty (no header row)",
            line=1,
            allowed="a header row naming the columns",
        )
    return records
