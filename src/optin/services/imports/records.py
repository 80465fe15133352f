"""Import kinds, formats and results; reading JSONL and CSV into located records.

Files are read as bytes and decoded line by line, so invalid UTF-8 is reported with its
line number. Every problem is collected in :class:`Errors` (up to :data:`MAX_ERRORS`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from optin.errors import ImportValidationError, InputError

MAX_ERRORS = 200
#: Tolerated clock skew for "not in the future".
FUTURE_SKEW = timedelta(seconds=5)


class ImportKind(StrEnum):
    MEMBERS = "members"
    CONTENT = "content"
    CONSENTS = "consents"


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
    """Raised when the error cap is reached; the errors collected so far are reported."""


@dataclass
class Errors:
    file: str
    items: list[InputError] = field(default_factory=list)

    def add(
        self,
        message: str,
        *,
        line: int | None,
        fld: str | None = None,
        value: object = None,
        allowed: str | None = None,
    ) -> None:
        self.items.append(
            InputError(message, file=self.file, line=line, field=fld, value=value, allowed=allowed)
        )
        if len(self.items) >= MAX_ERRORS:
            raise TooMany

    def raise_if_any(self) -> None:
        if self.items:
            ordered = sorted(self.items, key=lambda e: e.line if e.line is not None else 1 << 62)
            raise ImportValidationError(ordered, file=self.file)


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
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            errs.add(f"invalid UTF-8 at byte {e.start} of the line", line=no, allowed="UTF-8 text")
            out.append("")
    return out


def read_jsonl(data: bytes, errs: Errors) -> list[tuple[int, dict[str, Any]]]:
    records: list[tuple[int, dict[str, Any]]] = []
    for no, text in enumerate(_decoded_lines(data, errs), start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            errs.add(
                f"malformed JSON: {e.msg} at column {e.colno}",
                line=no,
                allowed="one JSON object per line",
            )
            continue
        if not isinstance(obj, dict):
            errs.add(
                "a record must be a JSON object",
                line=no,
                value=type(obj).__name__,
                allowed='{"field": value, ...}',
            )
            continue
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
