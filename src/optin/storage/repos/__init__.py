"""Repositories: the queries the services need, one module per area.

Each function takes an open :class:`~sqlalchemy.orm.Session` (the caller, a service,
owns the transaction) or an engine for streamed reads, and returns rows, plain values or
domain objects. No function here reads the clock; time is a parameter.

* ``policies``: policy version rows, identities for caching, publishing
* ``consents``: a member's events, one event, its owner, its personal fields
* ``transparency``: snapshots holding a member's records, and those records
* ``exports``: keyset pages of members, content, consent events
* ``summary``: member count, latest snapshots
* ``web_auth``: web sessions, API keys, members by handle (login, password, role)
* ``imports``: existing ids, import-shaped members, idempotent bulk writes
"""
