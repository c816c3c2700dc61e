"""The collaboration server: FastAPI + SQLAlchemy (SQLite or PostgreSQL), run by uvicorn.

``workstation server`` runs it; :func:`create_app` builds the ASGI app for any other host.
See :mod:`workstation.collab.server.app` for the endpoints, :mod:`.feed` for the sync rules,
:mod:`.notify` for live notifications across processes and ``docs/collaboration.md`` for
deployment.
"""

from workstation.collab.server.app import ServerConfig, create_app
from workstation.collab.server.database import Database, DatabaseError, sqlite_url

__all__ = ["Database", "DatabaseError", "ServerConfig", "create_app", "sqlite_url"]
