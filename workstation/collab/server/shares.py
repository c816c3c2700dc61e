"""Shared cases: a study (its annotations, and files) made visible to a user or a site.

Within a site a share only points a colleague at a study they may already open. Across sites
the recipient sees a **de-identified copy**: a study of its own whose UIDs were remapped by
the sharing workstation (:mod:`workstation.collab.deid`), holding copies of the annotations
(remapped the same way) and the uploaded files. The server refuses files of such a share that
do not carry Patient Identity Removed = YES, carry private attributes, or belong to another
study, and never tells the recipient the original study's UID.
"""

from __future__ import annotations

import json
import time
import uuid as uuid_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workstation.collab import merge
from workstation.collab.server import schema
from workstation.collab.server.auth import Principal
from workstation.collab.server.feed import SequenceLock, Studies, Touched, dumps, upsert_heads
from workstation.core.annotations import Annotation
from workstation.core.errors import WorkstationError


class ShareError(WorkstationError):
    """A share request cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ShareCreated:
    share: dict[str, Any]
    touched: Touched
    grantee_users: list[int] = field(default_factory=list)
    grantee_sites: list[int] = field(default_factory=list)


def _grantee(
    connection: Connection, to_user: str | None, to_site: str | None
) -> tuple[int | None, int | None, int]:
    """(grantee user id, grantee site id, the grantee's site id)."""
    if bool(to_user) == bool(to_site):
        raise ShareError(422, "share with exactly one user (to_user) or one site (to_site)")
    if to_user:
        row = connection.execute(
            sa.select(schema.users.c.id, schema.users.c.site_id).where(
                schema.users.c.username == to_user, schema.users.c.active.is_(True)
            )
        ).first()
        if row is None:
            raise ShareError(404, f"no user named {to_user!r}")
        return int(row.id), None, int(row.site_id)
    row = connection.execute(
        sa.select(schema.sites.c.id).where(schema.sites.c.name == to_site)
    ).first()
    if row is None:
        raise ShareError(404, f"no site named {to_site!r}")
    return None, int(row.id), int(row.id)


def create_share(
    connection: Connection,
    principal: Principal,
    *,
    study_uid: str,
    copy_study_uid: str | None,
    to_user: str | None,
    to_site: str | None,
    note: str,
    annotations: Sequence[Mapping[str, Any]],
) -> ShareCreated:
    """Record a share (inside a write transaction); the share as the sender sees it."""
    lock = SequenceLock(connection)
    studies = Studies(connection, principal)
    original = studies.find(study_uid)
    if original is not None and studies.site_of(original) != principal.site_id:
        raise ShareError(403, "only the site that owns a study can share it")
    if original is None:
        original = studies.find_or_create(study_uid)
    grantee_user, grantee_site, grantee_site_of = _grantee(connection, to_user, to_site)
    if grantee_site == principal.site_id:
        raise ShareError(422, "your own site sees its studies already")
    if grantee_user == principal.user_id:
        raise ShareError(422, "you see your site's studies already")
    cross_site = grantee_site_of != principal.site_id
    touched = Touched()
    now = time.time()
    if cross_site:
        if not copy_study_uid or copy_study_uid == study_uid or len(copy_study_uid) > 64:
            raise ShareError(
                422, "a share with another site needs a de-identified copy: copy_study_uid"
            )
        shared_study = _copy_study(connection, principal, original, copy_study_uid, now)
        _store_copies(
            connection,
            principal,
            lock=lock,
            study_id=shared_study,
            study_uid=copy_study_uid,
            documents=annotations,
            touched=touched,
        )
    else:
        if annotations:
            raise ShareError(422, "a share within the site carries no annotation copies")
        shared_study = original
    share_id = str(uuid_module.uuid4())
    connection.execute(
        sa.insert(schema.shares).values(
            id=share_id,
            study_id=shared_study,
            source_study_id=original,
            from_user_id=principal.user_id,
            from_site_id=principal.site_id,
            grantee_user_id=grantee_user,
            grantee_site_id=grantee_site,
            deidentified=cross_site,
            status="uploading",
            note=note,
            total_bytes=0,
            created_at=now,
        )
    )
    lock.save()
    share = share_json(connection, share_id, principal)
    assert share is not None
    return ShareCreated(
        share,
        touched,
        [grantee_user] if grantee_user is not None else [],
        [grantee_site] if grantee_site is not None else [],
    )


def _copy_study(
    connection: Connection, principal: Principal, original: int, copy_uid: str, now: float
) -> int:
    studies = schema.studies
    row = connection.execute(
        sa.select(studies.c.id, studies.c.source_study_id).where(
            studies.c.site_id == principal.site_id, studies.c.study_uid == copy_uid
        )
    ).first()
    if row is not None:
        if row.source_study_id != original:
            raise ShareError(409, "that copy UID belongs to another study")
        return int(row.id)
    result = connection.execute(
        sa.insert(studies).values(
            site_id=principal.site_id,
            study_uid=copy_uid,
            deidentified=True,
            source_study_id=original,
            created_at=now,
        )
    )
    (study_id,) = result.inserted_primary_key or (0,)
    return int(study_id)


def _store_copies(
    connection: Connection,
    principal: Principal,
    *,
    lock: SequenceLock,
    study_id: int,
    study_uid: str,
    documents: Sequence[Mapping[str, Any]],
    touched: Touched,
) -> None:
    """Store the de-identified annotation copies as server-made versions of the copy study."""
    changes: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    now = time.time()
    for raw in documents:
        try:
            annotation = Annotation.from_json(dict(raw))
        except ValueError as exc:
            raise ShareError(422, f"an annotation copy is malformed: {exc}") from exc
        if annotation.reference.study_instance_uid != study_uid:
            raise ShareError(422, "every annotation copy must refer to the copy study")
        document = annotation.to_json()
        head = connection.execute(
            sa.select(
                schema.annotation_heads.c.study_id,
                schema.annotation_heads.c.version,
                schema.annotation_heads.c.document,
            ).where(schema.annotation_heads.c.uuid == annotation.uuid)
        ).first()
        if head is not None:
            if head.study_id != study_id:
                raise ShareError(409, "an annotation copy id is taken by another study")
            if merge.same_content(document, json.loads(head.document)):
                continue
            document["version"] = int(head.version) + 1
        sequence = lock.next()
        revision = str(uuid_module.uuid4())
        text = dumps(document)
        changes.append(
            {
                "sequence": sequence,
                "kind": "annotation",
                "study_id": study_id,
                "site_id": principal.site_id,
                "uuid": annotation.uuid,
                "revision": revision,
                "op_id": None,
                "client_id": None,
                "user_id": principal.user_id,
                "document": text,
                "created_at": now,
            }
        )
        heads.append(
            {
                "uuid": annotation.uuid,
                "study_id": study_id,
                "version": int(document["version"]),
                "revision": revision,
                "deleted": annotation.deleted,
                "document": text,
                "sequence": sequence,
            }
        )
        touched.add(sequence, study_id, principal.site_id)
    if changes:
        connection.execute(sa.insert(schema.changes), changes)
        upsert_heads(connection, heads)


def _share_row(connection: Connection, share_id: str) -> Any:
    try:
        share_id = str(uuid_module.UUID(share_id))
    except ValueError:
        return None
    return connection.execute(
        sa.select(schema.shares).where(schema.shares.c.id == share_id)
    ).first()


def access(row: Any, principal: Principal) -> str | None:
    """``sender`` (the sharing site), ``recipient``, or None (may not see the share)."""
    if row is None:
        return None
    if row.from_user_id == principal.user_id:
        return "sender"
    granted = row.grantee_user_id == principal.user_id or row.grantee_site_id == principal.site_id
    if granted and row.status != "revoked":
        return "recipient"
    if row.from_site_id == principal.site_id:
        return "sender"  # a colleague of the sharer (an admin revoking, say)
    return None


def share_json(
    connection: Connection, share_id: str, principal: Principal
) -> dict[str, Any] | None:
    row = _share_row(connection, share_id)
    role = access(row, principal)
    if role is None:
        return None
    return _describe(connection, row, role)


def _names(
    connection: Connection, table: sa.Table, column: sa.Column[Any], ids: set[int]
) -> dict[int, str]:
    if not ids:
        return {}
    rows = connection.execute(sa.select(table.c.id, column).where(table.c.id.in_(ids)))
    return {int(row[0]): str(row[1]) for row in rows}


def _describe(connection: Connection, row: Any, role: str) -> dict[str, Any]:
    studies = _names(
        connection, schema.studies, schema.studies.c.study_uid, {row.study_id, row.source_study_id}
    )
    users = _names(
        connection,
        schema.users,
        schema.users.c.username,
        {u for u in (row.from_user_id, row.grantee_user_id) if u is not None},
    )
    sites = _names(
        connection,
        schema.sites,
        schema.sites.c.name,
        {s for s in (row.from_site_id, row.grantee_site_id) if s is not None},
    )
    files = connection.execute(
        sa.select(
            schema.share_files.c.id,
            schema.share_files.c.name,
            schema.share_files.c.size,
            schema.share_files.c.sha256,
        )
        .where(schema.share_files.c.share_id == row.id)
        .order_by(schema.share_files.c.name)
    ).all()
    described = {
        "id": row.id,
        "study_uid": studies.get(row.study_id, ""),
        "from_user": users.get(row.from_user_id, ""),
        "from_site": sites.get(row.from_site_id, ""),
        "to_user": users.get(row.grantee_user_id) if row.grantee_user_id else None,
        "to_site": sites.get(row.grantee_site_id) if row.grantee_site_id else None,
        "deidentified": bool(row.deidentified),
        "status": row.status,
        "note": row.note,
        "created_at": row.created_at,
        "total_bytes": int(row.total_bytes),
        "role": role,
        "files": [
            {"id": f.id, "name": f.name, "size": int(f.size), "sha256": f.sha256} for f in files
        ],
    }
    if role == "sender":
        # The original UID stays with the site that owns it.
        described["source_study_uid"] = studies.get(row.source_study_id, "")
    return described


def list_shares(
    connection: Connection, principal: Principal, direction: str
) -> list[dict[str, Any]]:
    shares = schema.shares
    received = sa.and_(
        shares.c.status != "revoked",
        sa.or_(
            shares.c.grantee_user_id == principal.user_id,
            shares.c.grantee_site_id == principal.site_id,
        ),
    )
    sent = shares.c.from_site_id == principal.site_id
    condition = {"received": received, "sent": sent}.get(direction, sa.or_(received, sent))
    rows = connection.execute(
        sa.select(shares).where(condition).order_by(shares.c.created_at.desc())
    ).all()
    return [_describe(connection, row, access(row, principal) or "recipient") for row in rows]


def sender_share(connection: Connection, share_id: str, principal: Principal) -> Any:
    """The share row if ``principal`` made it (and may still upload); ``ShareError`` else."""
    row = _share_row(connection, share_id)
    role = access(row, principal)
    if role is None:
        raise ShareError(404, "no such share")
    if role != "sender" or row.from_user_id != principal.user_id:
        raise ShareError(403, "only the user who shared the case may change it")
    return row


def add_file(
    connection: Connection,
    share_id: str,
    *,
    file_id: str,
    name: str,
    size: int,
    sha256: str,
    max_share_bytes: int,
) -> dict[str, Any]:
    row = connection.execute(
        sa.select(schema.shares.c.total_bytes, schema.shares.c.status)
        .where(schema.shares.c.id == share_id)
        .with_for_update()
    ).first()
    if row is None or row.status != "uploading":
        raise ShareError(409, "the share takes no more files")
    if int(row.total_bytes) + size > max_share_bytes:
        raise ShareError(413, f"the share would exceed {max_share_bytes} bytes")
    taken = connection.execute(
        sa.select(schema.share_files.c.id).where(
            schema.share_files.c.share_id == share_id, schema.share_files.c.name == name
        )
    ).first()
    if taken is not None:
        raise ShareError(409, f"the share has a file named {name!r} already")
    connection.execute(
        sa.insert(schema.share_files).values(
            id=file_id,
            share_id=share_id,
            name=name,
            size=size,
            sha256=sha256,
            created_at=time.time(),
        )
    )
    connection.execute(
        sa.update(schema.shares)
        .where(schema.shares.c.id == share_id)
        .values(total_bytes=schema.shares.c.total_bytes + size)
    )
    return {"id": file_id, "name": name, "size": size, "sha256": sha256}


def shared_file(
    connection: Connection, share_id: str, file_id: str, principal: Principal
) -> tuple[Any, Any]:
    """(share row, file row) the principal may download; ``ShareError`` else."""
    row = _share_row(connection, share_id)
    role = access(row, principal)
    if role is None or row.status == "revoked":
        raise ShareError(404, "no such share")
    if role == "recipient" and row.status != "ready":
        raise ShareError(409, "the share is not complete yet")
    try:
        file_id = str(uuid_module.UUID(file_id))
    except ValueError as exc:
        raise ShareError(404, "no such file") from exc
    file_row = connection.execute(
        sa.select(schema.share_files).where(
            schema.share_files.c.id == file_id, schema.share_files.c.share_id == row.id
        )
    ).first()
    if file_row is None:
        raise ShareError(404, "no such file")
    return row, file_row


def study_uid_of(connection: Connection, study_id: int) -> str:
    return str(
        connection.execute(
            sa.select(schema.studies.c.study_uid).where(schema.studies.c.id == study_id)
        ).scalar_one()
    )
