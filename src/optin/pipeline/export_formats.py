"""Provider export formats: files written from a snapshot's (filtered) shards.

Each format is a small class with a ``name`` in :data:`FORMATS`; ``write(out_dir,
tables)`` takes Arrow tables of :data:`optin.pipeline.schema.OUTPUT` (one per snapshot
shard, already filtered to the records being exported) and returns the files it wrote,
each through :mod:`optin.files` (temporary name, fsync, rename).

* ``hf-parquet``: ``data/train-NNNNN.parquet`` (the snapshot's columns) and a dataset
  card ``README.md`` whose YAML header names the ``train`` split, so
  ``datasets.load_dataset("parquet", data_files="data/*.parquet")`` and
  ``load_dataset(EXPORT_DIR)`` both load it.
* ``openai-chat-jsonl``: ``train.jsonl``, one chat example per record in the shape the
  OpenAI and Azure OpenAI fine-tuning APIs accept
  (``{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}``), and
  ``record_ids.txt``: line *i* is the record id of example *i* (a deletion notice names
  record ids, so the provider can find the examples to purge).

:func:`datasheet` renders the export's datasheet from its manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from optin.files import atomic_binary, atomic_text

__all__ = [
    "FORMATS",
    "ExportFile",
    "HfParquet",
    "OpenAIChatJsonl",
    "chat_example",
    "dataset_card",
    "datasheet",
    "documents",
    "user_prompt",
]


@dataclass(frozen=True, slots=True)
class ExportFile:
    path: str  # relative to the export directory
    sha256: str
    rows: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "rows": self.rows, "bytes": self.bytes}


def _entry(root: Path, rel: str, rows: int) -> ExportFile:
    data = (root / rel).read_bytes()
    return ExportFile(rel, hashlib.sha256(data).hexdigest(), rows, len(data))


class HfParquet:
    """A Hugging Face Parquet dataset (one ``train`` split)."""

    name: ClassVar[str] = "hf-parquet"
    description: ClassVar[str] = "Hugging Face Parquet dataset (data/train-*.parquet, README.md)"

    def write(self, out_dir: Path, tables: Iterable[pa.Table]) -> list[ExportFile]:
        files: list[ExportFile] = []
        for table in tables:
            if not table.num_rows:
                continue
            rel = f"data/train-{len(files):05d}.parquet"
            with atomic_binary(out_dir / rel) as f:
                pq.write_table(table, f, compression="zstd")
            files.append(_entry(out_dir, rel, table.num_rows))
        return files


#: How a record becomes the user turn of a chat example (``{kind}``, ``{language}``).
PROMPT = "Write a {kind} for a professional network, in the language with code '{language}'."


def user_prompt(kind: str, language: str) -> str:
    return PROMPT.format(kind=kind, language=language)


def chat_example(kind: str, language: str, text: str) -> dict[str, Any]:
    """One fine-tuning example: the prompt from the record's kind and language, and the
    record's (redacted) text as the assistant's answer."""
    return {
        "messages": [
            {"role": "user", "content": user_prompt(kind, language)},
            {"role": "assistant", "content": text},
        ]
    }


class OpenAIChatJsonl:
    """Chat fine-tuning JSONL for OpenAI and Azure OpenAI, plus the record-id index."""

    name: ClassVar[str] = "openai-chat-jsonl"
    description: ClassVar[str] = "OpenAI / Azure OpenAI chat fine-tuning JSONL (train.jsonl)"

    def write(self, out_dir: Path, tables: Iterable[pa.Table]) -> list[ExportFile]:
        rows = 0
        with (
            atomic_text(out_dir / "train.jsonl") as out,
            atomic_text(out_dir / "record_ids.txt") as ids,
        ):
            for table in tables:
                cols = table.select(["record_id", "kind", "language", "text"]).to_pydict()
                for rid, kind, lang, text in zip(
                    cols["record_id"], cols["kind"], cols["language"], cols["text"], strict=True
                ):
                    example = chat_example(kind, lang, text)
                    out.write(json.dumps(example, ensure_ascii=False, separators=(",", ":")))
                    out.write("\n")
                    ids.write(rid + "\n")
                    rows += 1
        return [_entry(out_dir, "train.jsonl", rows), _entry(out_dir, "record_ids.txt", rows)]


FORMATS: dict[str, type[HfParquet] | type[OpenAIChatJsonl]] = {
    HfParquet.name: HfParquet,
    OpenAIChatJsonl.name: OpenAIChatJsonl,
}


# -- the datasheet ---------------------------------------------------------------------


def _chat_section(m: dict[str, Any]) -> str:
    if m["format"] != OpenAIChatJsonl.name:
        return ""
    example = json.dumps(chat_example("post", "en", "<the record's redacted text>"))
    return f"""
