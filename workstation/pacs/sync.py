"""Background transfers: retrieval into the library (resumable), prefetch of priors, sending.

Resume
------
:func:`retrieve_study` never fetches an instance the library already holds. For each series it
first lists the node's instances (QIDO-RS ``.../instances``, or a C-FIND at the IMAGE level)
and compares their SOP Instance UIDs with the library's:

- nothing local: the whole series is retrieved in one request (WADO-RS series, C-GET/C-MOVE at
  the SERIES level);
- some local: only the missing instances are requested (WADO-RS per instance, C-GET/C-MOVE at
  the IMAGE level with a list of UIDs);
- all local: nothing is requested.

Received instances are filed as they arrive (:class:`~workstation.pacs.filing.LibraryFiler`),
whole or not at all, under hash names; so when the node dies half-way (or the network goes, or
the user cancels) what arrived is kept, nothing is half-written, and the next retrieval — an
automatic retry after a transient failure, or the user's next attempt — fetches just the rest.
A node that cannot list instances gets the whole series asked again; the library still writes
no instance twice.

Jobs
----
:class:`RetrieveJob`, :class:`SendJob` and :class:`PrefetchJob` run in a background thread
(:meth:`Job.start`) or in a :class:`TransferQueue`. A GUI drives them through callbacks —
``job.progressed``, ``job.state_changed``, ``job.finished``, ``job.failed`` — called from the
worker thread (a Qt GUI forwards them with a queued signal), reads ``job.done`` /
``job.total`` / ``job.message`` at any time, and calls :meth:`Job.cancel` from any thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from workstation.core.errors import FileError
from workstation.io.discover import discover
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.sources import FileSource
from workstation.pacs.database import StudyDatabase
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.filing import FilingError, LibraryFiler, LibrarySink
from workstation.pacs.nodes import PrefetchSettings
from workstation.pacs.retry import OnRetry, RetryPolicy, sleep_unless_cancelled
from workstation.pacs.source import (
    Cancel,
    DataSource,
    Progress,
    RemoteStudy,
    StoreReport,
    StudyQuery,
    check_uid,
)

log = logging.getLogger(__name__)

#: SOP classes the library does not hold (no image): listed by the node, never fetched.
_NON_IMAGE_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports, key object selection
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated documents
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, spatial registration (66.4 SEG: see below)
    "1.2.840.10008.5.1.4.1.1.481.",  # RT plans, structures, doses
)
_IMAGE_EXCEPTIONS = ("1.2.840.10008.5.1.4.1.1.66.4",)  # Segmentation holds pixels
_CHUNK = 500

#: Default for retrievals: transient failures are retried twice, after 1 s and 3 s.
RETRIEVE_RETRY = RetryPolicy(attempts=3, initial_delay=1.0, factor=3.0)


def is_non_image(sop_class_uid: str) -> bool:
    """Whether instances of this class are objects the library does not keep (SR, PR...)."""
    if sop_class_uid in _IMAGE_EXCEPTIONS:
        return False
    return sop_class_uid.startswith(_NON_IMAGE_PREFIXES)


def local_instance_uids(db: StudyDatabase, uids: Sequence[str]) -> set[str]:
    """Those of ``uids`` the library holds."""
    found: set[str] = set()
    for start in range(0, len(uids), _CHUNK):
        chunk = list(uids[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        found.update(
            row[0]
            for row in db.connection.execute(
                f"SELECT sop_instance_uid FROM instances WHERE sop_instance_uid IN ({marks})", chunk
            )
        )
    return found


@dataclass
class SeriesTransfer:
    """One series of a retrieval: what the node lists, what was local, what came."""

    series_instance_uid: str
    remote: int = 0
    local_before: int = 0
    fetched: int = 0
    non_image: int = 0
    missing: int = 0
    whole: bool = False
    #: The node's instances were listed (compared one by one with the library).
    listed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "series_instance_uid": self.series_instance_uid,
            "remote": self.remote,
            "local_before": self.local_before,
            "fetched": self.fetched,
            "non_image": self.non_image,
            "missing": self.missing,
        }


@dataclass
class RetrieveReport:
    """What a retrieval did (``workstation pacs retrieve --json`` prints :meth:`to_json`)."""

    node: str
    study_instance_uid: str
    series: list[SeriesTransfer] = field(default_factory=list)
    #: Instances received from the node by this retrieval.
    fetched: int = 0
    #: Of those, new to the library.
    added: int = 0
    #: Images the library held already when the retrieval started.
    already_local: int = 0
    #: Listed objects the library does not keep (SR, presentation states), not fetched.
    non_image: int = 0
    #: Listed images still not in the library at the end.
    missing: int = 0
    errors: list[FileError] = field(default_factory=list)
    attempts: int = 1
    cancelled: bool = False
    seconds: float = 0.0
    bytes: int = 0

    @property
    def complete(self) -> bool:
        return not self.cancelled and self.missing == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "study_instance_uid": self.study_instance_uid,
            "complete": self.complete,
            "fetched": self.fetched,
            "added": self.added,
            "already_local": self.already_local,
            "non_image": self.non_image,
            "missing": self.missing,
            "attempts": self.attempts,
            "cancelled": self.cancelled,
            "seconds": round(self.seconds, 3),
            "series": [s.to_json() for s in self.series],
            "errors": [e.to_json() for e in self.errors],
        }


class RetrievalError(PacsError):
    """A retrieval that gave up; ``report`` says how far it got (what arrived is kept)."""

    def __init__(self, error: PacsError, report: RetrieveReport) -> None:
        super().__init__(error.reason, error.message, node=error.node, attempts=error.attempts)
        self.report = report


class _CountingSink:
    """Puts into the filer and reports overall progress."""

    def __init__(self, sink: LibrarySink, on_instance: Callable[[], None]) -> None:
        self.sink = sink
        self.on_instance = on_instance
        self.count = 0

    def put(self, data: bytes) -> None:
        self.sink.put(data)
        self.count += 1
        self.on_instance()


def retrieve_study(
    source: DataSource,
    study_uid: str,
    series_uid: str | None = None,
    *,
    db_path: Path | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    retry: RetryPolicy = RETRIEVE_RETRY,
    on_retry: OnRetry | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> RetrieveReport:
    """Retrieve a study (or one series) from ``source`` into the library, resuming.

    Transient failures (the node unreachable, silent, or dropping the connection) are retried
    as ``retry`` allows, each attempt fetching only what is still missing.

    Raises
    ------
    RetrievalError
        When the node failed for good (its ``report`` holds the partial counts); instances
        received before the failure stay in the library.
    PacsError
        For a failure before anything was listed (unknown study, refused association...).
    FilingError
        When the library cannot be written.
    """
    check_uid(study_uid, "Study Instance UID")
    if series_uid is not None:
        check_uid(series_uid, "Series Instance UID")
    started = time.perf_counter()
    # Instances that arrive on this thread are filed on it too (see ``filing``: faster).
    inline = bool(getattr(source, "delivers_on_caller_thread", False))
    with (
        StudyDatabase.open(db_path) as db,
        LibraryFiler(db_path, limits=limits, threaded=not inline) as filer,
    ):
        retrieval = _Retrieval(
            source,
            db,
            filer,
            study_uid=study_uid,
            series_uid=series_uid,
            progress=progress,
            cancel=cancel,
        )
        report = retrieval.report
        attempt = 1
        while True:
            try:
                retrieval.one_pass(first=attempt == 1)
                filer.drain()
                if not report.cancelled and retrieval.unverified():
                    retrieval.one_pass(first=False)  # list what came whole, fetch the rest
                break
            except PacsError as error:
                filer.drain()  # keep what arrived
                if not error.transient or attempt >= retry.attempts or _cancelled(cancel):
                    error.attempts = report.attempts = attempt
                    _finish(report, filer, started)
                    if report.series or report.fetched:
                        raise RetrievalError(error, report) from None
                    raise
                attempt += 1
                delay = retry.delay(attempt)
                log.info("retrieval interrupted (%s); retrying in %.1f s", error.reason, delay)
                if on_retry is not None:
                    on_retry(attempt, delay, error)
                if not sleep_unless_cancelled(delay, cancel):
                    report.cancelled = True
                    break
        report.attempts = attempt
        filer.drain()
        _recount(db, report)
        _finish(report, filer, started)
    return report


def _cancelled(cancel: Cancel | None) -> bool:
    return cancel is not None and cancel()


def _finish(report: RetrieveReport, filer: LibraryFiler, started: float) -> None:
    stats = filer.stats
    report.fetched = stats.received
    report.added = stats.added
    report.bytes = stats.bytes
    report.errors = list(stats.errors)
    report.seconds = time.perf_counter() - started


class _Retrieval:
    """The state of one :func:`retrieve_study` across its attempts."""

    def __init__(
        self,
        source: DataSource,
        db: StudyDatabase,
        filer: LibraryFiler,
        *,
        study_uid: str,
        series_uid: str | None,
        progress: Progress | None,
        cancel: Cancel | None,
    ) -> None:
        self.source = source
        self.db = db
        self.study_uid = study_uid
        self.series_uid = series_uid
        self.progress = progress
        self.cancel = cancel
        self.report = RetrieveReport(node=source.name, study_instance_uid=study_uid)
        self.done = 0
        self.total = 0
        self.sink = _CountingSink(LibrarySink(filer), self._tick)

    def _tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))

    def _stop(self) -> bool:
        if _cancelled(self.cancel):
            self.report.cancelled = True
            return True
        return False

    def one_pass(self, *, first: bool) -> None:
        """Compare the node's series with the library, fetch what is missing (one attempt)."""
        source, report = self.source, self.report
        listing = {s.series_instance_uid: s for s in source.find_series(self.study_uid)}
        if self.series_uid is not None:
            series_uids = [self.series_uid]
        else:
            # In series-number order, not the node's: the first series is complete first, so a
            # viewer can open it while the rest still arrives.
            ordered = sorted(
                listing.values(), key=lambda s: (s.series_number is None, s.series_number or 0)
            )
            series_uids = [s.series_instance_uid for s in ordered]
            if not series_uids and first:
                raise PacsError(
                    PacsReason.NOT_FOUND,
                    "the node lists no series for this study",
                    node=source.name,
                )
        plan: list[tuple[SeriesTransfer, list[str] | None]] = []
        known = {s.series_instance_uid: s for s in report.series}
        for uid in series_uids:
            if self._stop():
                return
            transfer = known.get(uid) or SeriesTransfer(uid)
            if uid not in known:
                report.series.append(transfer)
            counted = listing.get(uid)
            if counted is not None and counted.n_instances is not None and not transfer.listed:
                transfer.remote = counted.n_instances
            missing = self._missing(transfer, first=first)
            if missing is None or missing:
                plan.append((transfer, missing))
        if first:
            report.already_local = sum(s.local_before for s in report.series)
            report.non_image = sum(s.non_image for s in report.series)
        self.total = self.done + sum(
            len(missing) if missing is not None else max(0, t.remote - t.local_before)
            for t, missing in plan
        )
        for transfer, missing in plan:
            if self._stop():
                return
            before = self.sink.count
            try:
                source.retrieve(
                    self.study_uid,
                    transfer.series_instance_uid,
                    sink=self.sink,
                    instance_uids=missing,
                    cancel=self.cancel,
                )
            finally:
                transfer.fetched += self.sink.count - before
            if self._stop():
                return

    def _missing(self, transfer: SeriesTransfer, *, first: bool) -> list[str] | None:
        """The series' images not in the library ([] none; None: fetch it whole).

        A series the library holds nothing of is fetched whole without listing its instances
        first (listing costs the node a read of every file); :meth:`unverified` then says
        whether the count that arrived needs a listing after all.
        """
        held = _held(self.db, transfer.series_instance_uid)
        if first:
            transfer.local_before = held
        if held == 0 and not transfer.listed and not transfer.whole:
            transfer.whole = True
            return None
        try:
            listed = self.source.find_instances(self.study_uid, transfer.series_instance_uid)
        except PacsError as error:
            if error.transient:
                raise
            log.warning("the node cannot list a series' instances (%s): whole", error.reason)
            listed = []
        transfer.listed = True
        if not listed:
            transfer.whole = True
            return None if held == 0 else []
        images = [i.sop_instance_uid for i in listed if not is_non_image(i.sop_class_uid)]
        local = local_instance_uids(self.db, images)
        transfer.remote = len(images)
        transfer.non_image = len(listed) - len(images)
        if first:
            transfer.local_before = len(local)
        missing = [uid for uid in images if uid not in local]
        transfer.whole = bool(missing) and not local and transfer.non_image == 0
        return None if transfer.whole else missing

    def unverified(self) -> bool:
        """Whether a series fetched whole without a listing holds fewer than the node counts
        (or the node gave no count): then one more pass lists it and fetches the rest."""
        for transfer in self.report.series:
            if transfer.listed:
                continue
            if (
                transfer.remote <= 0
                or _held(self.db, transfer.series_instance_uid) < transfer.remote
            ):
                return True
        return False


