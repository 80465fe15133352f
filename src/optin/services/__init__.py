"""Use cases joining domain and storage. Each takes a :class:`~optin.storage.database.Database`
and, where time matters, an explicit ``now`` (the clock is read by the CLI or web request).

* ``setup``: ``open_database``, ``init_database`` (schema, ledger head, default policy)
* ``ledger``: ``verify_ledger``, ``ledger_status``
* ``consent_writer``: ``ConsentWriter`` (group commit for the web app and API)
* ``statistics``: ``consent_statistics`` (summary, dashboard, demo); ``dashboard``
* ``choices``: ``parse_choice`` / ``parse_enum`` (one parser for fixed choices)
* ``policy``: ``publish_policy``, ``policy_set``, ``current_policy``, ``get_policy``,
  ``require_purpose`` (the one unknown-purpose rule)
* ``consent``: ``record_consent``, ``consent_history``, ``consent_state``, ``get_event``
* ``eligibility``: ``decide_member``, ``decide_all`` (bulk, streamed), ``member_histories``
* ``quick``: ``consent_state`` / ``decide_member`` read-only from the embedded SQLite file
  with stdlib ``sqlite3`` (CLI start-up; None: take the full path); ``consent_view`` and
  ``policy_rules``: what it shares with ``consent`` and ``policy``
* ``receipts``: ``receipt`` (ISO/IEC TS 27560 / DPV consent record of one event)
* ``directory``: ``platform_directory`` (members' names/handles/URLs for PII detection;
  erased members as keyed hashes)
* ``erasure``: ``erase_member``, ``erase_members``, ``erasure_records`` (right to erasure)
"""
