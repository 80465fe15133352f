"""The settings a short CLI command needs, read from the environment without pydantic.

:class:`optin.settings.Settings` (pydantic-settings) costs ~120 ms to import, more than a
whole ``optin consent show`` may take. :func:`read_env_settings` reads the same
``OPTIN_*`` variables the same way for the fields whose every value is valid as it is
(strings and the home path), and declines (returns None) whenever the environment holds
anything it does not read exactly as pydantic-settings would: a variable of a validated
field (numbers, lists), or two variables that differ only in case. The caller then builds
the full :class:`~optin.settings.Settings`, so a bad value fails where and as it always
did. ``tests/cli/test_settings_env.py`` holds the values equal to ``Settings``'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optin.settings import Settings

#: ``Settings.model_config``'s ``env_prefix`` (matched case-insensitively, as there).
PREFIX = "optin_"
#: The fields read here: any string is a valid value for each.
STRING_FIELDS = (
    "database_url",
    "log_level",
    "master_key",
    "forwarded_allow_ips",
    "redis_url",
    "log_origin",
)
#: The fields whose variables make this reader decline (pydantic validates their values).
VALIDATED_FIELDS = (
    "max_body_bytes",
    "max_json_depth",
    "log_checkpoint_interval",
    "log_witnesses",
    "log_witness_quorum",
)
#: ``Settings``' defaults of the fields read here (the others default to None).
DEFAULT_LOG_LEVEL = "WARNING"
DEFAULT_LOG_ORIGIN = "optin.local/consent-log"
DEFAULT_HOME = Path("./optin-data")


@dataclass(frozen=True, slots=True)
class EnvSettings:
    """What :class:`~optin.settings.Settings` would hold for these fields, and how to build
    it: ``home_arg`` is the ``--home`` option (None: not given)."""

    home: Path
    database_url: str | None
    log_level: str
    master_key: str | None
    forwarded_allow_ips: str | None
    redis_url: str | None
    log_origin: str
    home_arg: Path | None = None

    @property
    def db_url(self) -> str:
        """As :attr:`Settings.db_url <optin.settings.Settings.db_url>`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'optin.db').resolve()}"

    def full(self) -> Settings:
        """The pydantic :class:`~optin.settings.Settings`, built as the CLI always built it
        (``Settings(home=...)`` with ``--home``, else ``Settings()``)."""
        from optin.settings import Settings

        return Settings(home=self.home_arg) if self.home_arg is not None else Settings()


def read_env_settings(environ: Mapping[str, str], home: Path | None = None) -> EnvSettings | None:
    """The settings from ``environ`` (and ``--home``), or None where only pydantic can
    read them (see the module docstring)."""
    found: dict[str, str] = {}
    for key, value in environ.items():
        low = key.lower()  # pydantic-settings' case-insensitive match
        if not low.startswith(PREFIX):
            continue
        name = low[len(PREFIX) :]
        if name in VALIDATED_FIELDS or name in found:
            return None
        if name == "home" or name in STRING_FIELDS:
            found[name] = value
    if home is not None:
        home_path = home
    elif "home" in found:
        home_path = Path(found["home"])
    else:
        home_path = DEFAULT_HOME
    return EnvSettings(
        home=home_path,
        database_url=found.get("database_url"),
        log_level=found.get("log_level", DEFAULT_LOG_LEVEL),
        master_key=found.get("master_key"),
        forwarded_allow_ips=found.get("forwarded_allow_ips"),
        redis_url=found.get("redis_url"),
        log_origin=found.get("log_origin", DEFAULT_LOG_ORIGIN),
        home_arg=home,
    )


__all__ = ["EnvSettings", "read_env_settings"]