def _held(db: StudyDatabase, series_uid: str) -> int:
    row = db.connection.execute(
        "SELECT count(*) FROM instances WHERE series_uid = ?", (series_uid,)
    ).fetchone()
    return int(row[0])


def _recount(db: StudyDatabase, report: RetrieveReport) -> None:
    """How many of the node's images are still not local (for each series and in all)."""
    for transfer in report.series:
        if transfer.remote:
            transfer.missing = max(0, transfer.remote - _held(db, transfer.series_instance_uid))
    report.missing = sum(s.missing for s in report.series)


# --- sending ---------------------------------------------------------------------------------


def collect_files(
    paths: Sequence[Path], limits: Limits = DEFAULT_LIMITS
) -> tuple[list[Any], list[FileError]]:
    """The objects to send under ``paths`` (files, folders, zip archives), and what is not."""
    items: list[Any] = []
    errors: list[FileError] = []
    for path in paths:
        found = discover(Path(path), limits)
        errors.extend(found.errors)
        for item in found.sources:
            if isinstance(item, FileSource):
                if item.path.name.upper() == "DICOMDIR":
                    continue
                items.append(item.path)
            else:
                with item.reader() as reader:
                    items.append(reader.read_all())
        for archive in found.archives:
            archive.close()
    return items, errors


