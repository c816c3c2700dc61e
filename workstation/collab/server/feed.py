"""The server's half of sync: accept pushed operations, serve the change feed.

A push runs in one write transaction that first locks the sequence counter's row (see
:mod:`workstation.collab.server.schema`), so pushes from any number of server processes are
applied one after another and sequence numbers become visible in increasing order: a pull
that has seen sequence *n* will never later find a change numbered below *n*.

For each operation, in the order sent:

1. An operation id seen before returns the stored answer: nothing is applied twice.
2. The annotation's study must be one the user may see (their site's, or shared with them
   or their site); a study the user's site has not met before becomes one of its studies.
3. If the base revision is the current version's, the version is stored as sent
   (``applied``). Otherwise the base is looked up (an earlier change, or an earlier
   operation that was merged) and the two edits are merged field-wise
   (:func:`workstation.collab.merge.three_way`): ``merged`` (a new version carrying both)
   or ``conflict`` (nothing stored; the current version is returned). A base that is not
   known yet (an operation delivered out of order) is ``missing_base``: not recorded, so
   the client's retry succeeds once the earlier operation has arrived.
"""

from __future__ import annotations

import json
import time
import uuid as uuid_module
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workstation.collab import merge
from workstation.collab.protocol import MAX_COMMENT_LENGTH, MAX_ID_LENGTH, OpStatus
from workstation.collab.server import schema
from workstation.collab.server.auth import Principal
from workstation.core.annotations import Annotation


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


@dataclass
class Touched:
    """What a write changed, for the live notifications sent after it commits."""

    sequence: int = 0
    #: (study id, owning site id) of every study that got a change.
    studies: set[tuple[int, int]] = field(default_factory=set)

    def add(self, sequence: int, study_id: int, site_id: int) -> None:
        self.sequence = max(self.sequence, sequence)
        self.studies.add((study_id, site_id))


@dataclass
class _Head:
    study_id: int
    version: int
    revision: str
    document: dict[str, Any]


class SequenceLock:
    """The sequence counter, locked for the rest of the transaction."""

    def __init__(self, connection: Connection) -> None:
        counters = schema.counters
        connection.execute(
            sa.update(counters)
            .where(counters.c.name == schema.SEQUENCE)
            .values(value=counters.c.value)
        )
        self._connection = connection
        self.start = int(
            connection.execute(
                sa.select(counters.c.value).where(counters.c.name == schema.SEQUENCE)
            ).scalar_one()
        )
        self.value = self.start

    def next(self) -> int:
        self.value += 1
        return self.value

    def save(self) -> None:
        if self.value != self.start:
            counters = schema.counters
            self._connection.execute(
                sa.update(counters)
                .where(counters.c.name == schema.SEQUENCE)
                .values(value=self.value)
            )


def head_sequence(connection: Connection) -> int:
    return int(
        connection.execute(
            sa.select(schema.counters.c.value).where(schema.counters.c.name == schema.SEQUENCE)
        ).scalar_one()
    )


def shared_study_ids(connection: Connection, principal: Principal) -> set[int]:
    """Ids of the studies shared with the user or their site (not revoked)."""
    return {int(row[0]) for row in connection.execute(_shared_query(principal)).all()}


def _shared_query(principal: Principal) -> sa.Select[Any]:
    shares = schema.shares
    return sa.select(shares.c.study_id).where(
        shares.c.status != "revoked",
        sa.or_(
            shares.c.grantee_user_id == principal.user_id,
            shares.c.grantee_site_id == principal.site_id,
        ),
    )


