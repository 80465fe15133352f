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
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body the web app reads, in bytes (OPTIN_MAX_BODY_BYTES); "
        "larger ones get 413 before they are read",
    )
    max_json_depth: int = Field(
        default=32,
        ge=2,
        le=1000,
        description="Deepest nesting of arrays and objects a JSON request body may have "
        "(OPTIN_MAX_JSON_DEPTH)",
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Comma-separated addresses (or networks) of reverse proxies whose "
        "X-Forwarded-For/-Proto headers are trusted (OPTIN_FORWARDED_ALLOW_IPS or "
        "--forwarded-allow-ips); default: none, so no client can set its own address",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL for the login rate limit (OPTIN_REDIS_URL), e.g. "
        "redis://127.0.0.1:6379/0; default: the limit is kept in the database",
    )

    log_origin: str = Field(
        default="optin.local/consent-log",
        description="Transparency log origin: checkpoint first line and log key name "
        "(OPTIN_LOG_ORIGIN).",
    )
    log_checkpoint_interval: float = Field(
        default=1.0,
        ge=0,
        description="At most one new checkpoint every this many seconds while events arrive "
        "(OPTIN_LOG_CHECKPOINT_INTERVAL).",
    )
    log_witnesses: list[str] = Field(
        default_factory=list,
        description='Witnesses that cosign checkpoints: JSON list of "URL VKEY" '
        "(OPTIN_LOG_WITNESSES).",
    )
    log_witness_quorum: int | None = Field(
        default=None,
        ge=0,
        description="Cosignatures a checkpoint needs; default all configured witnesses "
        "(OPTIN_LOG_WITNESS_QUORUM).",
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
