"""The REST API, ``/api/v1`` (docs/api.md); the app factory is ``app.create_api``.

Nothing is imported here, so that the CLI can read :mod:`newsletter.api.scopes` without
loading FastAPI or the database layer.
"""
