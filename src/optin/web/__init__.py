"""optin's web app: member pages, admin pages and the JSON API. See :func:`create_app`."""

from optin.web.app import create_app

__all__ = ["create_app"]