def send_paths(
    source: DataSource,
    paths: Sequence[Path],
    *,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> StoreReport:
    """Send the DICOM objects under ``paths`` (results: SEG, SR; or any study) to ``source``."""
    items, errors = collect_files(paths)
    if not items and errors:
        raise PacsError(PacsReason.CONFIGURATION, f"nothing to send: {errors[0].message}")
    report = source.store(items, progress=progress, cancel=cancel)
    report.failed[:0] = [(e.path, e.message) for e in errors]
    return report


# --- jobs ------------------------------------------------------------------------------------


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


F = TypeVar("F", bound=Callable[..., Any])


class Signal(Generic[F]):
    """A list of callbacks; a failing callback is logged, never breaks the job."""

    def __init__(self) -> None:
        self._callbacks: list[F] = []
        self._lock = threading.Lock()

    def connect(self, callback: F) -> F:
        with self._lock:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: F) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(*args)
            except Exception:
                log.exception("a job callback failed")


T = TypeVar("T")
_ids = itertools.count(1)
#: What a job is given to open its source in its own thread (or the source itself).
SourceFactory = Callable[[], DataSource]


class Job(Generic[T]):
    """Background work with progress, cancel and callbacks; thread-safe.

    Signals (called from the worker thread):

    - ``progressed(job)`` — ``done``/``total``/``message`` changed;
    - ``state_changed(job)`` — queued → running → finished / failed / cancelled;
    - ``finished(job)`` — success (``result`` is set), also after a cancel that stopped cleanly;
    - ``failed(job)`` — ``error`` is set (a :class:`~workstation.core.errors.WorkstationError`).
    """

    kind = "job"

    def __init__(self, title: str, key: tuple[Any, ...] | None = None) -> None:
        self.id = next(_ids)
        self.title = title
        self.key = key or (self.kind, self.id)
        self.progressed: Signal[Callable[[Job[T]], None]] = Signal()
        self.state_changed: Signal[Callable[[Job[T]], None]] = Signal()
        self.finished: Signal[Callable[[Job[T]], None]] = Signal()
        self.failed: Signal[Callable[[Job[T]], None]] = Signal()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._done_event = threading.Event()
        self._state = JobState.QUEUED
        self.done = 0
        self.total = 0
        self.message = ""
        self.result: T | None = None
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._thread: threading.Thread | None = None
        #: Picked by a :class:`TransferQueue` worker (guarded by the queue's lock).
        self._taken = False

    @property
    def state(self) -> JobState:
        with self._lock:
            return self._state

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop (any thread); a queued job never starts."""
        self._cancel.set()
        with self._lock:
            queued = self._state == JobState.QUEUED
            if queued:
                self._state = JobState.CANCELLED
        if queued:
            self._done_event.set()
            self.state_changed.emit(self)

    def start(self) -> Job[T]:
        """Run in a new daemon thread."""
        self._thread = threading.Thread(target=self.run, name=f"{self.kind}-{self.id}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end; False on timeout."""
        return self._done_event.wait(timeout)

    def run(self) -> None:
        """Run in the calling thread (a queue's worker, or a command line)."""
        with self._lock:
            if self._state != JobState.QUEUED:
                return
            self._state = JobState.RUNNING
            self.started_at = time.time()
        self.state_changed.emit(self)
        try:
            result = self.work()
        except Exception as exc:
            if not isinstance(exc, PacsError | FilingError):
                log.exception("job %s failed", self.title)
            self.error = exc
            self._end(JobState.FAILED)
            self.failed.emit(self)
            return
        self.result = result
        self._end(JobState.CANCELLED if self.is_cancelled else JobState.FINISHED)
        self.finished.emit(self)

    def _end(self, state: JobState) -> None:
        with self._lock:
            self._state = state
            self.finished_at = time.time()
        self._done_event.set()
        self.state_changed.emit(self)

    def report_progress(self, done: int, total: int, message: str | None = None) -> None:
        self.done, self.total = done, total
        if message is not None:
            self.message = message
        self.progressed.emit(self)

    def work(self) -> T:
        raise NotImplementedError

    def __repr__(self) -> str:
        state = f"{self.state.value} {self.done}/{self.total}"
        return f"<{type(self).__name__} {self.id} {self.title!r} {state}>"


