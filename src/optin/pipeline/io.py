"""Arrow IPC and hashing helpers; atomic writes come from :mod:`optin.files`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from optin.files import atomic_write_bytes, atomic_write_json

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "ipc_bytes",
    "read_ipc",
    "read_json",
    "sha256_bytes",
    "sha256_file",
    "write_ipc",
]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ipc_bytes(table: pa.Table) -> bytes:
    """An Arrow IPC file of ``table`` (deterministic bytes for equal tables)."""
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def write_ipc(path: Path, table: pa.Table) -> str:
    """Atomically write ``table`` as an Arrow IPC file; return its SHA-256."""
    data = ipc_bytes(table)
    atomic_write_bytes(path, data, mode=0o600)  # work files may hold clear text
    return sha256_bytes(data)


def read_ipc(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read an Arrow IPC file (memory-mapped; only ``columns`` are touched)."""
    source = pa.memory_map(str(path), "r")  # buffers keep the mapping alive
    table = ipc.open_file(source).read_all()
    return table.select(columns) if columns is not None else table
