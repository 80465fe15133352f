"""Route groups: auth, member pages, admin pages, JSON API."""
