"""The local annotation store: every version the user makes is on disk before the edit returns.

One SQLite file in write-ahead-log mode with ``synchronous=FULL``: :meth:`AnnotationStore.save`
commits (and the commit reaches the disk) before it returns, so an application killed right
after an edit loses nothing. The store keeps the latest version of each annotation, keyed by
its UUID; versions only move forward, because replicas may deliver an older version late.

Each saved version takes the next local *sequence number*. A sync client remembers the last
number it pushed and asks :meth:`AnnotationStore.changes_since` for what came after it.

Every version :meth:`AnnotationStore.save` keeps also enters the **outbox** in the same
transaction, as an operation with a new UUID (:mod:`workstation.collab.outbox`): once ``save``
returns, the edit is on disk *and* queued for the server, so the UI may say "saved" whether
or not a server is reachable. Versions that come from the server are written with
:meth:`workstation.collab.outbox.Outbox.apply_pulled` and never re-enter the outbox.

Schema (version 1)::

    schema_version(version INTEGER)                 one row: the migrations applied
    annotations(
        uuid TEXT PRIMARY KEY,                      the annotation's identity
        kind TEXT,                                  AnnotationKind value
        study_uid TEXT, series_uid TEXT,            indexed: load by study or by series
        frame_of_reference_uid TEXT,
        version INTEGER, deleted INTEGER (0 | 1),   latest version; 1 for a tombstone
        created TEXT, updated TEXT, author TEXT,    ISO 8601 UTC times, as in the model
        json TEXT,                                  Annotation.to_json() of that version
        sequence INTEGER UNIQUE)                    local change number of that version
    change_counter(id INTEGER = 1, sequence INTEGER)   the last sequence number given out

Schema version 2 adds (see :mod:`workstation.collab.outbox`)::

    revisions(uuid TEXT PRIMARY KEY, revision TEXT, origin TEXT ('local' | 'remote'))
        the revision of each stored version (the operation id that made it), and its source
    outbox(position INTEGER PRIMARY KEY, op_id TEXT UNIQUE, kind, uuid, base_revision,
           payload TEXT, created TEXT, attempts INTEGER, last_error TEXT)
    conflicts(uuid TEXT PRIMARY KEY, reason, fields, detail, mine, theirs, theirs_revision, created)
    comments(id TEXT PRIMARY KEY, study_uid, annotation_uuid, author, text, created,
             sequence INTEGER, status TEXT)
    sync_state(key TEXT PRIMARY KEY, value TEXT)     client id, pull cursors

The file carries SQLite's ``application_id`` so that another program's database is refused
rather than written into.

Threads: SQLite connections must not be shared between threads, so the store opens one
connection per thread on that thread's first call (the GUI thread saves; a sync thread may
read, or save what it pulled). WAL lets readers run while a write is in progress. Call
:meth:`AnnotationStore.close` once the other threads have finished with the store: it closes
every connection the store opened.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from workstation.core.annotations import Annotation
from workstation.core.errors import WorkstationError

if TYPE_CHECKING:
    from workstation.collab.outbox import Outbox
    from workstation.core.scene import Scene

_log = logging.getLogger(__name__)

#: SQLite ``application_id`` of an annotation store ("WSAN").
APPLICATION_ID = 0x5753414E
#: Seconds a connection waits for another writer (another thread or process) before failing.
BUSY_TIMEOUT_S = 10.0

# Each entry migrates the schema from version ``index`` to ``index + 1``; never edit a released
# entry, append a new one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE annotations (
            uuid TEXT PRIMARY KEY NOT NULL,
            kind TEXT NOT NULL,
            study_uid TEXT NOT NULL,
            series_uid TEXT NOT NULL,
            frame_of_reference_uid TEXT NOT NULL,
            version INTEGER NOT NULL,
            deleted INTEGER NOT NULL CHECK (deleted IN (0, 1)),
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            author TEXT NOT NULL,
            json TEXT NOT NULL,
            sequence INTEGER NOT NULL UNIQUE
        )
        """,
        "CREATE INDEX annotations_study ON annotations (study_uid)",
        "CREATE INDEX annotations_series ON annotations (series_uid)",
        """
        CREATE TABLE change_counter (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            sequence INTEGER NOT NULL
        )
        """,
        "INSERT INTO change_counter (id, sequence) VALUES (1, 0)",
    ),
    (
        # The revision of the stored version: the id of the operation that made it, locally
        # or on the server. An edit names it as the version it was made from. (A table of its
        # own: the annotations table keeps the columns version 1 readers know.)
        """
        CREATE TABLE revisions (
            uuid TEXT PRIMARY KEY NOT NULL,
            revision TEXT NOT NULL,
            origin TEXT NOT NULL CHECK (origin IN ('local', 'remote'))
        )
        """,
        """
        CREATE TABLE outbox (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            op_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('annotation', 'comment')),
            uuid TEXT NOT NULL,
            base_revision TEXT,
            payload TEXT NOT NULL,
            created TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX outbox_uuid ON outbox (uuid)",
        """
        CREATE TABLE conflicts (
            uuid TEXT PRIMARY KEY NOT NULL,
            reason TEXT NOT NULL,
            fields TEXT NOT NULL,
            detail TEXT NOT NULL,
            mine TEXT NOT NULL,
            theirs TEXT,
            theirs_revision TEXT,
            created TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE comments (
            id TEXT PRIMARY KEY NOT NULL,
            study_uid TEXT NOT NULL,
            annotation_uuid TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL,
            created TEXT NOT NULL,
            sequence INTEGER,
            status TEXT NOT NULL
        )
        """,
        "CREATE INDEX comments_study ON comments (study_uid)",
        "CREATE TABLE sync_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
        # Versions saved before the outbox existed were never sent anywhere: queue them now.
        """
        INSERT INTO outbox (op_id, kind, uuid, base_revision, payload, created)
        SELECT lower(hex(randomblob(16))), 'annotation', uuid, NULL, json, updated
        FROM annotations ORDER BY sequence
        """,
        """
        INSERT INTO revisions (uuid, revision, origin)
        SELECT uuid, op_id, 'local' FROM outbox WHERE kind = 'annotation'
        """,
    ),
)

#: The schema version this code writes; a file with a newer one is refused.
SCHEMA_VERSION = len(_MIGRATIONS)

_UPSERT = """
    INSERT INTO annotations (
        uuid, kind, study_uid, series_uid, frame_of_reference_uid, version, deleted,
        created, updated, author, json, sequence
    ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (uuid) DO UPDATE SET
        kind = excluded.kind,
        study_uid = excluded.study_uid,
        series_uid = excluded.series_uid,
        frame_of_reference_uid = excluded.frame_of_reference_uid,
        version = excluded.version,
        deleted = excluded.deleted,
        created = excluded.created,
        updated = excluded.updated,
        author = excluded.author,
        json = excluded.json,
        sequence = excluded.sequence
"""


class StoreError(WorkstationError):
    """The annotation store cannot be opened, read or written (corrupt, foreign, newer, I/O)."""


class AnnotationStore:
    """The latest version of every annotation, durable at once, with a change feed.

    Parameters
    ----------
    path
        The SQLite file; created (with its folder) when missing.

    Raises
    ------
    StoreError
        When the file is not a database, belongs to another program, was written by a newer
        schema, or cannot be opened.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._attachments: list[Attachment] = []
        self._listeners: list[Callable[[], None]] = []
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of {self.path}: {exc}") from exc
        connection = self._connect()
        try:
            mode = str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot use write-ahead logging (mode {mode})")
            _migrate(connection, self.path)
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(f"{self.path} is not a usable annotation store: {exc}") from exc
        except StoreError:
            connection.close()
            raise
        self._local.connection = connection
        self._connections.append(connection)

    # --- connections --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: transactions are begun and committed explicitly below.
            # check_same_thread=False only so that close() may close every thread's connection;
            # each connection is still used by the one thread that opened it.
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the annotation store {self.path}: {exc}") from exc
        try:
            # Per connection: FULL syncs the WAL at every commit, so a committed save survives
            # a killed process and a power cut alike.
            connection.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(f"{self.path} is not a usable annotation store: {exc}") from exc
        return connection

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and not self._closed:
            return connection
        with self._lock:
            if self._closed:
                raise StoreError(f"the annotation store {self.path} is closed")
            if connection is None:
                connection = self._connect()
                self._connections.append(connection)
                self._local.connection = connection
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the write lock from its start (no upgrade deadlock)."""
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise StoreError(f"cannot write the annotation store {self.path}: {exc}") from exc

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._connection().execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the annotation store {self.path}: {exc}") from exc

    def close(self) -> None:
        """Detach from every scene and close every connection (of every thread)."""
        for attachment in list(self._attachments):
            attachment.detach()
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------------

    def save(self, annotation: Annotation) -> bool:
        """Store ``annotation`` if it is newer than the stored version of its UUID.

        Returns True once the version is committed to disk together with its outbox
        operation; False, changing nothing, when the stored version is the same or newer (a
        replica delivering late). One exception is recorded rather than dropped: a version
        whose content differs from a same-or-newer version that arrived from the server in
        the meantime (an edit racing a remote change) becomes a visible conflict
        (:meth:`workstation.collab.outbox.Outbox.conflicts`), so no edit vanishes silently.
        """
        from workstation.collab import outbox

        document = annotation.to_json()
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT a.version, a.json, r.revision, r.origin FROM annotations AS a "
                "LEFT JOIN revisions AS r ON r.uuid = a.uuid WHERE a.uuid = ?",
                (annotation.uuid,),
            ).fetchone()
            if row is not None and int(row[0]) >= annotation.version:
                if row[3] == "remote":
                    outbox.record_local_race(connection, annotation, str(row[1]), str(row[2]))
                return False
            op_id = outbox.new_operation_id()
            base_revision = str(row[2]) if row is not None and row[2] else None
            write_version(connection, annotation, revision=op_id, origin="local")
            outbox.enqueue(
                connection,
                op_id=op_id,
                kind="annotation",
                uuid=annotation.uuid,
                base_revision=base_revision,
                payload=document,
            )
            outbox.follow_conflict(connection, annotation)
        self._notify_saved()
        return True

    @property
    def outbox(self) -> Outbox:
        """The operations waiting for the server, conflicts, comments and sync cursors."""
        from workstation.collab.outbox import Outbox

        outbox: Outbox | None = getattr(self, "_outbox", None)
        if outbox is None:
            outbox = Outbox(self)
            self._outbox = outbox
        return outbox

    def add_save_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` (on the saving thread) after each local save commits.

        A sync thread uses it to push at once. Returns a function that removes the listener.
        """
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def _notify_saved(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener's fault must not fail a saved edit
                _log.exception("save listener failed")

    # --- reading ------------------------------------------------------------------------------

    def get(self, uuid: str) -> Annotation | None:
        """The stored version of ``uuid`` (tombstones included); None if absent or unreadable."""
        rows = self._query("SELECT uuid, json FROM annotations WHERE uuid = ?", (uuid,))
        return _parse(rows[0][0], rows[0][1]) if rows else None

    def load(
        self,
        *,
        study_uid: str | None = None,
        series_uid: str | None = None,
        include_deleted: bool = False,
    ) -> list[Annotation]:
        """Stored annotations, oldest first, optionally of one study and/or one series.

        Tombstones are left out unless ``include_deleted``; unreadable rows are skipped and
        logged.
        """
        clauses: list[str] = []
        parameters: list[Any] = []
        if study_uid is not None:
            clauses.append("study_uid = ?")
            parameters.append(study_uid)
        if series_uid is not None:
            clauses.append("series_uid = ?")
            parameters.append(series_uid)
        if not include_deleted:
            clauses.append("deleted = 0")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT uuid, json FROM annotations {where} ORDER BY created, sequence", parameters
        )
        return [a for a in (_parse(uuid, text) for uuid, text in rows) if a is not None]

    def changes_since(
        self, sequence: int, limit: int | None = None
    ) -> list[tuple[int, Annotation]]:
        """``(sequence, annotation)`` of each version saved after ``sequence``, in save order.

        The feed holds the latest version of each annotation (tombstones included): a version
        superseded before the sync asked is not replayed, the newer one carries its state. Pass
        the last sequence received to get the next batch; 0 gives everything.
        """
        rows = self._query(
            "SELECT sequence, uuid, json FROM annotations WHERE sequence > ? "
            "ORDER BY sequence LIMIT ?",
            (sequence, -1 if limit is None else limit),
        )
        changes: list[tuple[int, Annotation]] = []
        for number, uuid, text in rows:
            annotation = _parse(uuid, text)
            if annotation is not None:
                changes.append((int(number), annotation))
        return changes

    def last_sequence(self) -> int:
        """The sequence number of the last saved version (0 for an empty store)."""
        return int(self._query("SELECT sequence FROM change_counter WHERE id = 1")[0][0])

    # --- scenes -------------------------------------------------------------------------------

    def attach(
        self, scene: Scene, *, on_error: Callable[[StoreError], None] | None = None
    ) -> Attachment:
        """Save each annotation version the moment ``scene`` publishes it.

        Returns the :class:`Attachment`; calling it disconnects. A version that cannot be saved
        (disk full, file locked) is kept in memory, retried with the next change or on
        :meth:`Attachment.flush`, and reported to ``on_error`` (logged when None) rather than
        raised into the edit.
        """
        attachment = Attachment(self, scene, on_error)
        self._attachments.append(attachment)
        return attachment

    def restore(
        self,
        scene: Scene,
        series_uid: str | None = None,
        *,
        study_uid: str | None = None,
        include_deleted: bool = False,
    ) -> list[Annotation]:
        """Put the stored annotations of a series (or study) in ``scene``; not undoable.

        Returns what was handed to :meth:`Scene.load_annotations` (which keeps a newer version
        the scene already holds).
        """
        annotations = self.load(
            study_uid=study_uid, series_uid=series_uid, include_deleted=include_deleted
        )
        scene.load_annotations(annotations)
        return annotations

    # --- export -------------------------------------------------------------------------------

    def export_csv(
        self, path: Path, *, study_uid: str | None = None, series_uid: str | None = None
    ) -> int:
        """Write the live measurements (of a study or series) as CSV; the number of rows.

        Columns: :data:`workstation.collab.csv_export.CSV_COLUMNS`.
        """
        from workstation.collab.csv_export import write_measurements_csv

        return write_measurements_csv(self.load(study_uid=study_uid, series_uid=series_uid), path)


class Attachment:
    """A scene connected to a store; call it to disconnect."""

    def __init__(
        self,
        store: AnnotationStore,
        scene: Scene,
        on_error: Callable[[StoreError], None] | None,
    ) -> None:
        self._store = store
        self._scene = scene
        self._on_error = on_error
        #: Versions not yet saved because the store failed, by UUID (only the newest matters).
        self._pending: dict[str, Annotation] = {}
        self.connected = True
        # The store holds this object, so psygnal's weak reference to the method stays alive.
        scene.events.annotation_changed.connect(self._changed)

    @property
    def pending(self) -> list[Annotation]:
        """Versions waiting to be saved after a failure (empty when everything is on disk)."""
        return list(self._pending.values())

    def _changed(self, annotation: Annotation) -> None:
        queued = self._pending.get(annotation.uuid)
        if queued is None or annotation.version > queued.version:
            self._pending[annotation.uuid] = annotation
        self.flush()

    def flush(self) -> bool:
        """Save the pending versions; True when none is left."""
        for uuid, annotation in list(self._pending.items()):
            try:
                self._store.save(annotation)
            except StoreError as exc:
                if self._on_error is not None:
                    self._on_error(exc)
                else:
                    _log.error("annotation %s is not saved yet: %s", uuid, exc)
                return False
            del self._pending[uuid]
        return True

    def detach(self) -> None:
        """Stop saving the scene's changes (idempotent)."""
        if self.connected:
            self._scene.events.annotation_changed.disconnect(self._changed)
            self.connected = False
        if self in self._store._attachments:
            self._store._attachments.remove(self)

    def __call__(self) -> None:
        self.detach()


def write_version(
    connection: sqlite3.Connection, annotation: Annotation, *, revision: str, origin: str
) -> int:
    """Upsert ``annotation`` as the stored version of its UUID with the next sequence number.

    Runs inside the caller's write transaction; returns the sequence number given.
    """
    connection.execute("UPDATE change_counter SET sequence = sequence + 1 WHERE id = 1")
    (sequence,) = connection.execute("SELECT sequence FROM change_counter WHERE id = 1").fetchone()
    reference = annotation.reference
    connection.execute(
        _UPSERT,
        (
            annotation.uuid,
            annotation.kind.value,
            reference.study_instance_uid,
            reference.series_instance_uid,
            reference.frame_of_reference_uid,
            annotation.version,
            int(annotation.deleted),
            annotation.created,
            annotation.updated,
            annotation.author,
            json.dumps(annotation.to_json(), ensure_ascii=False, separators=(",", ":")),
            sequence,
        ),
    )
    connection.execute(
        "INSERT INTO revisions (uuid, revision, origin) VALUES (?, ?, ?) ON CONFLICT (uuid) "
        "DO UPDATE SET revision = excluded.revision, origin = excluded.origin",
        (annotation.uuid, revision, origin),
    )
    return int(sequence)


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Bring the schema of a new or older store to :data:`SCHEMA_VERSION`."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        application_id = int(connection.execute("PRAGMA application_id").fetchone()[0])
        tables = {
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        foreign = application_id not in (0, APPLICATION_ID) or (
            application_id == 0 and tables and "schema_version" not in tables
        )
        if foreign:
            raise StoreError(f"{path} is a database of another program, not an annotation store")
        if "schema_version" not in tables:
            connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            connection.execute("INSERT INTO schema_version (version) VALUES (0)")
        row = connection.execute("SELECT version FROM schema_version").fetchone()
        current = int(row[0]) if row is not None else 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{path} has annotation store schema {current}; this version of the workstation "
                f"reads up to {SCHEMA_VERSION}"
            )
        for version in range(current, SCHEMA_VERSION):
            for statement in _MIGRATIONS[version]:
                connection.execute(statement)
            _log.info("annotation store migrated to schema %d", version + 1)
        if current < SCHEMA_VERSION:
            connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        if application_id != APPLICATION_ID:
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _parse(uuid: str, text: str) -> Annotation | None:
    """The annotation a stored row holds, or None (logged) if the row is malformed.

    The log names the row's UUID and the kind of fault only: the JSON may hold free text
    (labels, notes) that names a patient.
    """
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        annotation = Annotation.from_json(data)
        if annotation.uuid != uuid:
            raise ValueError("the UUID inside differs from the row's")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        cause = exc.__cause__ or exc
        _log.warning(
            "skipping stored annotation %s: malformed row (%s)", uuid, type(cause).__name__
        )
        return None
    return annotation