## How a post becomes a chat example

Each record becomes one line of `train.jsonl` with two messages: a `user` message built
from the record's kind and language only (`{PROMPT}`), and an `assistant` message that
is the record's redacted text, unchanged. No system message, no other fields (the file
is what the OpenAI and Azure OpenAI chat fine-tuning APIs accept). For example:

    {example}

Line *i* of `record_ids.txt` is the record id of line *i* of `train.jsonl`.
"""


def _count_table(counts: dict[str, int]) -> str:
    return "\n".join(f"| {k} | {v:,} |" for k, v in sorted(counts.items())) or "| none | 0 |"


def datasheet(m: dict[str, Any]) -> str:
    """The export's datasheet (Markdown) from its manifest."""
    files = "\n".join(f"| `{f['path']}` | {f['rows']:,} | `{f['sha256']}` |" for f in m["files"])
    snap, prov, notices = m["snapshot"], m["provider"], m["deletion_notices"]
    excluded = _count_table(m["excluded_since_snapshot"])
    return f"""# Datasheet: export `{m["export_id"]}` to {prov["name"]}

## What is in it

{m["record_count"]:,} records of member content, format **{m["format"]}**, taken from
snapshot `{snap["id"]}` (purpose **{snap["purpose"]}**, as of {snap["as_of"]}; snapshot
manifest sha256 `{snap["manifest_sha256"]}`). Created {m["created_at"]}.
Columns as in the snapshot: `record_id` (opaque keyed hash), `text` (personal data
redacted), `kind`, `language`, `created_month`. No author ids, no content ids.
Merkle root over the record ids: `{m["merkle"]["root"]}`.

| file | rows | sha256 |
|---|---|---|
{files}

By kind:

| kind | records |
|---|---|
{_count_table(m["by_kind"])}
{_chat_section(m)}
## Why these records may be shared

Legal basis: **{m["legal_basis"]["basis"]}**. Every record's author granted the purpose
`{snap["purpose"]}` (policy version {m["policy"]["version"]}, which names
{prov["name"]} as a recipient); {m["legal_basis"]["consent_events"]:,} consent events
justify the records. Eligibility was checked when the snapshot was built and again when
this export was made; records whose authors were no longer eligible, or whose content
was deleted, were left out:

| reason | records left out |
|---|---|
{excluded}

## Deletion notices

When a member withdraws, closes their account, moves to an excluded country or deletes
the content, the platform sends {prov["name"]} a deletion notice at its registered
webhook: a JSON body listing the record ids to purge, signed with Ed25519 (header
`X-Optin-Signature`, base64, over the exact body bytes; key id `{notices["key_id"]}`;
public key at `GET {notices["public_key_path"]}`), with an `Idempotency-Key` header
(the notice id; a notice may arrive more than once). The provider confirms the purge
with `POST {notices["ack_path"]}` and a provider API key within
{notices["deadline_days"]} days; unconfirmed notices past that deadline are reported as
overdue to the platform's administrators.

## Use

Only for the purpose the members consented to: {snap["purpose_title"]}.
"""


def dataset_card(m: dict[str, Any]) -> str:
    """``README.md`` of an ``hf-parquet`` export: the Hugging Face dataset card (YAML
    header naming the ``train`` split's files) followed by the datasheet."""
    header = (
        "---\n"
        "configs:\n"
        "- config_name: default\n"
        "  data_files:\n"
        "  - split: train\n"
        '    path: "data/train-*.parquet"\n'
        "---\n\n"
    )
    return header + datasheet(m)


def documents(m: dict[str, Any]) -> dict[str, str]:
    """The text files every export carries besides its data: ``datasheet.md`` and, for
    ``hf-parquet``, the dataset card ``README.md``."""
    out = {"datasheet.md": datasheet(m)}
    if m["format"] == HfParquet.name:
        out["README.md"] = dataset_card(m)
    return out
