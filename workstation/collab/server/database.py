"""The server's database: engine set-up, transactions, migrations.

SQLite (one file; the default) or PostgreSQL (``postgresql+psycopg://user@host/db``).
SQLite runs in WAL mode with ``synchronous=FULL``: an acknowledged push is on disk. Its
write transactions start with ``BEGIN IMMEDIATE`` so that two writers never deadlock on a
lock upgrade. On PostgreSQL, writers of the change feed serialize on the sequence counter's
row (see :mod:`workstation.collab.server.schema`).

Migrations (Alembic, scripts in ``migrations/``) run when the server starts; several server
processes starting together take turns (an advisory lock on PostgreSQL, a lock file beside
an SQLite database).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from workstation.core.errors import WorkstationError

_log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating ("WSMIGRAT").
_MIGRATION_LOCK = 0x57534D4947524154 & 0x7FFFFFFFFFFFFFFF


class DatabaseError(WorkstationError):
    """The server's database cannot be opened, migrated or used."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class Database:
    """An engine plus the few things the server needs to know about it."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            database = self.url.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(
                self.url,
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=20,
            )
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        elif self.dialect == "postgresql":
            if self.url.get_driver_name() != "psycopg":
                self.url = self.url.set(drivername="postgresql+psycopg")
            self.engine = sa.create_engine(
                self.url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True
            )
        else:
            raise DatabaseError(
                f"unsupported database {self.dialect!r}: use sqlite:///FILE or "
                "postgresql+psycopg://USER@HOST/DB"
            )

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def describe(self) -> str:
        """The URL without its password, for logs and messages."""
        return self.url.render_as_string(hide_password=True)

    def libpq_conninfo(self) -> str:
        """The PostgreSQL URL in the form psycopg connects with (for LISTEN)."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        with self.engine.connect() as plain:
            connection = plain.execution_options(sqlite_write=True)
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        self.stop_checkpoints()
        self.engine.dispose()

    # --- SQLite checkpoints -------------------------------------------------------------------

    def start_checkpoints(self, interval_s: float = 1.0) -> None:
        """Checkpoint an SQLite WAL from a thread of its own (no-op on PostgreSQL)."""
        if self.dialect != "sqlite" or getattr(self, "_checkpointer", None) is not None:
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval_s):
                try:
                    with self.engine.connect() as connection:
                        connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                except sa.exc.SQLAlchemyError as exc:
                    _log.warning("WAL checkpoint failed: %s", type(exc).__name__)

        thread = threading.Thread(target=run, name="sqlite-checkpoint", daemon=True)
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = (thread, stop)
        thread.start()

    def stop_checkpoints(self) -> None:
        checkpointer = getattr(self, "_checkpointer", None)
        if checkpointer is None:
            return
        thread, stop = checkpointer
        stop.set()
        thread.join(5)
        self._checkpointer = None
        if self.dialect == "sqlite":
            try:
                with self.engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except sa.exc.SQLAlchemyError:
                pass

    # --- migrations ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema up to date (Alembic ``upgrade head``), one process at a time."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self._migration_lock(), self.engine.connect() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
        except sa.exc.SQLAlchemyError as exc:
            raise DatabaseError(f"cannot migrate {self.describe()}: {exc}") from exc

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_postgresql:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(
                        sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK}
                    )
                    connection.commit()
            return
        database = self.url.database or ""
        if not database or database == ":memory:":
            yield
            return
        if sys.platform == "win32":  # no fcntl: one server process per SQLite file there
            yield
            return
        import fcntl

        lock_path = Path(f"{database}.migrate.lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred only).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        # Checkpoints run on the server's checkpoint thread, not inside a request's commit
        # (where copying a large WAL back stalls the push that happens to trigger it).
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get("sqlite_write"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")