class Studies:
    """The studies a user may see, resolved and cached for one transaction."""

    def __init__(self, connection: Connection, principal: Principal) -> None:
        self._connection = connection
        self._principal = principal
        self._shared: set[int] | None = None
        self._site_of: dict[int, int] = {}
        self._uid_of: dict[int, str] = {}
        self._by_uid: dict[str, int | None] = {}

    @property
    def shared(self) -> set[int]:
        if self._shared is None:
            self._shared = shared_study_ids(self._connection, self._principal)
        return self._shared

    def site_of(self, study_id: int) -> int:
        site = self._site_of.get(study_id)
        if site is None:
            site = int(
                self._connection.execute(
                    sa.select(schema.studies.c.site_id).where(schema.studies.c.id == study_id)
                ).scalar_one()
            )
            self._site_of[study_id] = site
        return site

    def uid_of(self, study_id: int) -> str:
        uid = self._uid_of.get(study_id)
        if uid is None:
            row = self._connection.execute(
                sa.select(schema.studies.c.study_uid, schema.studies.c.site_id).where(
                    schema.studies.c.id == study_id
                )
            ).one()
            uid = str(row.study_uid)
            self._uid_of[study_id] = uid
            self._site_of[study_id] = int(row.site_id)
        return uid

    def accessible(self, study_id: int) -> bool:
        return self.site_of(study_id) == self._principal.site_id or study_id in self.shared

    def find(self, study_uid: str) -> int | None:
        """The visible study with this UID: the user's site's first, then a shared one."""
        if study_uid in self._by_uid:
            return self._by_uid[study_uid]
        studies = schema.studies
        rows = self._connection.execute(
            sa.select(studies.c.id, studies.c.site_id).where(studies.c.study_uid == study_uid)
        ).all()
        found: int | None = None
        for row in rows:
            self._site_of[row.id] = row.site_id
            if row.site_id == self._principal.site_id:
                found = row.id
                break
        if found is None:
            found = next((row.id for row in rows if row.id in self.shared), None)
        self._by_uid[study_uid] = found
        return found

    def find_or_create(self, study_uid: str) -> int:
        """The visible study with this UID, made one of the user's site's when unknown."""
        found = self.find(study_uid)
        if found is not None:
            return found
        result = self._connection.execute(
            sa.insert(schema.studies).values(
                site_id=self._principal.site_id,
                study_uid=study_uid,
                deidentified=False,
                source_study_id=None,
                created_at=time.time(),
            )
        )
        (study_id,) = result.inserted_primary_key or (0,)
        self._site_of[int(study_id)] = self._principal.site_id
        self._by_uid[study_uid] = int(study_id)
        return int(study_id)


