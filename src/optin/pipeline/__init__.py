"""Snapshot pipeline: what runs (steps, per-shard stages) apart from where it runs (executors).

::

    plan (services, DB) ──► input shards (Arrow IPC, work dir)
        stage 1, per shard: consent-gated rows ─► language ─► redact ─► quality ─► signatures
        global: exact + near-duplicate clusters over all shards (deterministic)
        stage 2, per shard: drop duplicates ─► zstd Parquet + provenance side file

Every step is a small class (:class:`optin.pipeline.steps.Step`: a ``name`` and
``run(table)``) with no open connection, so the same per-shard routine
(:mod:`optin.pipeline.shard`) runs in-process, in a process pool or on Dask workers (the
executor registry, :mod:`optin.pipeline.executors`). Each stage of a shard returns a
typed result (:mod:`optin.pipeline.results`) whose drops are kept by step name, and
leaves it as a completion marker (``_work/_done/``) so a killed build resumes.
"""
