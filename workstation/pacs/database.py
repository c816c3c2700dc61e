"""The local study database: one SQLite file (WAL) under the workstation's home folder.

Threads
-------
A :class:`StudyDatabase` belongs to the thread that opened it (sqlite3 refuses a connection used
from another thread). A thread that needs the database opens its own: the GUI's import worker
calls ``open_database()`` (or ``StudyDatabase.open(db.path)``) inside the worker, while the
browser keeps the connection it opened on the GUI thread. In WAL mode readers never wait for the
writer and see the last committed batch; a second writer waits up to :data:`BUSY_TIMEOUT_S`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from workstation import paths
from workstation.core.errors import WorkstationError
from workstation.pacs.schema import MIGRATIONS, SCHEMA_VERSION

DATABASE_NAME = "studies.sqlite"
STORAGE_NAME = "storage"
#: How long a writer waits for another writer before giving up.
BUSY_TIMEOUT_S = 30.0


class StudyDatabaseError(WorkstationError):
    """The database file cannot be opened or is of an unknown (newer) schema."""


def database_path() -> Path:
    """Where the database of the current home folder lives."""
    return paths.home() / DATABASE_NAME


def fold(text: str | None) -> str:
    """Text as searches compare it: case-folded, with the PN component separator as a space."""
    return (text or "").casefold().replace("^", " ")


class StudyDatabase:
    """An open connection to the study database, with the managed storage folder beside it.

    Use :func:`open_database` (or :meth:`open`) and close it when done, or use it as a context
    manager. Reads run in autocommit mode; writes go through :meth:`transaction`.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        #: Managed copies live here, in folders and files named by hashes (see ``storage``).
        self.storage = path.parent / STORAGE_NAME

    @classmethod
    def open(cls, path: Path | None = None) -> StudyDatabase:
        """Open (creating and migrating as needed) the database at ``path``.

        Raises
        ------
        StudyDatabaseError
            When the file is not a database, cannot be created, or was written by a newer
            version of the application.
        """
        path = database_path() if path is None else Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
            )
        except (OSError, sqlite3.Error) as exc:
            raise StudyDatabaseError(f"cannot open the study database {path}: {exc}") from exc
        try:
            _prepare(connection, path)
        except sqlite3.Error as exc:
            connection.close()
            raise StudyDatabaseError(f"{path} is not a usable study database: {exc}") from exc
        except StudyDatabaseError:
            connection.close()
            raise
        return cls(connection, path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        ``BEGIN IMMEDIATE`` takes the write lock at once, so two writers queue instead of
        failing when one of them upgrades a read to a write. SQLite failures (a full disk, a
        writer holding the lock past :data:`BUSY_TIMEOUT_S`) become :class:`StudyDatabaseError`.
        """
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StudyDatabaseError(f"cannot write to {self.path}: {exc}") from exc
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StudyDatabaseError(f"cannot write to {self.path}: {exc}") from exc
            raise

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> StudyDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StudyDatabase({str(self.path)!r})"


def open_database(path: Path | None = None) -> StudyDatabase:
    """The study database at ``path``, by default ``paths.home() / "studies.sqlite"``."""
    return StudyDatabase.open(path)


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Configure and migrate, waiting while another connection does the same.

    Switching a new file to WAL needs the file to itself, which SQLite does not wait for (no
    busy handler): threads opening a fresh database at the same moment retry for up to
    :data:`BUSY_TIMEOUT_S` instead of failing with "database is locked".
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            _configure(connection)
            _migrate(connection, path)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    connection.execute("PRAGMA journal_mode = WAL")
    # In WAL mode NORMAL loses no committed transaction on an application crash, only (at
    # worst) the last ones on a power cut, and does not sync on every commit.
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.create_function("ws_fold", 1, fold, deterministic=True)


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to date; an up-to-date file is only read (no write lock taken,
    so opening never waits for an import running in another thread)."""
    if _version(connection, path) == SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = _version(connection, path)  # another process may have migrated meanwhile
        for script in MIGRATIONS[version:]:
            for statement in _statements(script):
                connection.execute(statement)
        if version < SCHEMA_VERSION:
            connection.execute("DELETE FROM schema_version")
            connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _version(connection: sqlite3.Connection, path: Path) -> int:
    exists = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    (version,) = connection.execute("SELECT max(version) FROM schema_version").fetchone()
    version = int(version or 0)
    if version > SCHEMA_VERSION:
        raise StudyDatabaseError(
            f"{path} has schema version {version}; this version of the workstation reads "
            f"up to {SCHEMA_VERSION} (use a newer workstation or another --home)"
        )
    return version


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script (``executescript`` would commit on its own)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement:
                yield statement
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete statement in migration: {pending.strip()[:60]}")