@dataclass
class _Batch:
    """Rows to write at the end of a push, and caches of what the push changed."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    #: revision → (document, usable as a merge base)
    revisions: dict[str, tuple[dict[str, Any], bool]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


class Pusher:
    """Applies one push request (call :meth:`run` inside a write transaction)."""

    def __init__(self, connection: Connection, principal: Principal, client_id: str) -> None:
        self.connection = connection
        self.principal = principal
        self.client_id = client_id[:MAX_ID_LENGTH]
        self.studies = Studies(connection, principal)
        self.touched = Touched()
        self.now = time.time()
        self._batch = _Batch()
        self._heads: dict[str, _Head | None] = {}

    def run(self, operations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        sequence = SequenceLock(self.connection)
        self._sequence = sequence
        op_ids = [str(op.get("op_id", "")) for op in operations]
        previous = self._previous_operations(op_ids)
        self._prefetch_heads(operations)
        answers: list[dict[str, Any]] = []
        for operation, op_id in zip(operations, op_ids, strict=True):
            if op_id in self._batch.results:
                answers.append(self._batch.results[op_id])
                continue
            stored = previous.get(op_id)
            answer = self._replay(stored) if stored is not None else self._apply(operation, op_id)
            if answer["status"] != OpStatus.MISSING_BASE:
                self._batch.results[op_id] = answer
            answers.append(answer)
        self._flush()
        sequence.save()
        return answers

    # --- reading what exists ------------------------------------------------------------------

    def _previous_operations(self, op_ids: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        wanted = [op_id for op_id in set(op_ids) if op_id]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for row in self.connection.execute(
                sa.select(schema.operations).where(schema.operations.c.op_id.in_(chunk))
            ):
                found[row.op_id] = row
        return found

    def _prefetch_heads(self, operations: Sequence[Mapping[str, Any]]) -> None:
        uuids = set()
        for operation in operations:
            document = operation.get("annotation")
            if isinstance(document, Mapping) and isinstance(document.get("uuid"), str):
                uuids.add(document["uuid"])
        wanted = list(uuids)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self.connection.execute(
                sa.select(
                    schema.annotation_heads.c.uuid,
                    schema.annotation_heads.c.study_id,
                    schema.annotation_heads.c.version,
                    schema.annotation_heads.c.revision,
                    schema.annotation_heads.c.document,
                ).where(schema.annotation_heads.c.uuid.in_(chunk))
            )
            for row in rows:
                self._heads[row.uuid] = _Head(
                    row.study_id, row.version, row.revision, json.loads(row.document)
                )
        for uuid in wanted:
            self._heads.setdefault(uuid, None)

    def _head(self, uuid: str) -> _Head | None:
        if uuid not in self._heads:
            row = self.connection.execute(
                sa.select(
                    schema.annotation_heads.c.study_id,
                    schema.annotation_heads.c.version,
                    schema.annotation_heads.c.revision,
                    schema.annotation_heads.c.document,
                ).where(schema.annotation_heads.c.uuid == uuid)
            ).first()
            self._heads[uuid] = (
                None
                if row is None
                else _Head(row.study_id, row.version, row.revision, json.loads(row.document))
            )
        return self._heads[uuid]

    def _base(self, revision: str) -> tuple[dict[str, Any], bool] | None:
        """(document, usable as a merge base) of a revision, or None if unknown."""
        cached = self._batch.revisions.get(revision)
        if cached is not None:
            return cached
        document = self.connection.execute(
            sa.select(schema.changes.c.document).where(schema.changes.c.revision == revision)
        ).scalar()
        if document is not None:
            return json.loads(document), True
        row = self.connection.execute(
            sa.select(schema.operations.c.status, schema.operations.c.document).where(
                schema.operations.c.op_id == revision
            )
        ).first()
        if row is None or row.document is None:
            return None
        return json.loads(row.document), row.status == OpStatus.MERGED

    def _study_uid_of(self, study_id: int) -> str:
        return self.studies.uid_of(study_id)

    # --- answering ----------------------------------------------------------------------------

    def _answer(
        self,
        op_id: str,
        status: OpStatus,
        *,
        sequence: int | None = None,
        revision: str | None = None,
        version: int | None = None,
        annotation: Mapping[str, Any] | None = None,
        fields: Iterable[str] = (),
        reason: str = "",
    ) -> dict[str, Any]:
        return {
            "op_id": op_id,
            "status": status.value,
            "sequence": sequence,
            "revision": revision,
            "version": version,
            "annotation": dict(annotation) if annotation is not None else None,
            "fields": list(fields),
            "reason": reason,
        }

    def _record(
        self,
        op_id: str,
        kind: str,
        uuid: str,
        base: str | None,
        status: OpStatus,
        *,
        result_revision: str | None = None,
        result_version: int | None = None,
        sequence: int | None = None,
        document: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self._batch.operations.append(
            {
                "op_id": op_id,
                "client_id": self.client_id,
                "user_id": self.principal.user_id,
                "kind": kind,
                "uuid": uuid[:MAX_ID_LENGTH],
                "base_revision": base,
                "status": status.value,
                "result_revision": result_revision,
                "result_version": result_version,
                "sequence": sequence,
                "document": dumps(document) if document is not None else None,
                "detail": dumps(detail or {}),
                "created_at": self.now,
            }
        )

    def _replay(self, stored: Any) -> dict[str, Any]:
        status = OpStatus(stored.status)
        detail = json.loads(stored.detail or "{}")
        if status in (OpStatus.APPLIED, OpStatus.MERGED):
            document = None
            if stored.result_revision:
                found = self._base(stored.result_revision)
                document = found[0] if found else None
            return self._answer(
                stored.op_id,
                status,
                sequence=stored.sequence,
                revision=stored.result_revision,
                version=stored.result_version,
                annotation=document,
            )
        if status is OpStatus.CONFLICT:
            head = self._head(stored.uuid)
            return self._answer(
                stored.op_id,
                status,
                revision=head.revision if head else None,
                version=head.version if head else None,
                annotation=head.document if head else None,
                fields=detail.get("fields", ()),
            )
        return self._answer(stored.op_id, status, reason=str(detail.get("reason", "")))

    # --- applying -----------------------------------------------------------------------------

    def _apply(self, operation: Mapping[str, Any], op_id: str) -> dict[str, Any]:
        if not op_id or len(op_id) > MAX_ID_LENGTH:
            return self._answer(
                op_id[:MAX_ID_LENGTH],
                OpStatus.INVALID,
                reason=f"an operation needs an id of 1..{MAX_ID_LENGTH} characters",
            )
        kind = operation.get("kind")
        if kind == "comment":
            return self._apply_comment(operation, op_id)
        if kind != "annotation":
            return self._invalid(op_id, "", None, f"unknown operation kind {kind!r}")
        return self._apply_annotation(operation, op_id)

    def _invalid(self, op_id: str, uuid: str, base: str | None, reason: str) -> dict[str, Any]:
        self._record(op_id, "annotation", uuid, base, OpStatus.INVALID, detail={"reason": reason})
        return self._answer(op_id, OpStatus.INVALID, reason=reason)

    def _apply_annotation(self, operation: Mapping[str, Any], op_id: str) -> dict[str, Any]:
        raw = operation.get("annotation")
        base_value = operation.get("base_revision")
        base = str(base_value)[:MAX_ID_LENGTH] if base_value else None
        if not isinstance(raw, Mapping):
            return self._invalid(op_id, "", base, "the operation carries no annotation")
        try:
            annotation = Annotation.from_json(dict(raw))
        except ValueError as exc:
            return self._invalid(op_id, str(raw.get("uuid", ""))[:64], base, str(exc))
        uuid = annotation.uuid
        if not uuid or len(uuid) > MAX_ID_LENGTH:
            return self._invalid(op_id, "", base, f"an annotation id has 1..{MAX_ID_LENGTH} chars")
        study_uid = annotation.reference.study_instance_uid
        if not study_uid or len(study_uid) > 64:
            return self._invalid(op_id, uuid, base, "the annotation names no valid study UID")
        document = annotation.to_json()
        head = self._head(uuid)
        if head is not None:
            if not self.studies.accessible(head.study_id):
                reason = "this annotation belongs to a study you may not change"
                self._record(
                    op_id, "annotation", uuid, base, OpStatus.FORBIDDEN, detail={"reason": reason}
                )
                return self._answer(op_id, OpStatus.FORBIDDEN, reason=reason)
            if self._study_uid_of(head.study_id) != study_uid:
                reason = "an annotation cannot move to another study"
                return self._invalid(op_id, uuid, base, reason)
            study_id = head.study_id
        else:
            study_id = self.studies.find_or_create(study_uid)
        if head is None:
            if base is not None and self._base(base) is None and base not in self._batch.results:
                return self._answer(
                    op_id, OpStatus.MISSING_BASE, reason="the base version has not arrived yet"
                )
            return self._store(
                op_id, base, study_id, document, status=OpStatus.APPLIED, revision=op_id
            )
        if base == head.revision:
            rewritten = annotation.version <= head.version
            if rewritten:
                document["version"] = head.version + 1
            return self._store(
                op_id,
                base,
                study_id,
                document,
                status=OpStatus.APPLIED,
                revision=op_id,
                include=rewritten,
            )
        if merge.same_content(document, head.document):
            # The same edit arrived by another way: nothing new to store.
            self._record(
                op_id,
                "annotation",
                uuid,
                base,
                OpStatus.MERGED,
                result_revision=head.revision,
                result_version=head.version,
                document=document,
            )
            self._batch.revisions[op_id] = (document, True)
            return self._answer(
                op_id,
                OpStatus.MERGED,
                revision=head.revision,
                version=head.version,
                annotation=head.document,
            )
        base_document: dict[str, Any] | None = None
        if base is not None:
            found = self._base(base)
            if found is None:
                return self._answer(
                    op_id, OpStatus.MISSING_BASE, reason="the base version has not arrived yet"
                )
            base_document, usable = found
            if not usable:
                return self._conflict(
                    op_id,
                    uuid=uuid,
                    base=base,
                    document=document,
                    head=head,
                    fields=("unresolved",),
                )
        outcome = merge.three_way(base_document, document, head.document)
        if outcome.merged is None:
            return self._conflict(
                op_id,
                uuid=uuid,
                base=base,
                document=document,
                head=head,
                fields=outcome.conflicting,
            )
        merged = dict(outcome.merged)
        merged["uuid"] = uuid
        merged["version"] = max(head.version, annotation.version) + 1
        merged["created"] = head.document.get("created", document["created"])
        merged_revision = str(uuid_module.uuid4())
        self._batch.revisions[op_id] = (document, True)
        return self._store(
            op_id,
            base,
            study_id,
            merged,
            status=OpStatus.MERGED,
            revision=merged_revision,
            submitted=document,
        )

    def _conflict(
        self,
        op_id: str,
        *,
        uuid: str,
        base: str | None,
        document: Mapping[str, Any],
        head: _Head,
        fields: Iterable[str],
    ) -> dict[str, Any]:
        names = list(fields)
        self._record(
            op_id,
            "annotation",
            uuid,
            base,
            OpStatus.CONFLICT,
            result_revision=head.revision,
            result_version=head.version,
            document=document,
            detail={"fields": names},
        )
        self._batch.revisions[op_id] = (dict(document), False)
        return self._answer(
            op_id,
            OpStatus.CONFLICT,
            revision=head.revision,
            version=head.version,
            annotation=head.document,
            fields=names,
        )

    def _store(
        self,
        op_id: str,
        base: str | None,
        study_id: int,
        document: dict[str, Any],
        *,
        status: OpStatus,
        revision: str,
        submitted: Mapping[str, Any] | None = None,
        include: bool = False,
    ) -> dict[str, Any]:
        """Store a new current version; ``include``: return it (the client lacks it)."""
        sequence = self._sequence.next()
        site_id = self.studies.site_of(study_id)
        uuid = str(document["uuid"])
        text = dumps(document)
        self._batch.changes.append(
            {
                "sequence": sequence,
                "kind": "annotation",
                "study_id": study_id,
                "site_id": site_id,
                "uuid": uuid,
                "revision": revision,
                "op_id": op_id,
                "client_id": self.client_id,
                "user_id": self.principal.user_id,
                "document": text,
                "created_at": self.now,
            }
        )
        self._batch.heads[uuid] = {
            "uuid": uuid,
            "study_id": study_id,
            "version": int(document["version"]),
            "revision": revision,
            "deleted": bool(document.get("deleted")),
            "document": text,
            "sequence": sequence,
        }
        self._heads[uuid] = _Head(study_id, int(document["version"]), revision, document)
        self._batch.revisions[revision] = (document, True)
        self._record(
            op_id,
            "annotation",
            uuid,
            base,
            status,
            result_revision=revision,
            result_version=int(document["version"]),
            sequence=sequence,
            document=submitted,
        )
        self.touched.add(sequence, study_id, site_id)
        return self._answer(
            op_id,
            status,
            sequence=sequence,
            revision=revision,
            version=int(document["version"]),
            annotation=document if include or status is OpStatus.MERGED else None,
        )

    def _apply_comment(self, operation: Mapping[str, Any], op_id: str) -> dict[str, Any]:
        raw = operation.get("comment")
        if not isinstance(raw, Mapping):
            return self._comment_refused(op_id, "", OpStatus.INVALID, "no comment in operation")
        comment_id = str(raw.get("id", ""))
        study_uid = str(raw.get("study_uid", ""))
        annotation_uuid = str(raw.get("annotation_uuid") or "")
        text = str(raw.get("text", "")).strip()
        if not comment_id or len(comment_id) > MAX_ID_LENGTH:
            return self._comment_refused(op_id, "", OpStatus.INVALID, "bad comment id")
        if not study_uid or len(study_uid) > 64 or len(annotation_uuid) > MAX_ID_LENGTH:
            return self._comment_refused(op_id, comment_id, OpStatus.INVALID, "bad study UID")
        if not text or len(text) > MAX_COMMENT_LENGTH:
            return self._comment_refused(
                op_id,
                comment_id,
                OpStatus.INVALID,
                f"a comment holds 1..{MAX_COMMENT_LENGTH} characters",
            )
        taken = self.connection.execute(
            sa.select(schema.comments.c.id).where(schema.comments.c.id == comment_id)
        ).first()
        if taken is not None or any(c["id"] == comment_id for c in self._batch.comments):
            return self._comment_refused(op_id, comment_id, OpStatus.INVALID, "comment id taken")
        if annotation_uuid:
            head = self._head(annotation_uuid)
            if head is not None and not self.studies.accessible(head.study_id):
                return self._comment_refused(
                    op_id, comment_id, OpStatus.FORBIDDEN, "not your annotation's study"
                )
        study_id = self.studies.find_or_create(study_uid)
        sequence = self._sequence.next()
        site_id = self.studies.site_of(study_id)
        document = {
            "id": comment_id,
            "study_uid": study_uid,
            "annotation_uuid": annotation_uuid,
            "text": text,
            "author": self.principal.username,
            "created": iso(self.now),
        }
        self._batch.comments.append(
            {
                "id": comment_id,
                "study_id": study_id,
                "annotation_uuid": annotation_uuid,
                "user_id": self.principal.user_id,
                "text": text,
                "created_at": self.now,
                "sequence": sequence,
            }
        )
        self._batch.changes.append(
            {
                "sequence": sequence,
                "kind": "comment",
                "study_id": study_id,
                "site_id": site_id,
                "uuid": comment_id,
                "revision": op_id,
                "op_id": op_id,
                "client_id": self.client_id,
                "user_id": self.principal.user_id,
                "document": dumps(document),
                "created_at": self.now,
            }
        )
        self._record(
            op_id,
            "comment",
            comment_id,
            None,
            OpStatus.APPLIED,
            result_revision=op_id,
            sequence=sequence,
        )
        self.touched.add(sequence, study_id, site_id)
        return self._answer(op_id, OpStatus.APPLIED, sequence=sequence, revision=op_id)

    def _comment_refused(
        self, op_id: str, comment_id: str, status: OpStatus, reason: str
    ) -> dict[str, Any]:
        self._record(op_id, "comment", comment_id, None, status, detail={"reason": reason})
        return self._answer(op_id, status, reason=reason)

    # --- writing ------------------------------------------------------------------------------

    def _flush(self) -> None:
        batch = self._batch
        if batch.changes:
            self.connection.execute(sa.insert(schema.changes), batch.changes)
        if batch.comments:
            self.connection.execute(sa.insert(schema.comments), batch.comments)
        if batch.heads:
            upsert_heads(self.connection, list(batch.heads.values()))
        if batch.operations:
            self.connection.execute(sa.insert(schema.operations), batch.operations)


def upsert_heads(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert or replace current annotation versions (``annotations`` rows)."""
    table = schema.annotation_heads
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)  # type: ignore[assignment]  # same API, other class
    excluded = statement.excluded
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.uuid],
            set_={
                "study_id": excluded.study_id,
                "version": excluded.version,
                "revision": excluded.revision,
                "deleted": excluded.deleted,
                "document": excluded.document,
                "sequence": excluded.sequence,
            },
        ),
        rows,
    )


