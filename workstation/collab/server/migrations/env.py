"""Alembic environment: migrations run on the connection the server hands over.

The server calls :func:`workstation.collab.server.database.migrate`, which puts an open
connection in ``config.attributes["connection"]``; nothing here reads a URL or a file.
"""

from __future__ import annotations

from alembic import context

from workstation.collab.server.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run the server's migrations through workstation.collab.server.database.migrate"
    )
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
