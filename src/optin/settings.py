"""One Settings object, from CLI options and OPTIN_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """optin's configuration. Nothing connects or creates files at construction.

    Every field is read somewhere and listed in the README's configuration table (a test
    holds both). Web sessions and CSRF tokens need no configured secret: each is a random
    token kept only as a hash (see :mod:`optin.services.web_auth`).
    """

    model_config = SettingsConfigDict(env_prefix="OPTIN_", extra="ignore")

    home: Path = Field(
        default=Path("./optin-data"),
        description="Data directory: SQLite database, keys, snapshots (OPTIN_HOME or --home).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (OPTIN_DATABASE_URL); default sqlite:///$OPTIN_HOME/optin.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    log_level: str = Field(
        default="WARNING", description="Logging level for entry points (OPTIN_LOG_LEVEL)."
    )
    master_key: str | None = Field(
        default=None,
        description="Master key that wraps the member keys in the key store "
        "(OPTIN_MASTER_KEY, base64 of 32 bytes); default: a random key kept in "
        "$OPTIN_HOME/keys/master.key",
    )

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'optin.db').resolve()}"

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"
