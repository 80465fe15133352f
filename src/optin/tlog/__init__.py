"""A transparency log over the consent ledger: pure parts (no database, no clock).

* :mod:`~optin.tlog.merkle` - RFC 6962 hashing, inclusion and consistency proofs from
  stored subtree hashes, and their verification;
* :mod:`~optin.tlog.note` - ``c2sp.org/signed-note``: Ed25519 keys, key ids, verifier
  keys, signing and opening notes;
* :mod:`~optin.tlog.checkpoint` - ``c2sp.org/tlog-checkpoint``, Ed25519 cosignatures
  (``c2sp.org/tlog-cosignature``) and proof files (``c2sp.org/tlog-proof``);
* :mod:`~optin.tlog.witness` - the witness's decision (``c2sp.org/tlog-witness``);
* :mod:`~optin.tlog.leaf` - the salted commitment a leaf holds.
"""
