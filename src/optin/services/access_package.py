"""The access package: everything the platform holds about one member and where it
went, as one zip written atomically (:func:`optin.files.atomic_binary`, mode 0600).

Inside ``optin-access-<member>-<date>.zip``::

    index.html              a readable summary; opens offline (inline CSS, no scripts,
                            no external links or assets)
    data.json               the same, machine-readable (format optin-access-package/1)
    receipts/<event>.json   one consent receipt per ledger event (services/receipts.py)

``data.json`` holds: the profile (account fields, current country and status, every
dated change), all their content (deleted items too, flagged), the full consent history
with a receipt per event, the decision per purpose with its reason, lineage (snapshots,
derived snapshots, provider exports with the member's record count, deletion notices
naming their records and the providers' acknowledgements, models when recorded) and
the member's data-subject requests.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment

from optin.files import atomic_binary
from optin.services import receipts
from optin.services.consent import consent_history, consent_state, member_not_found
from optin.services.lineage import member_lineage
from optin.services.members import show_member
from optin.storage import dsr as repo
from optin.storage.database import Database
from optin.storage.members import get_member

FORMAT = "optin-access-package/1"


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _profile(db: Database, member_id: str, now: datetime) -> dict[str, Any]:
    info = show_member(db, member_id, now)
    with db.session() as s:
        m = get_member(s, member_id)
        if m is None:
            raise member_not_found(member_id)
        info["email"] = m.email
        info["role"] = m.role
        info["erased_at"] = _iso(m.erased_at)
    return info


def _content(db: Database, member_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "visibility": r.visibility,
            "language": r.language,
            "created_at": _iso(r.created_at),
            "edited_at": _iso(r.edited_at),
            "deleted_at": _iso(r.deleted_at),
            "text": r.text,
        }
        for r in repo.iter_member_content(db.engine, member_id)
    ]


def _exports_and_notices(db: Database, member_id: str) -> tuple[list[Any], list[Any]]:
    with db.session() as s:
        rows = repo.member_exports(s, member_id)
        by_export: dict[str, dict[str, Any]] = {}
        mine: dict[str, set[str]] = {}
        for r in rows:
            e = by_export.setdefault(
                r.export_id,
                {
                    "export_id": r.export_id,
                    "provider": r.provider,
                    "snapshot_id": r.snapshot_id,
                    "format": r.format,
                    "created_at": _iso(r.created_at),
                    "status": r.status,
                    "your_records": 0,
                    "your_records_named_in_deletion_notices": 0,
                },
            )
            e["your_records"] += 1
            e["your_records_named_in_deletion_notices"] += r.noticed_at is not None
            mine.setdefault(r.export_id, set()).add(r.record_id)
        notices = []
        for n in repo.notices_of_exports(s, sorted(by_export)):
            named = set(json.loads(n.payload).get("record_ids", [])) & mine[n.export_id]
            if not named:
                continue
            notices.append(
                {
                    "notice_id": n.id,
                    "export_id": n.export_id,
                    "provider": by_export[n.export_id]["provider"],
                    "reason": n.reason,
                    "created_at": _iso(n.created_at),
                    "purge_by": _iso(n.due_at),
                    "your_records": len(named),
                    "delivered_at": _iso(n.delivered_at),
                    "acknowledged_at": _iso(n.acked_at),
                }
            )
    return list(by_export.values()), notices


def _requests(db: Database, member_id: str, now: datetime) -> list[dict[str, Any]]:
    from optin.services.dsr import member_requests

    return [
        {k: v for k, v in r.to_dict().items() if k not in ("opened_by", "history")}
        for r in member_requests(db, member_id, now)
    ]


def package_data(db: Database, member_id: str, *, request_id: str, now: datetime) -> dict[str, Any]:
    """Everything the package holds, as one JSON-ready dict (receipts included)."""
    events = consent_history(db, member_id)
    history = [
        {
            "event_id": e.event_id,
            "purpose": e.purpose,
            "action": str(e.action),
            "source": str(e.source),
            "at": _iso(e.at),
            "recorded_at": _iso(e.recorded_at),
            "policy_version": e.policy_version,
            "receipt": receipts.receipt(db, e.event_id),
        }
        for e in events
    ]
    exports, notices = _exports_and_notices(db, member_id)
    lineage = member_lineage(db, member_id)
    lineage["provider_exports"] = exports
    lineage["deletion_notices"] = notices
    return {
        "format": FORMAT,
        "generated_at": now.isoformat(),
        "request_id": request_id,
        "member_id": member_id,
        "profile": _profile(db, member_id, now),
        "content": _content(db, member_id),
        "consent_history": history,
        "decisions": [p.to_dict() for p in consent_state(db, member_id, now)],
        "lineage": lineage,
        "requests": _requests(db, member_id, now),
    }


def build_package(
    db: Database, directory: Path, member_id: str, *, request_id: str, now: datetime
) -> tuple[Path, str]:
    """Write the member's package into ``directory`` atomically; returns (path, sha256)."""
    data = package_data(db, member_id, request_id=request_id, now=now)
    name = f"optin-access-{request_id}-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
    path = directory / name
    with (
        atomic_binary(path, mode=0o600) as raw,
        zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as z,
    ):
        z.writestr("index.html", render_index(data))
        z.writestr("data.json", _json(data, drop_receipts=True))
        for ev in data["consent_history"]:
            z.writestr(f"receipts/{ev['event_id']}.json", _json(ev["receipt"]))
    return path, _file_sha256(path)


def _json(obj: Any, *, drop_receipts: bool = False) -> str:
    if drop_receipts:  # data.json names each receipt file instead of repeating it
        obj = dict(obj)
        obj["consent_history"] = [
            {
                **{k: v for k, v in e.items() if k != "receipt"},
                "receipt_file": f"receipts/{e['event_id']}.json",
            }
            for e in obj["consent_history"]
        ]
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_template = _env.from_string(
    resources.files("optin.services").joinpath("access_index.html").read_text("utf-8")
)


def render_index(data: dict[str, Any]) -> str:
    """The package's ``index.html`` (every value escaped; no external reference)."""
    return _template.render(d=data, p=data["profile"], l=data["lineage"])


__all__ = ["FORMAT", "build_package", "package_data", "render_index"]
