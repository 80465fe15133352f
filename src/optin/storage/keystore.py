"""Member data keys, kept apart from the database they protect (envelope encryption).

Each member's 256-bit data key (which seals the personal fields of their ledger events,
:mod:`optin.storage.keys`) lives in a key store, never in the database, so a copy of the
database alone decrypts nothing. The default :class:`FileKeyStore` keeps one file per
member under ``$OPTIN_HOME/keys/members/`` (mode 0600, directories 0700), holding the
data key AES-GCM-wrapped by a **master key**: ``OPTIN_MASTER_KEY`` (base64 of 32
bytes) or else ``$OPTIN_HOME/keys/master.key`` (created on first use, 0600).
:meth:`FileKeyStore.rewrap` (``optin keys rotate-master``) re-wraps every member key
under a new master key; ledger events are not touched.

Plugging in a KMS: implement :class:`KeyStore` (``get`` / ``create`` / ``destroy`` /
``rewrap``) and hand it to the database handle; the ledger only ever calls these four.

**Cache.** :class:`FileKeyStore` keeps the unwrapped keys it read in a bounded LRU
(``cache_size`` members, default 65,536), so a hot path (the transparency log sealing a
salt for each new event, an append sealing personal fields) does not read, parse and
unwrap a file per member per transaction. A cached key is served only while its file is
provably the one it was read from: every ``get`` stats the file and compares
inode, size, modification and change time with the cached entry. :meth:`destroy` (in
any process) replaces the file by a tombstone through a rename (a new inode, a smaller
file), so a destroyed key is never served from a cache, not even from another
process's; in this process :meth:`destroy` also evicts the entry at once, and
:meth:`rewrap` clears the cache.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from optin.errors import ConfigError
from optin.files import atomic_write_bytes, create_secret_file, private_dir

#: ``Session.info`` key under which a session carries its key store.
SESSION_KEY = "optin.keystore"
MASTER_FILE = "master.key"
_NEXT_FILE = "master.key.next"  # present only while a rotation is under way
_NONCE = 12


@runtime_checkable
class KeyStore(Protocol):
    """Where member data keys live. Implementations must be safe under concurrent use
    by several processes: :meth:`create` is get-or-create (one key wins a race)."""

    def get(self, member_ids: Iterable[str]) -> dict[str, bytes | None]:
        """The keys of those of ``member_ids`` that have an entry: the key, or None once
        destroyed. Members never seen are absent from the result."""
        ...

    def create(self, member_id: str, now: datetime, key: bytes | None = None) -> bytes | None:
        """Get-or-create the member's key (``key``, or a new random one); returns the
        stored key, which may be a concurrent creator's, or None if it was destroyed."""
        ...

    def destroy(self, member_id: str, now: datetime) -> bool:
        """Crypto-shred the member's key and remember that it is gone (no key is ever
        created for them again). False when there was no key to destroy."""
        ...

    def rewrap(self, new_master: bytes) -> int:
        """Re-wrap every member key under ``new_master``; returns how many."""
        ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_master_key(value: str, source: str) -> bytes:
    """A master key from base64 text (32 bytes); ConfigError naming ``source`` otherwise."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(
            f"{source} is not a valid master key; allowed: base64 of 32 random bytes "
            "(e.g. `openssl rand -base64 32`)"
        )
    return key


def new_master_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def key_id(master: bytes) -> str:
    """A short public fingerprint of a master key (which key wrapped a file)."""
    return hashlib.sha256(b"optin-master-key-id:" + master).hexdigest()[:16]


def _aad(member_id: str) -> bytes:
    return b"optin-member-key:" + member_id.encode("utf-8")


@dataclass
class FileKeyStore:
    """Member keys as files in ``directory``, wrapped by a master key.

    ``master_key`` (base64) comes from ``OPTIN_MASTER_KEY``; without it the key is read
    from (or created in) ``directory / master.key``. Nothing is created or read until a
    key is first needed.
    """

    directory: Path
    master_key: str | None = None
    cache_size: int = 65536
    _cache: dict[str, bytes] | None = field(default=None, init=False, repr=False)
    #: member id -> (file signature, unwrapped key or None once destroyed); LRU order
    _keys: OrderedDict[str, tuple[tuple[int, ...], bytes | None]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _members_dir: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        self._members_dir = os.path.join(os.fspath(self.directory), "members")

    # -- master keys -------------------------------------------------------------------

    def _masters(self, *, reload: bool = False) -> dict[str, bytes]:
        """Usable master keys by id (cached; reloaded when a file names another)."""
        if self._cache is None or reload:
            self._cache = self._load_masters()
        return self._cache

    def _load_masters(self) -> dict[str, bytes]:
        """The current master key (and the next one while a rotation is under way, so
        an interrupted rotation never strands a key)."""
        out: dict[str, bytes] = {}
        if self.master_key:
            cur = parse_master_key(self.master_key, "OPTIN_MASTER_KEY")
        else:
            path = self.directory / MASTER_FILE
            if not path.exists():
                create_secret_file(path, (_b64(new_master_key()) + "\n").encode("ascii"))
            cur = parse_master_key(path.read_text("ascii"), str(path))
        out[key_id(cur)] = cur
        nxt = self.directory / _NEXT_FILE
        if nxt.exists():
            k = parse_master_key(nxt.read_text("ascii"), str(nxt))
            out[key_id(k)] = k
        return out

    def _current(self) -> tuple[str, bytes]:
        """The master key that wraps new keys (re-read: never a rotated-away one)."""
        masters = self._masters(reload=True)
        kid, key = next(iter(masters.items()))
        return kid, key

    # -- member files ------------------------------------------------------------------

    def _path(self, member_id: str) -> Path:
        return Path(self._file(member_id))

    def _file(self, member_id: str) -> str:
        name = hashlib.sha256(member_id.encode("utf-8")).hexdigest()
        return os.path.join(self._members_dir, name[:2], name + ".json")

    def _read(self, path: Path | str) -> dict[str, Any] | None:
        return self._read_signed(path)[0]

    def _read_signed(
        self, path: Path | str
    ) -> tuple[dict[str, Any] | None, tuple[int, ...] | None]:
        """The entry of a key file and the signature of the file it was read from (the
        signature of the open file itself, so it names what was read)."""
        try:
            with open(path, "rb") as f:
                sig = _signature(os.fstat(f.fileno()))
                raw = f.read()
        except FileNotFoundError:
            return None, None
        try:
            data = json.loads(raw)
        except ValueError:
            raise ConfigError(f"key file {path} is damaged (not JSON)") from None
        return (data if isinstance(data, dict) else None), sig

    def _cached(self, member_id: str, path: str) -> tuple[bool, bytes | None]:
        """``(hit, key)``: the cached key while the file is still the one it came from."""
        with self._lock:
            got = self._keys.get(member_id)
        if got is None:
            return False, None
        try:
            sig = _signature(os.stat(path))
        except FileNotFoundError:
            sig = None
        with self._lock:
            if sig != got[0]:
                self._keys.pop(member_id, None)
                return False, None
            self._keys.move_to_end(member_id)
        return True, got[1]

    def _remember(self, member_id: str, sig: tuple[int, ...], key: bytes | None) -> None:
        if self.cache_size <= 0:
            return
        with self._lock:
            self._keys[member_id] = (sig, key)
            self._keys.move_to_end(member_id)
            while len(self._keys) > self.cache_size:
                self._keys.popitem(last=False)

    def evict(self, member_id: str | None = None) -> None:
        """Drop one member's cached key (or all)."""
        with self._lock:
            if member_id is None:
                self._keys.clear()
            else:
                self._keys.pop(member_id, None)

    def cached_members(self) -> int:
        with self._lock:
            return len(self._keys)

    def _unwrap(self, member_id: str, entry: dict[str, Any], masters: dict[str, bytes]) -> bytes:
        master = masters.get(str(entry.get("kid")))
        if master is None:  # rotated by another process since we loaded the master keys
            master = self._masters(reload=True).get(str(entry.get("kid")))
        if master is None:
            raise ConfigError(
                f"the key of member {member_id!r} is wrapped by master key "
                f"{entry.get('kid')!r}, which is not configured (OPTIN_MASTER_KEY or "
                f"{self.directory / MASTER_FILE})"
            )
        blob = base64.b64decode(entry["wrapped"])
        try:
            return AESGCM(master).decrypt(blob[:_NONCE], blob[_NONCE:], _aad(member_id))
        except InvalidTag:
            raise ConfigError(
                f"the key of member {member_id!r} does not unwrap with the master key"
            ) from None

    def _entry(
        self, member_id: str, key: bytes | None, created: str, destroyed: str | None
    ) -> bytes:
        rec: dict[str, Any] = {"member_id": member_id, "created_at": created}
        if key is None:
            rec.update(destroyed_at=destroyed, kid=None, wrapped=None)
        else:
            kid, master = self._current()
            nonce = os.urandom(_NONCE)
            wrapped = nonce + AESGCM(master).encrypt(nonce, key, _aad(member_id))
            rec.update(destroyed_at=None, kid=kid, wrapped=_b64(wrapped))
        return (json.dumps(rec, sort_keys=True) + "\n").encode("utf-8")

    # -- the KeyStore protocol ---------------------------------------------------------

    def get(self, member_ids: Iterable[str]) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        masters: dict[str, bytes] | None = None
        for m in member_ids:
            path = self._file(m)
            hit, key = self._cached(m, path)
            if hit:
                out[m] = key
                continue
            entry, sig = self._read_signed(path)
            if entry is None or sig is None:
                continue
            if entry.get("wrapped") is None:
                key = None
            else:
                if masters is None:
                    masters = self._masters()
                key = self._unwrap(m, entry, masters)
            out[m] = key
            self._remember(m, sig, key)
        return out

    def create(self, member_id: str, now: datetime, key: bytes | None = None) -> bytes | None:
        path = self._path(member_id)
        if not path.exists():
            new = key if key is not None else AESGCM.generate_key(bit_length=256)
            private_dir(path.parent)
            create_secret_file(path, self._entry(member_id, new, now.isoformat(), None))
        return self.get([member_id])[member_id]

    def destroy(self, member_id: str, now: datetime) -> bool:
        self.evict(member_id)
        try:
            return self._destroy(member_id, now)
        finally:
            self.evict(member_id)

    def _destroy(self, member_id: str, now: datetime) -> bool:
        path = self._path(member_id)
        entry = self._read(path)
        tomb = self._entry(member_id, None, now.isoformat(), now.isoformat())
        if entry is None:
            private_dir(path.parent)
            if create_secret_file(path, tomb):
                return False
            return self._destroy(member_id, now)  # a key was created meanwhile: shred it
        if entry.get("wrapped") is None:
            return False
        tomb = self._entry(member_id, None, str(entry.get("created_at")), now.isoformat())
        atomic_write_bytes(path, tomb, mode=0o600)
        return True

    def rewrap(self, new_master: bytes) -> int:
        """Re-wrap every member key under ``new_master`` (no event is touched).

        The new key is written to ``master.key.next`` first, so a rotation that is
        interrupted can be run again; with ``OPTIN_MASTER_KEY`` the caller must then
        set the new key there (the key file is replaced only when the store owns it).
        """
        nxt = self.directory / _NEXT_FILE
        if nxt.exists():
            nxt.unlink()
        create_secret_file(nxt, (_b64(new_master) + "\n").encode("ascii"))
        masters = self._masters(reload=True)
        new_kid = key_id(new_master)
        n = 0
        for path in sorted((self.directory / "members").glob("*/*.json")):
            entry = self._read(path)
            if entry is None or entry.get("wrapped") is None or entry.get("kid") == new_kid:
                continue
            member_id = str(entry["member_id"])
            key = self._unwrap(member_id, entry, masters)
            nonce = os.urandom(_NONCE)
            wrapped = nonce + AESGCM(new_master).encrypt(nonce, key, _aad(member_id))
            entry.update(kid=new_kid, wrapped=_b64(wrapped))
            atomic_write_bytes(
                path, (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"), mode=0o600
            )
            n += 1
        if not self.master_key:
            os.replace(nxt, self.directory / MASTER_FILE)
        else:
            self.master_key = _b64(new_master)
            nxt.unlink()
        self._cache = None
        self.evict()
        return n


def _signature(st: os.stat_result) -> tuple[int, ...]:
    """What identifies one version of a key file: a destroy or rewrap writes a new file
    and renames it over the old one (new inode, new times; a tombstone is also shorter)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class NoKeyStore:
    """A database handle without a data directory: using member keys is a clear error."""

    def _fail(self) -> ConfigError:
        return ConfigError(
            "member keys need a data directory for the key store; set OPTIN_HOME or "
            "pass --home (keys live in $OPTIN_HOME/keys, apart from the database)"
        )

    def get(self, member_ids: Iterable[str]) -> dict[str, bytes | None]:
        raise self._fail()

    def create(self, member_id: str, now: datetime, key: bytes | None = None) -> bytes | None:
        raise self._fail()

    def destroy(self, member_id: str, now: datetime) -> bool:
        raise self._fail()

    def rewrap(self, new_master: bytes) -> int:
        raise self._fail()


def open_keystore(url: str, home: Path | None, master_key: str | None = None) -> KeyStore:
    """The default key store for a database: ``home/keys``, or next to a SQLite file
    when no home is given (``<dir of optin.db>/keys``)."""
    if home is not None:
        return FileKeyStore(Path(home) / "keys", master_key)
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return FileKeyStore(Path(u.database).resolve().parent / "keys", master_key)
    return NoKeyStore()


def keystore_of(session: Session) -> KeyStore:
    """The key store a session carries (set by the database handle)."""
    ks = session.info.get(SESSION_KEY)
    if ks is None:
        raise ConfigError("this database session has no key store (open it through Database)")
    return ks  # type: ignore[no-any-return]
