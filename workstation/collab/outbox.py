"""The local side of sync: the outbox, conflicts, comments and cursors, in the store's file.

The outbox holds each change the user made as an *operation* with a UUID the workstation
chose, in the order they were made, until the server acknowledges it. It is written in the
same SQLite transaction as the change itself (:meth:`AnnotationStore.save`,
:meth:`Outbox.add_comment`), so a crash never leaves a saved edit that is not queued, nor a
queued edit that was not saved.

An operation names its *base*: the revision of the version the edit was made from (the id of
the operation that made it, locally or on the server). The server applies it straight when
that is still its current version, merges field-wise when the two edits touch different
fields, and otherwise answers with its own version: a **conflict**, kept here (never
overwritten by later pulls) until the reader chooses a side or a merge (:meth:`Outbox.resolve`).
A version the server refused (another site's annotation, a revoked share) is kept the same
way, as a *rejected* conflict, rather than dropped.

Versions pulled from the server are applied with :meth:`Outbox.apply_pulled`, which never
overwrites an annotation that still has operations waiting or an open conflict: the server
answers those operations with the versions that matter.
"""

from __future__ import annotations

import json
import sqlite3
import uuid as uuid_module
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from workstation.collab import merge
from workstation.collab.protocol import MAX_COMMENT_LENGTH, OpStatus
from workstation.core.annotations import Annotation, now

if TYPE_CHECKING:
    from workstation.collab.store import AnnotationStore


def new_operation_id() -> str:
    """A fresh operation id (a random UUID: unique without asking anyone)."""
    return str(uuid_module.uuid4())


