"""Storage: SQLAlchemy models, the only SQL, Alembic migrations, the consent ledger.

* :mod:`optin.storage.models` - tables (one schema definition; migrations follow it)
* :mod:`optin.storage.database` - :class:`Database`: engine, sessions, migrations
* :mod:`optin.storage.db` - engines (SQLite WAL + foreign keys, PostgreSQL), sessions
* :mod:`optin.storage.ledger` - append / append_many / verify / ledger_head
* :mod:`optin.storage.keys` - per-member keys for personal fields (crypto-shredding)
* :mod:`optin.storage.members` - member histories for eligibility
* :mod:`optin.storage.projection` - bulk point-in-time member states (hot path)
* :mod:`optin.storage.repos` - the queries of the services, one module per area
* :mod:`optin.storage.sqlite_read` - read-only stdlib ``sqlite3`` queries of one member's
  history and the policies (the short CLI reads; :mod:`optin.storage.light` holds what
  they share with the ORM path)
* ``optin/storage/migrations`` - Alembic environment and versions (run by
  ``Database.init``)
"""