def _open(source: DataSource | SourceFactory) -> tuple[DataSource, bool]:
    if callable(source) and not isinstance(source, DataSource):
        return source(), True
    return source, False


class RetrieveJob(Job[RetrieveReport]):
    """Retrieve a study (or a series) into the library in the background, resuming."""

    kind = "retrieve"

    def __init__(
        self,
        source: DataSource | SourceFactory,
        study_uid: str,
        series_uid: str | None = None,
        *,
        node: str = "",
        db_path: Path | None = None,
        retry: RetryPolicy = RETRIEVE_RETRY,
        title: str | None = None,
    ) -> None:
        check_uid(study_uid, "Study Instance UID")
        super().__init__(
            title or f"retrieve {'series' if series_uid else 'study'} from {node or 'node'}",
            key=("retrieve", node, study_uid, series_uid),
        )
        self.source = source
        self.study_uid = study_uid
        self.series_uid = series_uid
        self.db_path = db_path
        self.retry = retry

    def work(self) -> RetrieveReport:
        source, owned = _open(self.source)
        try:
            return retrieve_study(
                source,
                self.study_uid,
                self.series_uid,
                db_path=self.db_path,
                progress=self.report_progress,
                cancel=lambda: self.is_cancelled,
                retry=self.retry,
                on_retry=lambda attempt, delay, error: self.report_progress(
                    self.done,
                    self.total,
                    f"{error.reason.value}: retrying in {delay:.0f} s (attempt {attempt})",
                ),
            )
        finally:
            if owned:
                source.close()


