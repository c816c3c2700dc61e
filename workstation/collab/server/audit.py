"""The audit trail (IHE ATNA-style events): who did what to which object, and the outcome.

Events: ``login`` (success and failure), ``logout``, ``read_annotations`` (a study's
annotations listed or pulled), ``read_comments``, ``share``, ``share_revoke``, ``upload``,
``export`` (a shared file downloaded), ``admin_create_site``, ``admin_create_user``,
``admin_set_password``, ``admin_disable_user``, ``security_alert``. Objects are named by
ids and DICOM UIDs only: the server never holds a patient's name, and a free-text field
(labels, comments) is never written here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workstation.collab.server import schema
from workstation.collab.server.auth import Principal


def record(
    connection: Connection,
    action: str,
    *,
    principal: Principal | None = None,
    username: str = "",
    outcome: str = "success",
    object_type: str = "",
    object_id: str = "",
    detail: Mapping[str, Any] | None = None,
    remote: str = "",
) -> None:
    """Add one event (inside the caller's transaction)."""
    connection.execute(
        sa.insert(schema.audit).values(
            at=time.time(),
            user_id=principal.user_id if principal else None,
            username=(principal.username if principal else username)[:100],
            site_id=principal.site_id if principal else None,
            action=action,
            outcome=outcome,
            object_type=object_type,
            object_id=object_id[:200],
            detail=json.dumps(dict(detail or {}), sort_keys=True),
            remote=remote[:100],
        )
    )


def events(
    connection: Connection, *, site_id: int | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """The latest events, newest first (of one site's users when ``site_id`` is given)."""
    query = sa.select(schema.audit).order_by(schema.audit.c.id.desc()).limit(limit)
    if site_id is not None:
        query = query.where(schema.audit.c.site_id == site_id)
    return [
        {
            "id": row.id,
            "at": row.at,
            "user_id": row.user_id,
            "username": row.username,
            "site_id": row.site_id,
            "action": row.action,
            "outcome": row.outcome,
            "object_type": row.object_type,
            "object_id": row.object_id,
            "detail": json.loads(row.detail or "{}"),
            "remote": row.remote,
        }
        for row in connection.execute(query)
    ]
