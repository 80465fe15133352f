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
    """

    purpose: str
    profile: str = "default"
    operator: str = "mask"
    drop_density: float | None = 0.25
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
