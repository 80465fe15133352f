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
    with atomic_binary(path, mode=0o600) as raw:
        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("index.html", render_index(data))
            z.writestr("data.json", _json(data, drop_receipts=True))
            for ev in data["consent_history"]:
                z.writestr(f"receipts/{ev['event_id']}.json", _json(ev["receipt"]))
    return path, _file_sha256(path)


def _json(obj: Any, *, drop_receipts: bool = False) -> str:
    if drop_receipts:  # data.json names each receipt file instead of repeating it
        obj = dict(obj)
        obj["consent_history"] = [
            {**{k: v for k, v in e.items() if k != "receipt"}, "receipt_file": f"receipts/{e['event_id']}.json"}
            for e in obj["consent_history"]
        ]
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_INDEX = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Your data on this platform</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}.muted{color:#555}.post{white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}
</style>
</head>
<body>
<h1>Your data on this platform</h1>
<p class="muted">Access package for member <code>{{ d.member_id }}</code>, request
<code>{{ d.request_id }}</code>, made {{ d.generated_at }}. The file <code>data.json</code>
next to this page holds the same data in machine-readable form; <code>receipts/</code>
holds one consent receipt per choice.</p>
<nav><ul>
<li><a href="#profile">Profile</a></li><li><a href="#content">Your content ({{ d.content|length }})</a></li>
<li><a href="#consent">Consent history ({{ d.consent_history|length }})</a></li>
<li><a href="#decisions">Decisions per purpose</a></li><li><a href="#lineage">Where your content went</a></li>
<li><a href="#requests">Your requests</a></li></ul></nav>

<h2 id="profile">Profile</h2>
<dl>
<dt>Name</dt><dd>{{ p.display_name }}</dd>
<dt>Handle</dt><dd>@{{ p.handle }}</dd>
<dt>E-mail</dt><dd>{{ p.email or '—' }}</dd>
<dt>Birth date</dt><dd>{{ p.birth_date or '—' }}</dd>
<dt>Joined</dt><dd>{{ p.joined_at }}</dd>
<dt>Country now</dt><dd>{{ p.country or '—' }}</dd>
<dt>Account status</dt><dd>{{ p.status or '—' }}</dd>
</dl>
{% if p.changes %}<table><caption>Recorded changes</caption>
<tr><th>Change</th><th>Value</th><th>Effective</th><th>Recorded</th><th>Source</th></tr>
{% for c in p.changes %}<tr><td>{{ c.kind }}</td><td>{{ c.value or '—' }}</td><td>{{ c.effective_at }}</td><td>{{ c.recorded_at }}</td><td>{{ c.source or '—' }}</td></tr>
{% endfor %}</table>{% endif %}

<h2 id="content">Your content</h2>
{% if d.content %}<table>
<tr><th>Created</th><th>Kind</th><th>Visibility</th><th>Text</th></tr>
{% for c in d.content %}<tr id="c-{{ c.id }}"><td>{{ c.created_at }}{% if c.deleted_at %}<br><span class="muted">deleted {{ c.deleted_at }}</span>{% endif %}</td>
<td>{{ c.kind }}</td><td>{{ c.visibility }}</td><td class="post">{{ c.text }}</td></tr>
{% endfor %}</table>{% else %}<p>No content.</p>{% endif %}

<h2 id="consent">Consent history</h2>
{% if d.consent_history %}<table>
<tr><th>Effective</th><th>Recorded</th><th>Purpose</th><th>Choice</th><th>How</th><th>Policy</th><th>Receipt</th></tr>
{% for e in d.consent_history %}<tr><td>{{ e.at }}</td><td>{{ e.recorded_at or '—' }}</td><td>{{ e.purpose }}</td>
<td>{{ 'objection (withdrawn)' if e.source == 'objection' else ('switched on' if e.action == 'grant' else 'switched off') }}</td>
<td>{{ e.source }}</td><td>v{{ e.policy_version }}</td><td><a href="receipts/{{ e.event_id }}.json">receipt</a></td></tr>
{% endfor %}</table>{% else %}<p>No choices recorded.</p>{% endif %}

<h2 id="decisions">Decisions per purpose</h2>
<table><tr><th>Purpose</th><th>Switch</th><th>Your content is used</th><th>Why</th></tr>
{% for s in d.decisions %}<tr><td>{{ s.title }}</td><td>{{ 'on' if s.switched_on else 'off' }}</td>
<td>{{ 'yes' if s.decision.eligible else 'no' }}</td><td>{{ s.decision.explanation }} <span class="muted">({{ s.decision.reason }})</span></td></tr>
{% endfor %}</table>

<h2 id="lineage">Where your content went</h2>
<p>{{ l.content_items }} content item(s); {{ l.records }} record(s) in training snapshots.</p>
{% if l.snapshots %}<table><caption>Snapshots</caption>
<tr><th>Snapshot</th><th>Purpose</th><th>As of</th><th>Status</th><th>Your records</th><th>Stale for you</th></tr>
{% for s in l.snapshots %}<tr><td>{{ s.id }}</td><td>{{ s.purpose }}</td><td>{{ s.as_of }}</td><td>{{ s.status }}</td><td>{{ s.member_records }}</td>
<td>{{ (s.member_stale.reason ~ ' since ' ~ s.member_stale.at) if s.member_stale else 'no' }}</td></tr>
{% endfor %}</table>{% else %}<p>None of your content is in a training snapshot.</p>{% endif %}
{% if l.provider_exports %}<table><caption>Shared with AI providers</caption>
<tr><th>Export</th><th>Provider</th><th>When</th><th>Status</th><th>Your records</th><th>Named in deletion notices</th></tr>
{% for e in l.provider_exports %}<tr><td>{{ e.export_id }}</td><td>{{ e.provider }}</td><td>{{ e.created_at }}</td><td>{{ e.status }}</td><td>{{ e.your_records }}</td><td>{{ e.your_records_named_in_deletion_notices }}</td></tr>
{% endfor %}</table>{% else %}<p>None of your content was shared with an AI provider.</p>{% endif %}
{% if l.deletion_notices %}<table><caption>Deletion notices sent to providers</caption>
<tr><th>Notice</th><th>Provider</th><th>Sent</th><th>Purge by</th><th>Your records</th><th>Delivered</th><th>Acknowledged</th></tr>
{% for n in l.deletion_notices %}<tr><td>{{ n.notice_id }}</td><td>{{ n.provider }}</td><td>{{ n.created_at }}</td><td>{{ n.purge_by }}</td><td>{{ n.your_records }}</td><td>{{ n.delivered_at or 'not yet' }}</td><td>{{ n.acknowledged_at or 'not yet' }}</td></tr>
{% endfor %}</table>{% endif %}
{% if l.models %}<table><caption>Models</caption><tr><th>Snapshot</th><th>Model</th><th>When</th></tr>
{% for m in l.models %}<tr><td>{{ m.snapshot_id }}</td><td>{{ m.model_id }}</td><td>{{ m.at }}</td></tr>{% endfor %}</table>
{% else %}<p>No model is recorded as trained on a snapshot holding your content.</p>{% endif %}

<h2 id="requests">Your requests</h2>
<table><tr><th>Request</th><th>Kind</th><th>State</th><th>Received</th><th>Deadline</th></tr>
{% for r in d.requests %}<tr><td>{{ r.id }}</td><td>{{ r.kind }}</td><td>{{ r.state }}</td><td>{{ r.received_at }}</td><td>{{ r.due_at }}</td></tr>
{% endfor %}</table>
</body>
</html>
"""

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_template = _env.from_string(_INDEX)


def render_index(data: dict[str, Any]) -> str:
    """The package's ``index.html`` (every value escaped; no external reference)."""
    return _template.render(d=data, p=data["profile"], l=data["lineage"])


__all__ = ["FORMAT", "build_package", "package_data", "render_index"]
