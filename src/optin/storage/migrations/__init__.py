"""Alembic migrations of optin's schema, shipped inside the package."""
