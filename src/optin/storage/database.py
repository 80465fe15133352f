"""The database handle every service takes: engine, sessions, schema migrations.

::

    db = Database.open(settings)      # or Database("sqlite:///path/optin.db")
    db.init()                         # data dir, migrations to head, ledger head
    with db.session() as s:           # one transaction: commit on success
        ...

Publishing the default policy is a use case, not storage:
:func:`optin.services.setup.init_database` runs :meth:`Database.init` and then seeds it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from optin.errors import ConfigError
from optin.settings import Settings
from optin.storage.db import make_engine, prepare_data_dir, session_scope
from optin.storage.keystore import SESSION_KEY as KEYSTORE_SESSION_KEY
from optin.storage.keystore import KeyStore, open_keystore
from optin.storage.light import MIGRATIONS, head_from_files

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Database:
    """An engine plus a session factory for one optin database."""

    def __init__(
        self,
        url: str,
        *,
        home: Path | None = None,
        master_key: str | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.url = url
        self.home = home
        self.engine: Engine = make_engine(url, **engine_kwargs)
        # member keys live apart from the database (storage.keystore); sessions carry it
        self.keystore: KeyStore = open_keystore(url, home, master_key)
        self._factory = sessionmaker(
            self.engine, expire_on_commit=False, info={KEYSTORE_SESSION_KEY: self.keystore}
        )

    @classmethod
    def open(cls, settings: Settings, **engine_kwargs: Any) -> Database:
        return cls(
            settings.db_url, home=settings.home, master_key=settings.master_key, **engine_kwargs
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commit on success, roll back on error."""
        with session_scope(self._factory) as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------

    def _sqlite_path(self) -> Path | None:
        u = make_url(self.url)
        if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
            return None
        return Path(u.database)

    def head_revision(self) -> str | None:
        """The newest migration: read from the migration files' ``revision`` and
        ``down_revision`` lines (:func:`optin.storage.light.head_from_files`; Alembic is
        loaded only to migrate, or where those lines do not give exactly one head), so
        every command starts faster."""
        head = head_from_files(MIGRATIONS / "versions")
        if head is not None:
            return head
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(_alembic_config(self.url)).get_current_head()

    def current_revision(self) -> str | None:
        """The schema's revision (``alembic_version``), None before ``optin init``."""
        path = self._sqlite_path()
        if path is not None and not path.exists():
            return None
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            rows = list(conn.execute(text("SELECT version_num FROM alembic_version")))
            if len(rows) <= 1:
                return str(rows[0][0]) if rows else None
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(conn).get_current_revision()  # raises: >1 head

    def is_initialized(self) -> bool:
        return self.current_revision() == self.head_revision()

    def require_initialized(self) -> None:
        """Raise ConfigError with the fix when ``optin init`` has not been run."""
        try:
            current = self.current_revision()
        except Exception as e:  # connection refused, bad file ...
            raise ConfigError(
                f"cannot open the database {self!r}: {type(e).__name__}: {e}"
            ) from None
        if current is None:
            raise ConfigError(f"no optin database at {self!r}; run `optin init` first")
        if current != self.head_revision():
            raise ConfigError(
                f"the database schema is at revision {current}, optin needs "
                f"{self.head_revision()}; run `optin init` to upgrade it"
            )

    def init(self) -> None:
        """Create the data directory, migrate to head and create the ledger head.
        Idempotent. (:func:`optin.services.setup.init_database` also seeds the policy.)"""
        from optin.storage.ledger import ensure_head

        prepare_data_dir(self.home, self._sqlite_path())  # 0700 directories, 0600 files
        from alembic import command

        cfg = _alembic_config(self.url)
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            cfg.attributes["keystore"] = self.keystore  # 0004 moves keys out of the db
            command.upgrade(cfg, "head")
        with self.session() as s:
            ensure_head(s)
        log.info("database schema at head at %r", self)

    def table_counts(self) -> dict[str, int]:
        """Row counts per table (for summaries and tests)."""
        from optin.storage.models import Base

        out: dict[str, int] = {}
        with self.session() as s:
            for name, table in Base.metadata.tables.items():
                out[name] = int(s.execute(select(func.count()).select_from(table)).scalar_one())
        return out
