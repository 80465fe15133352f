"""Consent as machine-readable signals on a platform's content: the IETF AI Preferences
``Content-Usage`` HTTP header (vocabulary draft-ietf-aipref-vocab-07, attachment
draft-ietf-aipref-attach-05) and the W3C TDMRep ``tdm-reservation`` header, per content
item, from its author's recorded choice.

Revisions followed (:data:`DRAFTS`), each read in the working group's repository at its
submission tag:

* draft-ietf-aipref-vocab-07 (19 August 2026), "A Vocabulary For Expressing AI Usage
  Preferences": the categories' labels ``train-ai`` ("AI Model Training") and
  ``search``; the exemplary serialization, an RFC 9651 Dictionary whose values are the
  tokens ``y`` or ``n``. Revisions -05 (1 Dec 2025) and -06 (28 Apr 2026) use the same
  labels and syntax. A later revision (-08) was published after these were checked; a
  later editor's copy adds an ``ai-use`` category and keeps ``train-ai`` and the syntax.
* draft-ietf-aipref-attach-05 (19 August 2026), "Associating AI Usage Preferences with
  Content in HTTP": the ``Content-Usage`` response header field (an RFC 9651 Dictionary
  in that vocabulary) and the robots.txt rule ``Content-Usage: [path] usage-pref``
  (same as -04, 28 Oct 2025).
* W3C TDMRep, the TDM Reservation Protocol Final Community Group Report of 10 May 2024:
  the ``tdm-reservation`` header (``1`` reserved, ``0`` not) and
  ``/.well-known/tdmrep.json`` rules (``location``, ``tdm-reservation``, optional
  ``tdm-policy``).

Internet-Drafts change; the tests parse the values with an independent RFC 9651 parser
(``http-sfv``) and the stdlib robots.txt parser, not against a later draft.

``train-ai=y`` only when the author is eligible *now* for a purpose of the policy in
force that covers the item (its kind and visibility) and the item is not deleted; in
every other case ``train-ai=n`` (no choice, withdrawn, an excluded country, a minor, a
closed account, an unknown item). The value is a Structured Field Values dictionary
(RFC 9651) with one member, ``train-ai``, a token ``y`` or ``n``; only ``train-ai`` is
stated (``search`` is left unstated: optin records no choice about search). TDMRep's
``tdm-reservation`` is ``1`` (rights reserved) exactly when ``train-ai=n``.

Nothing is cached: a member who switches off gets ``train-ai=n`` on their items from
the next request on.

::

    usage = content_usage(db, "post-123", now=now)
    response.headers.update(usage.headers())
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from optin.domain.eligibility import eligibility
from optin.errors import InputError
from optin.services.policy import policy_set
from optin.storage.database import Database
from optin.storage.members import member_history
from optin.storage.models import ContentRow

CONTENT_USAGE = "Content-Usage"
TDM_RESERVATION = "tdm-reservation"
#: The revisions the values are written against (see the module docstring).
DRAFTS = (
    "draft-ietf-aipref-vocab-07",
    "draft-ietf-aipref-attach-05",
    "W3C TDMRep Final Community Group Report, 10 May 2024",
)


@dataclass(frozen=True)
class ContentUsage:
    content_id: str
    train_ai: bool
    #: the purposes the author is eligible for now that cover this item (ids)
    purposes: tuple[str, ...]

    @property
    def value(self) -> str:
        """The ``Content-Usage`` field value (a one-member SF dictionary)."""
        return f"train-ai={'y' if self.train_ai else 'n'}"

    @property
    def tdm_reservation(self) -> int:
        return 0 if self.train_ai else 1

    def headers(self) -> dict[str, str]:
        return {CONTENT_USAGE: self.value, TDM_RESERVATION: str(self.tdm_reservation)}

    def to_dict(self) -> dict[str, object]:
        return {
            "content_id": self.content_id,
            "content_usage": self.value,
            "train_ai": self.train_ai,
            "tdm_reservation": self.tdm_reservation,
            "purposes": list(self.purposes),
        }


def content_usage(db: Database, content_id: str, *, now: datetime) -> ContentUsage:
    """The signal of one content item as of ``now`` (``train-ai=n`` for an unknown id,
    so a caller never says more than the ledger allows)."""
    ps = policy_set(db)
    pv = ps.in_force(now)
    with db.session() as s:
        row = s.get(ContentRow, content_id)
        item = (row.author_id, row.kind, row.visibility, row.deleted_at) if row else None
        history = member_history(s, item[0]) if item else None
    if item is None or history is None or pv is None or item[3] is not None:
        return ContentUsage(content_id, False, ())
    _author, kind, visibility, _deleted = item
    ok = tuple(
        p.id
        for p in pv.purposes.values()
        if p.allows(kind, visibility) and eligibility(history, p.id, now, ps).eligible
    )
    return ContentUsage(content_id, bool(ok), ok)


# -- platform level: robots.txt and tdmrep.json -------------------------------------------


@dataclass(frozen=True)
class PlatformSignals:
    """What optin can say for a whole content path, as of ``at``: always ``train-ai=n``
    / ``tdm-reservation: 1``. optin is opt-in: an item may be used for training only
    when its author chose so and is eligible now, which differs item by item, so a
    path-wide rule can only state the default (no); the items whose authors opted in say
    ``train-ai=y`` in their own ``Content-Usage`` header. ``policy_version``
    is the version of the policy in force (None: none is)."""

    paths: tuple[str, ...]
    at: datetime
    policy_version: int | None

    def robots_txt(self, *, user_agent: str = "*") -> str:
        """A robots.txt group with one ``Content-Usage`` rule per content path
        (draft-ietf-aipref-attach-05 section 3: ``Content-Usage: [path] usage-pref``)."""
        pv = "" if self.policy_version is None else f", policy version {self.policy_version}"
        why = (
            [
                "# Under opt-in the default for these paths is train-ai=n; an item whose",
                "# author opted in says 'Content-Usage: train-ai=y' in its own HTTP response.",
            ]
            if self.policy_version is not None
            else ["# No consent policy is in force: no item may be used for AI training."]
        )
        lines = [
            f"# AI-use preferences from recorded consent (optin) as of {self.at.isoformat()}{pv}",
            "# (draft-ietf-aipref-attach-05; vocabulary draft-ietf-aipref-vocab-07).",
            *why,
            f"User-Agent: {user_agent}",
            *(f"Content-Usage: {p} train-ai=n" for p in self.paths),
        ]
        return "\n".join(lines) + "\n"

    def tdmrep(self, *, policy_url: str | None = None) -> list[dict[str, object]]:
        """The W3C TDMRep (Final CG Report, 10 May 2024) ``/.well-known/tdmrep.json``
        document: one rule per content
        path, ``tdm-reservation: 1`` (rights reserved), with ``tdm-policy`` when given."""
        out: list[dict[str, object]] = []
        for p in self.paths:
            rule: dict[str, object] = {"location": p + ("*" if p.endswith("/") else ""),
                                       "tdm-reservation": 1}  # fmt: skip
            if policy_url:
                rule["tdm-policy"] = policy_url
            out.append(rule)
        return out


def platform_signals(
    db: Database, paths: tuple[str, ...] | list[str], *, now: datetime
) -> PlatformSignals:
    """:class:`PlatformSignals` for the platform's content ``paths`` (each starting with
    ``/``) under the policy in force at ``now``."""
    bad = [p for p in paths if not p.startswith("/") or any(c.isspace() for c in p)]
    if bad or not paths:
        raise InputError(
            f"content path {bad[0]!r} is not a URL path" if bad else "no content path given",
            field="paths",
            allowed="one or more paths starting with '/', without spaces (e.g. /posts/)",
        )
    pv = policy_set(db).in_force(now)
    return PlatformSignals(tuple(paths), now, pv.version if pv else None)


__all__ = [
    "CONTENT_USAGE",
    "DRAFTS",
    "TDM_RESERVATION",
    "ContentUsage",
    "PlatformSignals",
    "content_usage",
    "platform_signals",
]
