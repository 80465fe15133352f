"""Key management use cases: rotating the master key of the member key store."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from optin.errors import ConfigError
from optin.storage.database import Database
from optin.storage.keystore import FileKeyStore, new_master_key, parse_master_key


@dataclass(frozen=True, slots=True)
class Rotation:
    """The result of :func:`rotate_master_key`."""

    rewrapped: int
    #: the new key when the operator keeps it in OPTIN_MASTER_KEY (must be set there);
    #: None when the store keeps it in its key file
    new_key_for_env: str | None


def rotate_master_key(db: Database, new_key: str | None = None) -> Rotation:
    """Re-wrap every member key under a new master key; ledger events are untouched.

    With a key file (the default) a new random key replaces it. With
    ``OPTIN_MASTER_KEY`` the new key is ``new_key`` (base64) or a random one, returned
    so the operator can set it.
    """
    store = db.keystore
    if not isinstance(store, FileKeyStore):
        raise ConfigError("this key store does not support master key rotation here")
    key = parse_master_key(new_key, "--new-key") if new_key else new_master_key()
    from_env = store.master_key is not None
    n = store.rewrap(key)
    return Rotation(n, base64.b64encode(key).decode("ascii") if from_env else None)


__all__ = ["Rotation", "rotate_master_key"]
