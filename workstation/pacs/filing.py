"""Filing instances received from the network into the local library, from one thread.

Network threads (a C-GET, a WADO-RS stream, the storage SCP's associations) hand complete
DICOM objects to :meth:`LibraryFiler.put`; a worker thread that owns its own database
connection files them in batches through :func:`~workstation.pacs.importer.import_sources`
(managed storage: files named by hashes, written to a temporary name and renamed, one
transaction per batch). So:

- nothing read from an instance ever becomes a path (UIDs like ``../../x`` land in
  ``<sha1>/<sha1>/<sha1>.dcm`` like any other);
- a transfer that dies half-way leaves whole instances filed and no partial file under a final
  name; an instance already in the library is recognised by its SOP Instance UID and not
  written twice;
- memory stays bounded: :meth:`put` blocks while more than ``max_queued_bytes`` wait, which
  slows the sender down instead of filling memory;
- the network and the disk work in parallel (receiving the next instance while the last batch
  is written).

Thumbnails are made once per series when the filer is drained or closed, not per batch, from
the headers read while filing (kept without the bytes, up to :data:`MAX_KEPT_HEADERS`; beyond
that, or for a series that held instances before, they are read back from the database).

Two modes
---------
- **threaded** (default): a worker thread files; any thread may :meth:`~LibraryFiler.put`
  (the storage SCP's associations, a C-MOVE's sub-operations);
- **inline** (``threaded=False``): the thread that made the filer files, in its own calls to
  ``put`` when a batch is full. For a retrieval whose instances arrive on the calling thread
  (WADO-RS, C-GET) this is faster: two Python threads would contend for the interpreter lock,
  and the network thread would wait for it after every read while the kernel's socket buffers
  keep the sender going during a batch anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workstation.core.errors import FileError
from workstation.io.header import InstanceHeader
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.reader import HeaderMemo
from workstation.io.sources import MemorySource, Source
from workstation.pacs.database import StudyDatabase
from workstation.pacs.importer import import_sources, thumbnails_from_headers

log = logging.getLogger(__name__)

#: Instances and bytes filed per transaction at most.
BATCH_INSTANCES = 64
BATCH_BYTES = 64 << 20
#: Bytes waiting to be filed before :meth:`LibraryFiler.put` blocks.
MAX_QUEUED_BYTES = 256 << 20
#: Headers kept in memory for the thumbnails at most (~3 kB each: ~60 MB).
MAX_KEPT_HEADERS = 20_000


class FilingError(Exception):
    """The library could not be written (the worker stopped); carries the cause."""


@dataclass
class FilingStats:
    """What a filer did so far."""

    received: int = 0
    added: int = 0
    already_present: int = 0
    non_image: int = 0
    errors: list[FileError] = field(default_factory=list)
    #: Series that gained instances → their study.
    series: dict[str, str] = field(default_factory=dict)
    bytes: int = 0

    @property
    def filed(self) -> int:
        return self.added + self.already_present


@dataclass
class _Item:
    data: bytes
    number: int
    done: threading.Event | None = None
    error: str | None = None


class LibraryFiler:
    """A background writer of received instances into the study database.

    Parameters
    ----------
    db_path:
        The database file (default: the home folder's); the worker opens its own connection.
    on_filed:
        Called from the worker after each batch with ``(instances filed in it, stats)``.
    on_series:
        Called from the worker with the series (→ study) that a batch added instances to.
    limits:
        The engine's bounds for reading the received objects.

    Use as a context manager, or call :meth:`close`. Thread-safe: any thread may :meth:`put`.
    """

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        on_filed: Callable[[int, FilingStats], None] | None = None,
        on_series: Callable[[dict[str, str]], None] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        batch_instances: int = BATCH_INSTANCES,
        batch_bytes: int = BATCH_BYTES,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
        name: str = "library-filer",
        threaded: bool = True,
    ) -> None:
        self.db_path = db_path
        self.on_filed = on_filed
        self.on_series = on_series
        self.limits = limits
        self.batch_instances = batch_instances
        self.batch_bytes = batch_bytes
        self.max_queued_bytes = max_queued_bytes
        self.stats = FilingStats()
        self._pending: deque[_Item | threading.Event] = deque()
        self._queued_bytes = 0
        self._condition = threading.Condition()
        self._closing = False
        self._failure: BaseException | None = None
        self._counter = 0
        self._unthumbed: set[str] = set()
        #: Headers of the series filed so far, for their thumbnails (only the filing thread).
        self._kept: dict[str, list[InstanceHeader]] = {}
        #: Layouts of the objects filed so far: a series' next instance is checked, not walked.
        self._memo = HeaderMemo()
        self._opened = threading.Event()
        self._owner = threading.get_ident()
        self._db: StudyDatabase | None = None
        self._thread: threading.Thread | None = None
        if not threaded:
            try:
                self._db = StudyDatabase.open(db_path)
            except BaseException as exc:
                raise FilingError(str(exc)) from exc
            return
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._failure is not None:
            raise FilingError(str(self._failure)) from self._failure

    # --- producers -------------------------------------------------------------------------

    def put(self, data: bytes, *, wait: bool = False, timeout: float | None = None) -> str | None:
        """Queue one complete DICOM object for filing.

        With ``wait`` the call returns once the object's batch is committed: None when it was
        filed (or already present), else why it was not (not DICOM, corrupt...).
        Raises :class:`FilingError` once the worker has failed (disk full, database locked).
        """
        if self._db is not None:
            return self._put_inline(data, wait=wait)
        done = threading.Event() if wait else None
        with self._condition:
            self._check_alive()
            while self._queued_bytes and self._queued_bytes + len(data) > self.max_queued_bytes:
                self._condition.wait(0.5)
                self._check_alive()
            self._counter += 1
            item = _Item(data, self._counter, done)
            self._pending.append(item)
            self._queued_bytes += len(data)
            self.stats.received += 1
            self.stats.bytes += len(data)
            self._condition.notify_all()
        if done is not None:
            if not done.wait(timeout):
                return "not filed in time"
            with self._condition:
                self._check_alive()
            return item.error
        return None

    def drain(self, timeout: float | None = None) -> FilingStats:
        """Wait until everything queued so far is filed and thumbnails are made.

        Raises :class:`FilingError` when the worker failed, ``TimeoutError`` when ``timeout``
        passed first.
        """
        if self._db is not None:
            self._check_owner()
            self._flush_inline()
            self._thumbnails(self._db)
            return self.stats
        marker = threading.Event()
        with self._condition:
            self._check_alive()
            self._pending.append(marker)
            self._condition.notify_all()
        if not marker.wait(timeout):
            raise TimeoutError("the library filer did not finish in time")
        with self._condition:
            self._check_alive()
        return self.stats

    def close(self, timeout: float | None = 60.0) -> FilingStats:
        """File what is queued, make thumbnails, stop the worker."""
        if self._db is not None:
            db, self._db = self._db, None
            try:
                if not self._closing and self._failure is None:
                    self._flush_pending(db)
                    self._thumbnails(db)
            finally:
                self._closing = True
                db.close()
            return self.stats
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._failure is not None:
            raise FilingError(str(self._failure)) from self._failure
        return self.stats

    def __enter__(self) -> LibraryFiler:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- inline mode -----------------------------------------------------------------------

    def _check_owner(self) -> None:
        if threading.get_ident() != self._owner:
            raise FilingError("an inline library filer is used from another thread")

    def _put_inline(self, data: bytes, *, wait: bool) -> str | None:
        self._check_owner()
        self._check_alive()
        self._counter += 1
        item = _Item(data, self._counter)
        self._pending.append(item)
        self._queued_bytes += len(data)
        self.stats.received += 1
        self.stats.bytes += len(data)
        if (
            wait
            or len(self._pending) >= self.batch_instances
            or self._queued_bytes >= self.batch_bytes
        ):
            self._flush_inline()
        return item.error if wait else None

    def _flush_inline(self) -> None:
        assert self._db is not None
        try:
            self._flush_pending(self._db)
        except BaseException as exc:
            self._failure = exc
            raise FilingError(f"the library cannot be written: {exc}") from exc

    def _flush_pending(self, db: StudyDatabase) -> None:
        batch = [item for item in self._pending if isinstance(item, _Item)]
        self._pending.clear()
        if batch:
            self._file(db, batch)

    def _check_alive(self) -> None:
        if self._failure is not None:
            raise FilingError(f"the library cannot be written: {self._failure}") from self._failure
        if self._closing:
            raise FilingError("the library filer is closed")

    # --- the worker ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            db = StudyDatabase.open(self.db_path)
        except BaseException as exc:  # noqa: BLE001 - reported to every producer
            self._failure = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while True:
                batch, markers, stop = self._next_batch()
                if batch:
                    self._file(db, batch)
                if markers or stop:
                    self._thumbnails(db)
                    for marker in markers:
                        marker.set()
                if stop:
                    return
        except BaseException as exc:
            log.exception("filing received instances failed")
            with self._condition:
                self._failure = exc
                for entry in self._pending:
                    waiter = entry if isinstance(entry, threading.Event) else entry.done
                    if waiter is not None:
                        waiter.set()
                self._pending.clear()
                self._queued_bytes = 0
                self._condition.notify_all()
        finally:
            db.close()

    def _next_batch(self) -> tuple[list[_Item], list[threading.Event], bool]:
        with self._condition:
            while not self._pending and not self._closing:
                self._condition.wait()
            batch: list[_Item] = []
            markers: list[threading.Event] = []
            size = 0
            while self._pending:
                entry = self._pending[0]
                if isinstance(entry, threading.Event):
                    self._pending.popleft()
                    markers.append(entry)
                    break  # file what came before, then answer the marker
                if batch and (
                    len(batch) >= self.batch_instances or size + len(entry.data) > self.batch_bytes
                ):
                    break
                self._pending.popleft()
                batch.append(entry)
                size += len(entry.data)
            stop = self._closing and not self._pending
            return batch, markers, stop

    def _file(self, db: StudyDatabase, batch: list[_Item]) -> None:
        started = time.perf_counter()
        sources: list[Source] = [
            MemorySource(item.data, f"<received instance {item.number}>") for item in batch
        ]
        report = import_sources(
            db,
            sources,
            copy=True,
            limits=self.limits,
            batch_size=max(1, len(sources)),
            thumbnails=False,
            kept=self._kept,
            memo=self._memo,
        )
        if sum(len(headers) for headers in self._kept.values()) > MAX_KEPT_HEADERS:
            self._kept.clear()  # their thumbnails read the headers back from the database
        failures = {error.path: f"{error.code.value}: {error.message}" for error in report.errors}
        size = sum(len(item.data) for item in batch)
        with self._condition:
            stats = self.stats
            stats.added += report.added + report.updated
            stats.already_present += report.already_present
            stats.non_image += report.non_image
            stats.errors.extend(report.errors)
            stats.series.update(report.series)
            self._unthumbed.update(report.series)
            self._queued_bytes -= size
            self._condition.notify_all()
        for item, source in zip(batch, sources, strict=True):
            item.error = failures.get(source.display)
            item.data = b""
            if item.done is not None:
                item.done.set()
        log.debug(
            "filed %d instance(s) in %.1f ms", len(batch), (time.perf_counter() - started) * 1e3
        )
        if report.series and self.on_series is not None:
            self.on_series(dict(report.series))
        if self.on_filed is not None:
            self.on_filed(len(batch) - len(report.errors), stats)

    def _thumbnails(self, db: StudyDatabase) -> None:
        if self._unthumbed:
            series, self._unthumbed = sorted(self._unthumbed), set()
            kept, self._kept = self._kept, {}
            thumbnails_from_headers(db, series, kept, limits=self.limits)


class LibrarySink:
    """An :class:`~workstation.pacs.source.InstanceSink` that files into a :class:`LibraryFiler`.

    ``put`` does not wait for the instance to be committed (the retrieval drains the filer at
    the end); it counts what it was given.
    """

    def __init__(self, filer: LibraryFiler) -> None:
        self.filer = filer
        self.count = 0

    def put(self, data: bytes) -> None:
        self.filer.put(data)
        self.count += 1