def _dumps(document: Mapping[str, Any] | Sequence[Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


class ConflictReason(StrEnum):
    #: Two readers changed the same fields of one version (or one deleted, one edited).
    CONCURRENT_EDIT = "concurrent_edit"
    #: The server refused the change (no right to change that annotation, malformed).
    REJECTED = "rejected"


@dataclass(frozen=True)
class OutboxOperation:
    """One queued change, oldest first by ``position``."""

    position: int
    op_id: str
    kind: str
    uuid: str
    base_revision: str | None
    payload: dict[str, Any]
    created: str
    attempts: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The operation as the push request carries it (:mod:`workstation.collab.protocol`)."""
        if self.kind == "comment":
            return {"op_id": self.op_id, "kind": "comment", "comment": self.payload}
        return {
            "op_id": self.op_id,
            "kind": "annotation",
            "base_revision": self.base_revision,
            "annotation": self.payload,
        }


@dataclass(frozen=True)
class Conflict:
    """An annotation whose local version the server did not take, waiting for the reader."""

    uuid: str
    reason: ConflictReason
    #: Field groups that collide (:data:`workstation.collab.merge.FIELD_GROUPS`).
    fields: tuple[str, ...]
    #: The server's reason for a rejection, or a short description.
    detail: str
    #: The local version (the latest edit made here).
    mine: Annotation
    #: The server's version (None when the server has none the user may see).
    theirs: Annotation | None
    theirs_revision: str | None
    created: str

    @property
    def study_uid(self) -> str:
        return self.mine.reference.study_instance_uid


@dataclass(frozen=True)
class Comment:
    """A comment on a study, or on one annotation of it (``annotation_uuid``)."""

    id: str
    study_uid: str
    annotation_uuid: str
    author: str
    text: str
    created: str
    #: The server's sequence number; None while the comment is only local.
    sequence: int | None = None
    #: ``pending`` (not yet on the server), ``synced`` or ``rejected``.
    status: str = "pending"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "study_uid": self.study_uid,
            "annotation_uuid": self.annotation_uuid,
            "author": self.author,
            "text": self.text,
            "created": self.created,
            "sequence": self.sequence,
            "status": self.status,
        }


@dataclass
class PushApplied:
    """What the answers to one push changed locally."""

    #: Operations the server answered for good (removed from the outbox).
    acknowledged: list[str] = field(default_factory=list)
    #: Operations to push again later (their base has not reached the server yet).
    retry: list[str] = field(default_factory=list)
    #: Versions from the server now stored locally (merges): give them to the scene.
    adopted: list[Annotation] = field(default_factory=list)
    #: UUIDs that have a new or updated conflict.
    conflicts: list[str] = field(default_factory=list)


@dataclass
class PullApplied:
    """What one page of pulled changes changed locally."""

    adopted: list[Annotation] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


# --- helpers used inside the store's write transaction ----------------------------------------


def enqueue(
    connection: sqlite3.Connection,
    *,
    op_id: str,
    kind: str,
    uuid: str,
    base_revision: str | None,
    payload: Mapping[str, Any],
) -> None:
    """Queue one operation (inside the caller's transaction)."""
    connection.execute(
        "INSERT INTO outbox (op_id, kind, uuid, base_revision, payload, created) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (op_id, kind, uuid, base_revision, _dumps(payload), now()),
    )


def record_local_race(
    connection: sqlite3.Connection, annotation: Annotation, stored_json: str, stored_revision: str
) -> None:
    """Keep a local edit that lost a race against a version pulled from the server."""
    theirs = json.loads(stored_json)
    mine = annotation.to_json()
    if merge.same_content(mine, theirs):
        return  # the scene echoing a version it was given
    existing = connection.execute(
        "SELECT mine FROM conflicts WHERE uuid = ?", (annotation.uuid,)
    ).fetchone()
    if existing is not None:
        connection.execute(
            "UPDATE conflicts SET mine = ? WHERE uuid = ?", (_dumps(mine), annotation.uuid)
        )
        return
    _put_conflict(
        connection,
        uuid=annotation.uuid,
        reason=ConflictReason.CONCURRENT_EDIT,
        fields=sorted(merge.changed_groups(theirs, mine)),
        detail="edited here while another reader's change arrived",
        mine=mine,
        theirs=theirs,
        theirs_revision=stored_revision or None,
    )


def follow_conflict(connection: sqlite3.Connection, annotation: Annotation) -> None:
    """A new local version of an annotation in conflict becomes the conflict's "mine"."""
    connection.execute(
        "UPDATE conflicts SET mine = ? WHERE uuid = ?",
        (_dumps(annotation.to_json()), annotation.uuid),
    )


def _put_conflict(
    connection: sqlite3.Connection,
    *,
    uuid: str,
    reason: ConflictReason,
    fields: Sequence[str],
    detail: str,
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any] | None,
    theirs_revision: str | None,
) -> None:
    connection.execute(
        "INSERT INTO conflicts (uuid, reason, fields, detail, mine, theirs, theirs_revision, "
        "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET "
        "reason = excluded.reason, fields = excluded.fields, detail = excluded.detail, "
        "mine = excluded.mine, theirs = excluded.theirs, "
        "theirs_revision = excluded.theirs_revision",
        (
            uuid,
            reason.value,
            _dumps(list(fields)),
            detail,
            _dumps(mine),
            _dumps(theirs) if theirs is not None else None,
            theirs_revision,
            now(),
        ),
    )


def _local(connection: sqlite3.Connection, uuid: str) -> tuple[int, str, str, str] | None:
    """(version, revision, origin, json) of the stored version of ``uuid``."""
    row = connection.execute(
        "SELECT a.version, r.revision, r.origin, a.json FROM annotations AS a "
        "LEFT JOIN revisions AS r ON r.uuid = a.uuid WHERE a.uuid = ?",
        (uuid,),
    ).fetchone()
    if row is None:
        return None
    return int(row[0]), str(row[1] or ""), str(row[2] or "local"), str(row[3])


def _has_pending(connection: sqlite3.Connection, uuid: str) -> bool:
    return (
        connection.execute("SELECT 1 FROM outbox WHERE uuid = ? LIMIT 1", (uuid,)).fetchone()
        is not None
    )


def _adopt(
    connection: sqlite3.Connection, document: Mapping[str, Any], revision: str
) -> Annotation | None:
    """Store a server version unless the local one is newer; the version if stored."""
    from workstation.collab.store import write_version

    annotation = Annotation.from_json(dict(document))
    local = _local(connection, annotation.uuid)
    if local is not None:
        version, local_revision, _origin, _text = local
        if version > annotation.version:
            return None
        if local_revision == revision and version == annotation.version:
            return None  # this very version
    write_version(connection, annotation, revision=revision, origin="remote")
    return annotation


class Outbox:
    """Sync state kept in an :class:`AnnotationStore`'s file (``store.outbox``).

    Safe to use from several threads, like the store: each thread has its own connection.
    """

    def __init__(self, store: AnnotationStore) -> None:
        self._store = store

    # --- operations ---------------------------------------------------------------------------

    def pending(self, limit: int | None = None) -> list[OutboxOperation]:
        """Queued operations, oldest first."""
        rows = self._store._query(
            "SELECT position, op_id, kind, uuid, base_revision, payload, created, attempts "
            "FROM outbox ORDER BY position LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [
            OutboxOperation(
                position=int(row[0]),
                op_id=str(row[1]),
                kind=str(row[2]),
                uuid=str(row[3]),
                base_revision=row[4],
                payload=json.loads(row[5]),
                created=str(row[6]),
                attempts=int(row[7]),
            )
            for row in rows
        ]

    def count(self) -> int:
        """How many operations wait for the server."""
        return int(self._store._query("SELECT count(*) FROM outbox")[0][0])

    def mark_attempt(self, op_ids: Iterable[str], error: str) -> None:
        """Count a failed attempt to push ``op_ids`` (the reason is kept for display)."""
        with self._store._transaction() as connection:
            connection.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE op_id = ?",
                [(error[:500], op_id) for op_id in op_ids],
            )

    # --- state --------------------------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        rows = self._store._query("SELECT value FROM sync_state WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_state(self, key: str, value: str) -> None:
        with self._store._transaction() as connection:
            connection.execute(
                "INSERT INTO sync_state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def client_id(self) -> str:
        """This store's client id, made once: the server tells its own changes by it."""
        with self._store._transaction() as connection:
            row = connection.execute(
                "SELECT value FROM sync_state WHERE key = 'client_id'"
            ).fetchone()
            if row is not None:
                return str(row[0])
            value = str(uuid_module.uuid4())
            connection.execute(
                "INSERT INTO sync_state (key, value) VALUES ('client_id', ?)", (value,)
            )
            return value

    # --- comments -----------------------------------------------------------------------------

    def add_comment(
        self, study_uid: str, text: str, *, author: str, annotation_uuid: str = ""
    ) -> Comment:
        """Write a comment and queue it, in one transaction; the comment.

        Raises ``ValueError`` for an empty or too long text or a missing study.
        """
        text = text.strip()
        if not text:
            raise ValueError("a comment needs some text")
        if len(text) > MAX_COMMENT_LENGTH:
            raise ValueError(f"a comment holds at most {MAX_COMMENT_LENGTH} characters")
        if not study_uid:
            raise ValueError("a comment belongs to a study: its Study Instance UID is missing")
        comment = Comment(
            id=str(uuid_module.uuid4()),
            study_uid=study_uid,
            annotation_uuid=annotation_uuid,
            author=author,
            text=text,
            created=now(),
        )
        with self._store._transaction() as connection:
            connection.execute(
                "INSERT INTO comments (id, study_uid, annotation_uuid, author, text, created, "
                "sequence, status) VALUES (?, ?, ?, ?, ?, ?, NULL, 'pending')",
                (comment.id, study_uid, annotation_uuid, author, text, comment.created),
            )
            enqueue(
                connection,
                op_id=new_operation_id(),
                kind="comment",
                uuid=comment.id,
                base_revision=None,
                payload={
                    "id": comment.id,
                    "study_uid": study_uid,
                    "annotation_uuid": annotation_uuid,
                    "text": text,
                    "created": comment.created,
                },
            )
        self._store._notify_saved()
        return comment

    def comments(self, study_uid: str, annotation_uuid: str | None = None) -> list[Comment]:
        """Comments of a study (or of one of its annotations): server order, then local."""
        sql = (
            "SELECT id, study_uid, annotation_uuid, author, text, created, sequence, status "
            "FROM comments WHERE study_uid = ?"
        )
        parameters: list[Any] = [study_uid]
        if annotation_uuid is not None:
            sql += " AND annotation_uuid = ?"
            parameters.append(annotation_uuid)
        sql += " ORDER BY sequence IS NULL, sequence, created"
        return [
            Comment(
                id=str(row[0]),
                study_uid=str(row[1]),
                annotation_uuid=str(row[2]),
                author=str(row[3]),
                text=str(row[4]),
                created=str(row[5]),
                sequence=None if row[6] is None else int(row[6]),
                status=str(row[7]),
            )
            for row in self._store._query(sql, parameters)
        ]

    # --- conflicts ----------------------------------------------------------------------------

    def conflicts(self) -> list[Conflict]:
        """Open conflicts, oldest first."""
        rows = self._store._query(
            "SELECT uuid, reason, fields, detail, mine, theirs, theirs_revision, created "
            "FROM conflicts ORDER BY created, uuid"
        )
        return [_conflict(row) for row in rows]

    def conflict(self, uuid: str) -> Conflict | None:
        rows = self._store._query(
            "SELECT uuid, reason, fields, detail, mine, theirs, theirs_revision, created "
            "FROM conflicts WHERE uuid = ?",
            (uuid,),
        )
        return _conflict(rows[0]) if rows else None

    def conflict_count(self) -> int:
        return int(self._store._query("SELECT count(*) FROM conflicts")[0][0])

    def resolve(self, uuid: str, content: Annotation | None) -> Annotation:
        """Close the conflict of ``uuid`` with ``content`` (None: take the server's version).

        The result is a new version, newer than both sides, made from the server's version and
        queued for it (so every replica converges on it), or the server's version itself when
        that is already newer than anything here. Operations still queued for the annotation
        are dropped: the resolution replaces them. Returns the version now stored (give it to
        the scene with ``load_annotations``). Raises ``KeyError`` when there is no conflict.
        """
        from workstation.collab.store import write_version

        with self._store._transaction() as connection:
            row = connection.execute(
                "SELECT uuid, reason, fields, detail, mine, theirs, theirs_revision, created "
                "FROM conflicts WHERE uuid = ?",
                (uuid,),
            ).fetchone()
            if row is None:
                raise KeyError(f"no conflict for annotation {uuid}")
            conflict = _conflict(row)
            local = _local(connection, uuid)
            local_version = local[0] if local is not None else conflict.mine.version
            theirs = conflict.theirs
            connection.execute("DELETE FROM conflicts WHERE uuid = ?", (uuid,))
            connection.execute("DELETE FROM outbox WHERE uuid = ?", (uuid,))
            if content is None:
                if theirs is None:
                    # Nothing on the server the user may see: keep the local version as it is.
                    return conflict.mine
                if theirs.version > local_version:
                    write_version(
                        connection,
                        theirs,
                        revision=conflict.theirs_revision or "",
                        origin="remote",
                    )
                    resolved: Annotation = theirs
                    return resolved
                content = theirs
            version = max(local_version, theirs.version if theirs else 0) + 1
            resolved = replace(
                content,
                uuid=uuid,
                version=version,
                updated=now(),
                created=(theirs or conflict.mine).created,
            )
            op_id = new_operation_id()
            write_version(connection, resolved, revision=op_id, origin="local")
            enqueue(
                connection,
                op_id=op_id,
                kind="annotation",
                uuid=uuid,
                base_revision=conflict.theirs_revision,
                payload=resolved.to_json(),
            )
        self._store._notify_saved()
        return resolved

    # --- applying the server's answers --------------------------------------------------------

    def apply_results(
        self, operations: Sequence[OutboxOperation], results: Sequence[Mapping[str, Any]]
    ) -> PushApplied:
        """Apply the server's answers to pushed ``operations``, in one transaction."""
        by_id = {str(result.get("op_id")): result for result in results}
        applied = PushApplied()
        with self._store._transaction() as connection:
            for operation in operations:
                result = by_id.get(operation.op_id)
                if result is None:
                    continue
                still_queued = connection.execute(
                    "SELECT 1 FROM outbox WHERE op_id = ?", (operation.op_id,)
                ).fetchone()
                if still_queued is None:
                    continue  # a conflict resolution replaced it meanwhile
                status = OpStatus(str(result.get("status")))
                if status is OpStatus.MISSING_BASE:
                    connection.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE op_id = ?",
                        ("the server has not got the version it was made from", operation.op_id),
                    )
                    applied.retry.append(operation.op_id)
                    continue
                connection.execute("DELETE FROM outbox WHERE op_id = ?", (operation.op_id,))
                applied.acknowledged.append(operation.op_id)
                if operation.kind == "comment":
                    _comment_result(connection, operation, status, result)
                    continue
                self._annotation_result(connection, operation, status, result, applied)
        return applied

    def _annotation_result(
        self,
        connection: sqlite3.Connection,
        operation: OutboxOperation,
        status: OpStatus,
        result: Mapping[str, Any],
        applied: PushApplied,
    ) -> None:
        server_version = result.get("annotation")
        revision = str(result.get("revision") or "")
        more = _has_pending(connection, operation.uuid)
        if status in (OpStatus.APPLIED, OpStatus.MERGED):
            if server_version is not None and not more and not _in_conflict(connection, operation):
                adopted = _adopt(connection, server_version, revision)
                if adopted is not None:
                    applied.adopted.append(adopted)
            return
        local = _local(connection, operation.uuid)
        mine = json.loads(local[3]) if local is not None else dict(operation.payload)
        if status is OpStatus.CONFLICT:
            fields = {str(name) for name in result.get("fields") or ()} - {"unresolved"}
            previous = connection.execute(
                "SELECT fields FROM conflicts WHERE uuid = ?", (operation.uuid,)
            ).fetchone()
            if previous is not None:
                fields |= set(json.loads(previous[0]))
            if not fields and server_version is not None:
                fields = merge.changed_groups(server_version, mine)
            _put_conflict(
                connection,
                uuid=operation.uuid,
                reason=ConflictReason.CONCURRENT_EDIT,
                fields=sorted(fields),
                detail="another reader changed the same fields",
                mine=mine,
                theirs=server_version,
                theirs_revision=revision or None,
            )
        else:
            _put_conflict(
                connection,
                uuid=operation.uuid,
                reason=ConflictReason.REJECTED,
                fields=(),
                detail=str(result.get("reason") or status.value),
                mine=mine,
                theirs=server_version,
                theirs_revision=revision or None,
            )
        applied.conflicts.append(operation.uuid)

    def apply_pulled(
        self, changes: Sequence[Mapping[str, Any]], cursor_key: str, cursor: int
    ) -> PullApplied:
        """Apply one page of pulled changes and move the cursor, in one transaction."""
        pulled = PullApplied()
        adopted: dict[str, Annotation] = {}
        with self._store._transaction() as connection:
            for change in changes:
                if change.get("kind") == "comment":
                    comment = _pulled_comment(connection, change)
                    if comment is not None:
                        pulled.comments.append(comment)
                    continue
                document = change.get("annotation")
                if not isinstance(document, dict):
                    continue
                uuid = str(change.get("uuid") or document.get("uuid"))
                revision = str(change.get("revision") or "")
                if _has_pending(connection, uuid):
                    continue  # the push answer carries the server's version
                open_conflict = connection.execute(
                    "SELECT theirs FROM conflicts WHERE uuid = ?", (uuid,)
                ).fetchone()
                if open_conflict is not None:
                    theirs = json.loads(open_conflict[0]) if open_conflict[0] else None
                    if theirs is None or int(document.get("version", 0)) > int(
                        theirs.get("version", 0)
                    ):
                        connection.execute(
                            "UPDATE conflicts SET theirs = ?, theirs_revision = ? WHERE uuid = ?",
                            (_dumps(document), revision, uuid),
                        )
                        pulled.conflicts.append(uuid)
                    continue
                try:
                    annotation = _adopt(connection, document, revision)
                except ValueError:
                    continue  # malformed on the server: nothing to show
                if annotation is not None:
                    adopted[uuid] = annotation
            connection.execute(
                "INSERT INTO sync_state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (cursor_key, str(cursor)),
            )
        pulled.adopted = list(adopted.values())
        return pulled


def _in_conflict(connection: sqlite3.Connection, operation: OutboxOperation) -> bool:
    return (
        connection.execute("SELECT 1 FROM conflicts WHERE uuid = ?", (operation.uuid,)).fetchone()
        is not None
    )


def _comment_result(
    connection: sqlite3.Connection,
    operation: OutboxOperation,
    status: OpStatus,
    result: Mapping[str, Any],
) -> None:
    if status is OpStatus.APPLIED:
        connection.execute(
            "UPDATE comments SET sequence = ?, status = 'synced' WHERE id = ?",
            (result.get("sequence"), operation.uuid),
        )
    else:
        connection.execute(
            "UPDATE comments SET status = 'rejected' WHERE id = ?", (operation.uuid,)
        )


def _pulled_comment(connection: sqlite3.Connection, change: Mapping[str, Any]) -> Comment | None:
    data = change.get("comment")
    if not isinstance(data, dict):
        return None
    comment = Comment(
        id=str(data.get("id", "")),
        study_uid=str(data.get("study_uid", "")),
        annotation_uuid=str(data.get("annotation_uuid") or ""),
        author=str(data.get("author", "")),
        text=str(data.get("text", "")),
        created=str(data.get("created", "")),
        sequence=int(change.get("sequence", 0)),
        status="synced",
    )
    connection.execute(
        "INSERT INTO comments (id, study_uid, annotation_uuid, author, text, created, sequence, "
        "status) VALUES (?, ?, ?, ?, ?, ?, ?, 'synced') ON CONFLICT (id) DO UPDATE SET "
        "sequence = excluded.sequence, status = 'synced', author = excluded.author, "
        "created = excluded.created",
        (
            comment.id,
            comment.study_uid,
            comment.annotation_uuid,
            comment.author,
            comment.text,
            comment.created,
            comment.sequence,
        ),
    )
    return comment


def _conflict(row: Sequence[Any]) -> Conflict:
    return Conflict(
        uuid=str(row[0]),
        reason=ConflictReason(str(row[1])),
        fields=tuple(json.loads(row[2])),
        detail=str(row[3]),
        mine=Annotation.from_json(json.loads(row[4])),
        theirs=Annotation.from_json(json.loads(row[5])) if row[5] else None,
        theirs_revision=row[6],
        created=str(row[7]),
    )