class SendJob(Job[StoreReport]):
    """Send files (results: SEG, SR; or studies) to a node in the background."""

    kind = "send"

    def __init__(
        self,
        source: DataSource | SourceFactory,
        paths: Sequence[Path],
        *,
        node: str = "",
        title: str | None = None,
    ) -> None:
        super().__init__(title or f"send to {node or 'node'}")
        self.source = source
        self.paths = [Path(p) for p in paths]

    def work(self) -> StoreReport:
        source, owned = _open(self.source)
        try:
            return send_paths(
                source,
                self.paths,
                progress=self.report_progress,
                cancel=lambda: self.is_cancelled,
            )
        finally:
            if owned:
                source.close()


class TransferQueue:
    """Runs jobs on a few worker threads, first come first served; one job per key at a time.

    ``job_added(job)`` is emitted (from the submitting thread) for each job accepted.
    """

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.job_added: Signal[Callable[[Job[Any]], None]] = Signal()
        self._jobs: list[Job[Any]] = []
        self._condition = threading.Condition()
        self._closing = False
        self._threads = [
            threading.Thread(target=self._worker, name=f"transfer-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job[T]) -> Job[T]:
        """Queue ``job``; an unfinished job with the same key is returned instead."""
        with self._condition:
            if self._closing:
                raise RuntimeError("the transfer queue is closed")
            for existing in self._jobs:
                if existing.key == job.key and existing.state in (
                    JobState.QUEUED,
                    JobState.RUNNING,
                ):
                    return existing
            self._jobs.append(job)
            self._condition.notify()
        self.job_added.emit(job)
        return job

    def jobs(self) -> list[Job[Any]]:
        with self._condition:
            return list(self._jobs)

    def cancel_all(self) -> None:
        for job in self.jobs():
            job.cancel()

    def close(self, *, cancel: bool = True, timeout: float | None = 30.0) -> None:
        """Stop the workers (cancelling running jobs first unless ``cancel`` is False)."""
        if cancel:
            self.cancel_all()
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _worker(self) -> None:
        while True:
            with self._condition:
                job = None
                while job is None:
                    job = next(
                        (j for j in self._jobs if j.state == JobState.QUEUED and not j._taken),
                        None,
                    )
                    if job is not None:
                        job._taken = True
                        break
                    if self._closing:
                        return
                    self._condition.wait()
            job.run()


# --- prefetch --------------------------------------------------------------------------------


def prior_studies(
    source: DataSource,
    *,
    patient_id: str,
    modalities: Sequence[str],
    study_date: str,
    exclude: str,
    count: int,
    same_modality: bool = True,
) -> list[RemoteStudy]:
    """The patient's ``count`` most recent studies before ``study_date`` on ``source``.

    With ``same_modality`` only studies sharing one of ``modalities``; studies without a date
    come last; ``exclude`` (the current study) is never listed.
    """
    if count <= 0 or not patient_id or any(c in patient_id for c in "*?\\"):
        return []
    queries = (
        [StudyQuery(patient_id=patient_id, modality=m, limit=200) for m in modalities]
        if (same_modality and modalities)
        else [StudyQuery(patient_id=patient_id, limit=200)]
    )
    found: dict[str, RemoteStudy] = {}
    for query in queries:
        for study in source.find_studies(query):
            if study.patient_id == patient_id and study.study_instance_uid != exclude:
                found.setdefault(study.study_instance_uid, study)
    priors = [
        s for s in found.values() if not study_date or not s.study_date or s.study_date < study_date
    ]
    priors.sort(key=lambda s: (s.study_date or "", s.study_time or ""), reverse=True)
    return priors[:count]


class PrefetchJob(Job[list[RetrieveJob]]):
    """Find a study's priors on a node and queue their retrieval (results: the jobs queued)."""

    kind = "prefetch"

    def __init__(
        self,
        source: DataSource | SourceFactory,
        study_uid: str,
        queue: TransferQueue,
        settings: PrefetchSettings,
        *,
        node: str = "",
        db_path: Path | None = None,
        source_for_retrieval: DataSource | SourceFactory | None = None,
        on_queued: Callable[[RetrieveJob], None] | None = None,
    ) -> None:
        super().__init__(
            f"prefetch priors from {node or 'node'}", key=("prefetch", node, study_uid)
        )
        self.source = source
        self.study_uid = study_uid
        self.queue = queue
        self.settings = settings
        self.node = node
        self.db_path = db_path
        self.source_for_retrieval = source_for_retrieval or source
        self.on_queued = on_queued

    def _current(self, source: DataSource) -> RemoteStudy | None:
        with StudyDatabase.open(self.db_path) as db:
            row = db.connection.execute(
                "SELECT p.patient_id, st.study_date FROM studies st "
                "JOIN patients p ON p.id = st.patient WHERE st.study_uid = ?",
                (self.study_uid,),
            ).fetchone()
            if row is not None:
                modalities = tuple(
                    r[0]
                    for r in db.connection.execute(
                        "SELECT DISTINCT modality FROM series "
                        "WHERE study_uid = ? AND modality <> ''",
                        (self.study_uid,),
                    )
                )
                return RemoteStudy(
                    self.study_uid, patient_id=row[0], study_date=row[1], modalities=modalities
                )
        found = source.find_studies(StudyQuery(study_instance_uid=self.study_uid, limit=1))
        return found[0] if found else None

    def work(self) -> list[RetrieveJob]:
        source, owned = _open(self.source)
        try:
            current = self._current(source)
            if current is None or self._cancel.is_set():
                return []
            priors = prior_studies(
                source,
                patient_id=current.patient_id,
                modalities=current.modalities,
                study_date=current.study_date,
                exclude=self.study_uid,
                count=self.settings.priors,
                same_modality=self.settings.same_modality,
            )
        finally:
            if owned:
                source.close()
        queued = []
        for prior in priors:
            if self._cancel.is_set():
                break
            if _complete_locally(prior, self.db_path):
                continue
            job = RetrieveJob(
                self.source_for_retrieval,
                prior.study_instance_uid,
                node=self.node,
                db_path=self.db_path,
                title=f"prefetch prior {prior.study_date or ''} from {self.node or 'node'}".replace(
                    "  ", " "
                ),
            )
            submitted = self.queue.submit(job)
            if isinstance(submitted, RetrieveJob):
                queued.append(submitted)
                if self.on_queued is not None:
                    self.on_queued(submitted)
        self.report_progress(len(queued), len(priors), f"{len(queued)} prior(s) queued")
        return queued


def _complete_locally(study: RemoteStudy, db_path: Path | None) -> bool:
    if study.n_instances is None:
        return False
    with StudyDatabase.open(db_path) as db:
        row = db.connection.execute(
            "SELECT coalesce(sum(n_instances), 0) FROM series WHERE study_uid = ?",
            (study.study_instance_uid,),
        ).fetchone()
    return int(row[0]) >= study.n_instances > 0


class Prefetcher:
    """Prefetch rules: when a study is opened or arrives, queue its priors' retrieval.

    ``study_opened`` / ``study_arrived`` return at once (the queries run as a
    :class:`PrefetchJob` in ``queue``). Studies that arrive *because* of a prefetch do not
    trigger one themselves (no cascade through the patient's whole history).
    """

    def __init__(
        self,
        queue: TransferQueue,
        source: DataSource | SourceFactory,
        settings: PrefetchSettings,
        *,
        node: str = "",
        db_path: Path | None = None,
    ) -> None:
        self.queue = queue
        self.source = source
        self.settings = settings
        self.node = node or settings.node
        self.db_path = db_path
        self._prefetched: set[str] = set()
        #: When each study last triggered a prefetch: a study arriving in several batches, or
        #: opened again soon after, triggers one.
        self._triggered: dict[str, float] = {}
        self.retrigger_after = 600.0
        self._lock = threading.Lock()

    def study_opened(self, study_uid: str) -> PrefetchJob | None:
        return self._trigger(study_uid) if self.settings.on_open else None

    def study_arrived(self, study_uid: str) -> PrefetchJob | None:
        return self._trigger(study_uid) if self.settings.on_arrival else None

    def series_arrived(self, series: dict[str, str]) -> None:
        """For :class:`~workstation.pacs.scp.StorageSCP`'s ``on_series``: each new study."""
        for study_uid in dict.fromkeys(series.values()):
            self.study_arrived(study_uid)

    def _trigger(self, study_uid: str) -> PrefetchJob | None:
        if not self.settings.enabled or self.settings.priors <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            if study_uid in self._prefetched:
                return None
            last = self._triggered.get(study_uid)
            if last is not None and now - last < self.retrigger_after:
                return None
            self._triggered[study_uid] = now

        def remember(job: RetrieveJob) -> None:
            with self._lock:
                self._prefetched.add(job.study_uid)

        job = PrefetchJob(
            self.source,
            study_uid,
            self.queue,
            self.settings,
            node=self.node,
            db_path=self.db_path,
            on_queued=remember,
        )
        submitted = self.queue.submit(job)
        return submitted if isinstance(submitted, PrefetchJob) else None
