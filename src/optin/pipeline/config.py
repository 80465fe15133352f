"""Build configuration: one frozen, picklable object shipped to every worker."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from optin.errors import ConfigError
from optin.privacy.anonymize import operator_names
from optin.privacy.profiles import profile_names


def snapshot_operators() -> list[str]:
    """The registry's operators a snapshot may use: every one but ``keep``, which would
    leave the personal data in a training set."""
    return [name for name in operator_names() if name != "keep"]


#: The snapshot's default operator: realistic fakes keep the text natural for training.
DEFAULT_OPERATOR = "surrogate"
#: Labels the ``surrogate`` operator leaves to ``mask`` in a snapshot: a fake card, IBAN
#: or government id (checksum made to fail) carries no language for training and reads
#: as a real one to every detector, including ``snapshot verify``'s; a tag does not.
SURROGATE_TAGGED = ("CREDIT_CARD", "GOV_ID", "IBAN")
#: The snapshot's default drop rule: fewer than this many words of original text left.
DEFAULT_MIN_REAL_WORDS = 3


#: Phrases that mark a post as boilerplate (spam, link bait, placeholders); lower case.
DEFAULT_BOILERPLATE = (
    "lorem ipsum",
    "click here",
    "click the link",
    "link in bio",
    "subscribe to my channel",
    "follow for follow",
    "like and subscribe",
    "dm me for",
    "this post has been removed",
    "[deleted]",
)


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines a snapshot's bytes (besides the data and the record key).

    ``languages`` empty means any well-formed language tag; ``und``/empty tags are
    always dropped as ``language_unknown``.

    The record-drop rule after redaction: a record with redacted personal data is
    dropped as ``too_little_text_left`` when fewer than ``min_real_words`` words of its
    own text remain outside the redacted spans (:func:`optin.privacy.anonymize.engine.
    count_words`), and as ``pii_density`` when ``drop_density`` is set and more than
    that share of its non-space characters was redacted (off by default: it dropped 36%
    of the demo's consenting content, most of it with one or two redacted spans).
    ``operator`` ``surrogate`` (the default) puts realistic fake values in place of the
    personal data; ``mask`` puts type tags such as ``[PERSON]``.
    """

    purpose: str
    profile: str = "default"
    operator: str = DEFAULT_OPERATOR
    drop_density: float | None = None
    min_real_words: int | None = DEFAULT_MIN_REAL_WORDS
    min_chars: int = 20
    min_words: int = 3
    languages: tuple[str, ...] = ()
    boilerplate: tuple[str, ...] = DEFAULT_BOILERPLATE
    max_repeat_ratio: float = 0.5
    dedupe: bool = True
    near_dup: bool = True
    num_perm: int = 112
    bands: int = 14
    shingle_words: int = 3
    seed: int = 0
    shard_size: int = 10_000
    row_group_size: int = 10_000
    zstd_level: int = 3
    extra: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.profile not in profile_names():
            raise ConfigError(
                f"unknown profile '{self.profile}'; allowed: {', '.join(profile_names())}"
            )
        if self.operator not in snapshot_operators():
            raise ConfigError(
                f"unknown operator '{self.operator}'; allowed: {', '.join(snapshot_operators())}"
            )
        if self.shard_size < 1:
            raise ConfigError(f"shard_size must be >= 1 (got {self.shard_size})")
        if self.num_perm % self.bands:
            raise ConfigError(
                f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})"
            )
        if self.drop_density is not None and not 0 < self.drop_density <= 1:
            raise ConfigError(f"drop_density must be in (0, 1] or None (got {self.drop_density})")
        if self.min_real_words is not None and self.min_real_words < 1:
            raise ConfigError(f"min_real_words must be >= 1 or None (got {self.min_real_words})")

    def per_label(self) -> tuple[tuple[str, str], ...]:
        """Operators per label that differ from ``operator`` (:data:`SURROGATE_TAGGED`)."""
        if self.operator != "surrogate":
            return ()
        return tuple((label, "mask") for label in SURROGATE_TAGGED)

    @property
    def rows_per_band(self) -> int:
        return self.num_perm // self.bands

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["languages"] = list(self.languages)
        d["boilerplate"] = list(self.boilerplate)
        d["extra"] = dict(self.extra)
        return d

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of every field."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()
