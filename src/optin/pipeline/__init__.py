"""Snapshot pipeline: what runs (steps, per-shard stages) apart from where it runs (executors).

::

    plan (services, DB) ──► input shards (Arrow IPC, work dir)
        stage 1, per shard: consent-gated rows ─► language ─► redact ─► quality ─► signatures
        global: exact + near-duplicate clusters over all shards (deterministic)
        stage 2, per shard: drop duplicates ─► zstd Parquet + provenance side file

Every step is a function of (Arrow batch, config) with no open connection, so the same
per-shard routine (:mod:`optin.pipeline.shard`) runs in-process, in a process pool or on
Dask workers (:mod:`optin.pipeline.executors`). Each finished stage of a shard leaves a
completion marker (``_work/_done/``) so a killed build resumes.
"""