def pull(
    connection: Connection, principal: Principal, since: int, limit: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """(changes after ``since`` the user may see, the cursor to ask from next, more to come)."""
    head = head_sequence(connection)
    if since > head:
        since = 0  # a cursor from another database (restored, replaced): start over
    changes = schema.changes
    studies = schema.studies
    users = schema.users
    rows = connection.execute(
        sa.select(
            changes.c.sequence,
            changes.c.kind,
            changes.c.uuid,
            changes.c.revision,
            changes.c.op_id,
            changes.c.client_id,
            changes.c.document,
            studies.c.study_uid,
            users.c.username,
        )
        .select_from(
            changes.join(studies, studies.c.id == changes.c.study_id).outerjoin(
                users, users.c.id == changes.c.user_id
            )
        )
        .where(
            changes.c.sequence > since,
            changes.c.sequence <= head,
            sa.or_(
                changes.c.site_id == principal.site_id,
                changes.c.study_id.in_(_shared_query(principal)),
            ),
        )
        .order_by(changes.c.sequence)
        .limit(limit)
    ).all()
    out: list[dict[str, Any]] = []
    for row in rows:
        document = json.loads(row.document)
        item: dict[str, Any] = {
            "sequence": row.sequence,
            "kind": row.kind,
            "study_uid": row.study_uid,
            "uuid": row.uuid,
            "revision": row.revision,
            "op_id": row.op_id,
            "client_id": row.client_id,
            "user": row.username or "",
        }
        item["comment" if row.kind == "comment" else "annotation"] = document
        out.append(item)
    more = len(rows) == limit
    cursor = int(rows[-1].sequence) if more else head
    return out, cursor, more
