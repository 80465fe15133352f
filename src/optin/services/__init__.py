"""Use cases joining domain and storage. Each takes a :class:`~optin.services.database.Database`.

* ``database``: ``Database.open(settings)`` / ``Database(url)``, ``.session()``, ``.init()``
* ``policy``: ``publish_policy``, ``policy_set``, ``current_policy``, ``get_policy``
* ``consent``: ``record_consent``, ``consent_history``, ``consent_state``, ``get_event``
* ``eligibility``: ``decide_member``, ``decide_all`` (bulk, streamed), ``member_histories``
* ``receipts``: ``receipt`` (ISO/IEC TS 27560 / DPV consent record of one event)
* ``directory``: ``platform_directory`` (members' names/handles/URLs for PII detection)
"""
