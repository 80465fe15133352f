"""Moved to :mod:`optin.storage.database`; this re-export goes at the merge."""

from optin.storage.database import Database

__all__ = ["Database"]
