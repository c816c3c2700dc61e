"""Binds the PACS browser and the transfer panel to the PACS layer.

- One :class:`~workstation.pacs.sync.TransferQueue` per application. Its jobs call back from
  worker threads; every callback is handed to the GUI thread through a queued Qt signal, and a
  short timer keeps the rows current between callbacks (progress is throttled at the source).
- Searches, series listings and echoes run in daemon threads, each opening its own source
  (sources are used from one thread at a time); the GUI thread never waits for a node. A
  newer search makes the answer of an older one stale: it is dropped.
- "Retrieve and open" opens the study's first series as soon as the library holds all of its
  images (the node's count), without waiting for the rest; the Studies browser is refreshed as
  series arrive.
- The storage SCP starts with the application when the settings enable it, in a thread (it
  imports pynetdicom and binds a port); a port in use is a message, never a failure of the
  app. Studies it receives refresh the Studies browser and trigger the prefetch of priors, as
  does opening a study.
- Sending (AI results, a whole study) asks which node, then runs as a job in the same queue.

Modules of the PACS layer that pull in httpx or pynetdicom are imported inside functions, off
the GUI thread, so building the window stays light.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QInputDialog, QLineEdit, QWidget

from workstation.app.early_imports import DICOM, DIMSE, settle_imports
from workstation.app.pacs_text import (
    describe_error,
    empty_text,
    node_detail,
    retrieve_outcome,
    send_outcome,
    site_config_hint,
    study_subject,
)
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.nodes import Node, PacsSettings, load_settings
from workstation.pacs.retry import NO_RETRY
from workstation.pacs.source import RemoteSeries, RemoteStudy, StoreReport, StudyQuery
from workstation.pacs.sync import (
    Job,
    JobState,
    PrefetchJob,
    RetrieveJob,
    RetrieveReport,
    SendJob,
    TransferQueue,
)
from workstation.ui.remote_browser import (
    NodeChoice,
    RemoteBrowser,
    RemoteSeriesRow,
    RemoteStudyRow,
    SearchFilters,
)
from workstation.ui.transfers_panel import TransferRow, TransfersPanel

if TYPE_CHECKING:
    from workstation.pacs.database import StudyDatabase
    from workstation.pacs.scp import StorageSCP
    from workstation.pacs.source import DataSource
    from workstation.pacs.sync import Prefetcher

log = logging.getLogger(__name__)

#: Seconds between two progress callbacks of one job forwarded to the GUI thread.
PROGRESS_INTERVAL = 0.1
#: Milliseconds between refreshes of the rows and of "is the first series complete?".
TICK_MS = 250
#: The Studies browser is rebuilt when it lists something again (its selection goes), so it is
#: listed again when a new series arrives (at most every ``LIBRARY_REFRESH_MS``), and once
#: more when arrivals have stopped for ``LIBRARY_SETTLE_MS`` (the final counts).
LIBRARY_REFRESH_MS = 1500
LIBRARY_SETTLE_MS = 3000
_ENDED = (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED)


@dataclass
class _Tracked:
    """A job as the binding follows it."""

    job: Job[Any]
    node: str = ""
    subject: str = ""
    #: Retrievals the reader wants to see: open the first complete series.
    open_after: bool = False
    study_uid: str = ""
    #: The series this retrieval brings ([]: the whole study).
    series: list[str] = field(default_factory=list)
    opened: bool = False
    ended: bool = False


class _Relay(QObject):
    """Carries calls from worker threads to the GUI thread (a queued connection)."""

    call = Signal(object)


class PacsBinding(QObject):
    """The PACS browser and the transfer panel, wired to nodes, the queue, the SCP, the library.

    Parameters
    ----------
    database:
        The library's connection of the GUI thread (None: the library is unavailable, so
        nothing can be retrieved or received).
    open_series:
        Opens library series in the viewer (``Services.open_series``).
    refresh_library:
        Lists the library again (the Studies browser's ``refresh``).
    status:
        A short message for the status bar.
    settings_loader:
        Reads the merged PACS settings (the site file and the user's), off the GUI thread.
    """

    #: Nodes were read: whether at least one is configured (sending is possible).
    nodes_changed = Signal(bool)
    #: The settings were read and the SCP and prefetcher set up (or refused): ready to use.
    started = Signal()

    def __init__(
        self,
        browser: RemoteBrowser,
        transfers: TransfersPanel,
        *,
        database: StudyDatabase | None,
        open_series: Callable[[list[str]], Any],
        refresh_library: Callable[[], None],
        status: Callable[[str], None],
        settings_loader: Callable[[], PacsSettings] = load_settings,
        dialog_parent: QWidget | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.browser = browser
        self.transfers = transfers
        self.database = database
        self.db_path = database.path if database is not None else None
        self.open_series = open_series
        self.refresh_library = refresh_library
        self.status = status
        self.settings_loader = settings_loader
        self.dialog_parent = dialog_parent or browser
        self.settings = PacsSettings()
        self.ready = False
        self.queue = TransferQueue(workers=2)
        self.scp: StorageSCP | None = None
        self.prefetcher: Prefetcher | None = None
        self.received = 0
        self._tracked: dict[int, _Tracked] = {}
        self._series_listed: dict[tuple[str, str], list[RemoteSeries]] = {}
        self._studies_listed: dict[tuple[str, str], RemoteStudy] = {}
        self._tickets: dict[str, int] = {}
        #: Passwords or tokens typed in this session, by node (never written anywhere).
        self._secrets: dict[str, str] = {}
        self._last_forward: dict[int, float] = {}
        self._closed = False
        self._lock = threading.Lock()
        self._relay = _Relay()
        self._relay.call.connect(self._run_on_gui, Qt.ConnectionType.QueuedConnection)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        self._library_timer = QTimer(self)
        self._library_timer.setSingleShot(True)
        self._library_timer.setInterval(LIBRARY_REFRESH_MS)
        self._library_timer.timeout.connect(self._refresh_library_now)
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(LIBRARY_SETTLE_MS)
        self._settle_timer.timeout.connect(self._refresh_library_now)
        #: Series the Studies browser was asked to show (a new one lists it again).
        self._announced: set[str] = set()
        self.queue.job_added.connect(self._job_added)

        browser.search_requested.connect(self.search)
        browser.echo_requested.connect(self.echo)
        browser.series_requested.connect(self.list_series)
        browser.retrieve_requested.connect(self.retrieve)
        transfers.cancel_requested.connect(self.cancel)
        transfers.retry_requested.connect(self.retry)
        transfers.cleared.connect(self._forget)

    # --- threads ------------------------------------------------------------------------------

    def _post(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the GUI thread (from any thread); dropped once shut down."""
        if self._closed:
            return
        with contextlib.suppress(RuntimeError):  # the relay is gone: the app is closing
            self._relay.call.emit(call)

    def _run_on_gui(self, call: Callable[[], None]) -> None:
        if not self._closed:
            call()

    def _in_thread(
        self,
        name: str,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        """``work()`` in a daemon thread; ``done(result)`` or ``failed(error)`` on the GUI one."""

        def run() -> None:
            try:
                settle_imports(DICOM, DIMSE)
                result = work()
            except Exception as error:
                if not isinstance(error, PacsError):
                    log.exception("%s failed", name)
                self._post(partial(failed, error))
                return
            self._post(partial(done, result))

        threading.Thread(target=run, name=f"pacs-{name}", daemon=True).start()

    def _ticket(self, what: str) -> int:
        self._tickets[what] = self._tickets.get(what, 0) + 1
        return self._tickets[what]

    def _current(self, what: str, ticket: int) -> bool:
        return self._tickets.get(what) == ticket

    # --- start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        """Read the settings, start the storage SCP and the prefetch rules (in a thread)."""
        if self._closed:
            return
        threading.Thread(target=self._start_services, name="pacs-start", daemon=True).start()

    def _start_services(self) -> None:
        try:
            settle_imports(DICOM, DIMSE)
            settings = self.settings_loader()
        except Exception as error:  # noqa: BLE001 - unreadable settings leave the app working
            log.warning("PACS settings not read: %s", error)
            settings = PacsSettings(warnings=(f"the PACS settings could not be read: {error}",))
        site_hint = site_config_hint(settings)
        self._post(partial(self._on_settings, settings, site_hint))
        scp, scp_text, scp_ok = self._start_scp(settings)
        prefetcher, prefetch_problem = None, ""
        try:
            from workstation.pacs.connect import prefetcher_for

            node = settings.prefetch.node
            prefetcher = prefetcher_for(
                settings,
                self.queue,
                db_path=self.db_path,
                prompt=lambda _text: self._secrets.get(node),
                scp=scp,
            )
        except PacsError as error:
            prefetch_problem = f"Prefetch of priors is off: {describe_error(error)[0]}"
        except Exception as error:
            log.exception("prefetch rules not set up")
            prefetch_problem = f"Prefetch of priors is off: {describe_error(error)[0]}"
        with self._lock:
            if self._closed:
                if scp is not None:
                    scp.stop()
                return
            self.scp = scp
        self._post(partial(self._on_started, prefetcher, scp_text, scp_ok, prefetch_problem))

    def _start_scp(self, settings: PacsSettings) -> tuple[StorageSCP | None, str, bool]:
        if not settings.scp_enabled:
            return None, "Not receiving: the storage SCP is off in the settings", True
        if self.database is None:
            return None, "Not receiving: the local library is unavailable", False
        from workstation.pacs.connect import storage_scp_for

        scp = storage_scp_for(settings, db_path=self.db_path, on_series=self._scp_series)
        if scp is None:
            return None, "Not receiving: the storage SCP is off in the settings", True
        try:
            scp.start()
        except PacsError as error:
            log.warning("storage SCP not started: %s", error.reason)
            return None, f"Not receiving: {error.message}", False
        except Exception as error:
            log.exception("storage SCP not started")
            return None, f"Not receiving: {describe_error(error)[0]}", False
        return scp, f"Receiving as {scp.ae_title} on port {scp.port}", True

    def _on_settings(self, settings: PacsSettings, site_hint: str) -> None:
        self.settings = settings
        choices = [NodeChoice(node.name, node_detail(node)) for node in settings.nodes]
        self.browser.set_nodes(choices, empty_text(settings, site_hint))
        if settings.warnings and choices:
            self.browser.show_message(
                f"{len(settings.warnings)} problem(s) in the PACS settings: {settings.warnings[0]}",
                "error",
                "\n".join(settings.warnings),
            )
        self.nodes_changed.emit(bool(choices))

    def _on_started(
        self, prefetcher: Prefetcher | None, scp_text: str, scp_ok: bool, prefetch_problem: str
    ) -> None:
        self.prefetcher = prefetcher
        self.transfers.set_receiver(scp_text, scp_ok)
        if not scp_ok:
            self.status(scp_text)
        if prefetch_problem:
            self.status(prefetch_problem)
        self.ready = True
        self.started.emit()

    def shutdown(self) -> None:
        """Cancel the transfers, stop the SCP (what arrived stays in the library)."""
        with self._lock:
            self._closed = True
            scp, self.scp = self.scp, None
        self._tick.stop()
        self._library_timer.stop()
        self._settle_timer.stop()
        self.queue.close(cancel=True, timeout=10.0)
        if scp is not None:
            scp.stop()

    # --- sources ------------------------------------------------------------------------------

    def node(self, name: str) -> Node:
        return self.settings.node(name)

    def _open(self, name: str, **options: Any) -> DataSource:
        """A source for a configured node (call in a worker thread: it may import httpx)."""
        from workstation.pacs.connect import open_source

        return open_source(
            self.settings.node(name),
            self.settings,
            prompt=lambda _text: self._secrets.get(name),
            scp=self.scp,
            db_path=self.db_path,
            **options,
        )

    def _factory(self, name: str) -> Callable[[], DataSource]:
        """What a job opens its source with, in its own thread."""
        node = self.settings.node(name)
        settings = self.settings

        def make() -> DataSource:
            from workstation.pacs.connect import open_source

            return open_source(
                node,
                settings,
                prompt=lambda _text: self._secrets.get(node.name),
                scp=self.scp,
                db_path=self.db_path,
            )

        return make

    def _ask_secret(self, name: str) -> bool:
        """Ask for a node's password or token (kept in memory for this session only)."""
        try:
            node = self.settings.node(name)
        except PacsError:
            return False
        if node.auth == "none":
            return False
        what = "Password" if node.auth == "basic" else "Token"
        who = f"{node.username}@{node.name}" if node.username else node.name
        text, ok = QInputDialog.getText(
            self.dialog_parent,
            f"{what} for {node.name}",
            f"{what} for {who} (kept until the application closes;\n"
            "`workstation pacs login` stores it in the keyring):",
            QLineEdit.EchoMode.Password,
        )
        if ok and text:
            self._secrets[node.name] = text
            return True
        return False

    def _retry_with_secret(self, name: str, error: BaseException, asked: bool) -> bool:
        """After "unauthorized" from a node with credentials: ask once, then try again."""
        if asked or not isinstance(error, PacsError) or error.reason is not PacsReason.UNAUTHORIZED:
            return False
        self._secrets.pop(name, None)
        return self._ask_secret(name)

    # --- echo, search, series -----------------------------------------------------------------

    def echo(self, name: str) -> None:
        def work() -> float:
            # One attempt: an echo says how the node answers now, not after retries.
            source = self._open(name, retry=NO_RETRY)
            try:
                return source.echo()
            finally:
                source.close()

        def done(seconds: float) -> None:
            self.browser.show_echo(f"{name}: OK · {seconds * 1000:.0f} ms", True)

        def failed(error: BaseException) -> None:
            if self._retry_with_secret(name, error, False):
                self.echo(name)
                return
            line, hint = describe_error(error)
            self.browser.show_echo(line, False, hint)

        self._in_thread("echo", work, done, failed)

    def search(self, name: str, filters: SearchFilters, *, asked: bool = False) -> None:
        try:
            query = StudyQuery(
                patient_name=filters.patient_name,
                patient_id=filters.patient_id,
                accession_number=filters.accession,
                study_date_from=filters.date_from,
                study_date_to=filters.date_to,
                modality=filters.modality,
            )
        except ValueError as error:
            self.browser.show_message(f"Not searched: {error}", "error")
            return
        ticket = self._ticket("search")

        def on_retry(attempt: int, delay: float, error: PacsError) -> None:
            text = f"{describe_error(error)[0]} — trying again in {delay:.1f} s (attempt {attempt})"

            def show() -> None:
                if self._current("search", ticket):
                    self.browser.show_message(text, "busy")

            self._post(show)

        def work() -> list[RemoteStudy]:
            source = self._open(name, on_retry=on_retry)
            try:
                found = source.find_studies(query)
            finally:
                source.close()
            # Newest first, as reading lists are: nodes answer in their own storage order.
            found.sort(key=lambda s: (s.study_date, s.study_time), reverse=True)
            return found

        def done(studies: list[RemoteStudy]) -> None:
            if not self._current("search", ticket):
                return
            for study in studies:
                self._studies_listed[(name, study.study_instance_uid)] = study
            counts = self._local_counts([s.study_instance_uid for s in studies])
            rows = [
                RemoteStudyRow(
                    study_instance_uid=s.study_instance_uid,
                    patient_name=s.patient_name,
                    patient_id=s.patient_id,
                    study_date=s.study_date,
                    description=s.study_description,
                    accession=s.accession_number,
                    modalities=s.modalities,
                    n_series=s.n_series,
                    n_instances=s.n_instances,
                    local_instances=sum(counts.get(s.study_instance_uid, {}).values()),
                )
                for s in studies
            ]
            noun = "study" if len(rows) == 1 else "studies"
            message = f"{len(rows)} {noun} on {name}"
            if len(rows) >= query.limit:
                message = (
                    f"The first {len(rows)} studies on {name}: narrow the search to see others"
                )
            self.browser.show_studies(rows, message)

        def failed(error: BaseException) -> None:
            if not self._current("search", ticket):
                return
            if self._retry_with_secret(name, error, asked):
                self.search(name, filters, asked=True)
                return
            line, hint = describe_error(error)
            self.browser.show_message(line, "error", hint)

        self._in_thread("search", work, done, failed)

    def list_series(self, name: str, study_uid: str, *, asked: bool = False) -> None:
        def work() -> list[RemoteSeries]:
            source = self._open(name)
            try:
                return source.find_series(study_uid)
            finally:
                source.close()

        def done(series: list[RemoteSeries]) -> None:
            series = sorted(series, key=lambda s: (s.series_number is None, s.series_number or 0))
            self._series_listed[(name, study_uid)] = series
            if self.browser.current_node() != name:
                return
            held = self._local_counts([study_uid]).get(study_uid, {})
            self.browser.show_series(
                study_uid,
                [
                    RemoteSeriesRow(
                        series_instance_uid=s.series_instance_uid,
                        study_instance_uid=study_uid,
                        number=s.series_number,
                        modality=s.modality,
                        description=s.series_description,
                        n_instances=s.n_instances,
                        local_instances=held.get(s.series_instance_uid, 0),
                    )
                    for s in series
                ],
            )
            self._check_opening()

        def failed(error: BaseException) -> None:
            if self._retry_with_secret(name, error, asked):
                self.list_series(name, study_uid, asked=True)
                return
            if self.browser.current_node() == name:
                self.browser.series_failed(study_uid, describe_error(error)[0])

        self._in_thread("series", work, done, failed)

    # --- the library --------------------------------------------------------------------------

    def _local_counts(self, study_uids: list[str]) -> dict[str, dict[str, int]]:
        """Images the library holds, by study then series (a quick local query)."""
        found: dict[str, dict[str, int]] = {}
        if self.database is None or not study_uids:
            return found
        connection = self.database.connection
        for start in range(0, len(study_uids), 500):
            chunk = study_uids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for study, series, count in connection.execute(
                f"SELECT study_uid, series_uid, n_instances FROM series "
                f"WHERE study_uid IN ({marks}) ORDER BY number IS NULL, number, series_uid",
                chunk,
            ):
                found.setdefault(study, {})[series] = int(count)
        return found

    def _library_changed(self, series: set[str] | dict[str, str]) -> None:
        """Instances of ``series`` reached the library: list it again if one is new to it."""
        self._settle_timer.start()
        new = set(series) - self._announced
        if new:
            self._announced |= new
            if not self._library_timer.isActive():
                self._library_timer.start()

    def _refresh_library_now(self) -> None:
        self._library_timer.stop()
        self._settle_timer.stop()
        self.refresh_library()
        listed = self.browser.study_uids()
        counts = self._local_counts(listed)
        for study in listed:
            series = counts.get(study, {})
            self.browser.update_local(study, sum(series.values()), series)

    def _scp_series(self, series: dict[str, str]) -> None:
        """From the SCP's filer thread: instances of these series (→ study) were filed."""
        self._post(partial(self._on_arrived, dict(series)))

    def _on_arrived(self, series: dict[str, str]) -> None:
        self.received += len(series)
        studies = len(set(series.values()))
        noun = "study" if studies == 1 else "studies"
        self.status(f"Received images of {len(series)} series ({studies} {noun}) from the network")
        self._library_changed(series)
        if self.prefetcher is not None:
            self.prefetcher.series_arrived(series)

    def study_opened(self, study_uid: str) -> None:
        """A study was opened in the viewer: prefetch its priors when the rules say so."""
        if self.prefetcher is not None and study_uid:
            self.prefetcher.study_opened(study_uid)

    # --- transfers ----------------------------------------------------------------------------

    def retrieve(
        self, name: str, study_uid: str, series_uids: list[str], open_after: bool
    ) -> list[Job[Any]]:
        """Queue the retrieval of a study (or of some of its series) into the library."""
        if self.database is None:
            self.browser.show_message(
                "The local library is unavailable: nothing can be retrieved", "error"
            )
            return []
        try:
            make = self._factory(name)
        except PacsError as error:
            self.browser.show_message(describe_error(error)[0], "error")
            return []
        subject = study_subject(self._studies_listed.get((name, study_uid)))
        listed = {s.series_instance_uid: s for s in self._series_listed.get((name, study_uid), [])}
        jobs: list[Job[Any]] = []
        wanted: list[str | None] = list(series_uids) or [None]
        for series_uid in wanted:
            shown = subject
            if series_uid is not None:
                found = listed.get(series_uid)
                what = (
                    f"series #{found.series_number} {found.series_description}".strip()
                    if found is not None and found.series_number is not None
                    else "series"
                )
                shown = f"{subject} · {what}" if subject else what
            # Titles name no patient: the job's title may reach the log.
            job = RetrieveJob(
                make,
                study_uid,
                series_uid,
                node=name,
                db_path=self.db_path,
                title=f"Retrieve {'series' if series_uid else 'study'} from {name}",
            )
            submitted = self._submit(job, node=name, subject=shown)
            tracked = self._tracked[submitted.id]
            tracked.study_uid = study_uid
            tracked.series = [series_uid] if series_uid else []
            if open_after and not tracked.open_after:
                tracked.open_after = True
                tracked.opened = False
            jobs.append(submitted)
        if open_after and (name, study_uid) not in self._series_listed:
            self.list_series(name, study_uid)  # the counts say when a series is complete
        self.browser.show_message(
            f"Retrieving from {name}: see Transfers"
            + (" (the study opens when its first series is here)" if open_after else ""),
            "busy",
        )
        self._check_opening()
        return jobs

    def send(self, paths: list[Path], name: str, subject: str = "") -> Job[Any] | None:
        """Queue sending ``paths`` (files or folders) to a node."""
        try:
            make = self._factory(name)
        except PacsError as error:
            self.status(describe_error(error)[0])
            return None
        count = len(paths)
        job = SendJob(
            make, paths, node=name, title=f"Send {count} file{'s' if count != 1 else ''} to {name}"
        )
        return self._submit(job, node=name, subject=subject)

    def choose_node(self, label: str) -> str | None:
        """Ask which configured node (a small dialog); None when cancelled or none exists."""
        names = [node.name for node in self.settings.nodes]
        if not names:
            self.status("No PACS node is configured (see the PACS tab)")
            return None
        current = self.browser.current_node()
        index = names.index(current) if current in names else 0
        name, ok = QInputDialog.getItem(
            self.dialog_parent, "Send to PACS", label, names, index, False
        )
        return str(name) if ok and name else None

    def ask_and_send(self, paths: list[Path], subject: str = "") -> Job[Any] | None:
        """The Send buttons: which node, then a send job in the transfer panel."""
        if not paths:
            return None
        count = len(paths)
        name = self.choose_node(f"Send {count} file{'s' if count != 1 else ''} to:")
        if name is None:
            return None
        return self.send(paths, name, subject)

    def _submit(self, job: Job[Any], *, node: str, subject: str) -> Job[Any]:
        submitted = self.queue.submit(job)
        tracked = self._tracked.get(submitted.id)
        if tracked is None:
            tracked = _Tracked(submitted, node=node, subject=subject)
            self._tracked[submitted.id] = tracked
        elif subject and not tracked.subject:
            tracked.subject = subject
        self._show(tracked)
        self._tick.start()
        return submitted

    def _job_added(self, job: Job[Any]) -> None:
        """From the submitting thread (ours, or a prefetch job's): follow the job."""
        forward = partial(self._forward, job)
        job.progressed.connect(forward)
        job.state_changed.connect(partial(self._forward, job, force=True))
        self._post(partial(self._adopt, job))

    def _forward(self, job: Job[Any], _job: object = None, *, force: bool = False) -> None:
        """A job callback (worker thread): redraw its row on the GUI thread, throttled."""
        now = time.monotonic()
        if not force and now - self._last_forward.get(job.id, 0.0) < PROGRESS_INTERVAL:
            return
        self._last_forward[job.id] = now
        self._post(partial(self._job_changed, job))

    def _adopt(self, job: Job[Any]) -> None:
        if job.id not in self._tracked:
            # A prefetch's retrievals name their node in their key: ("retrieve", node, ...).
            node = getattr(job, "node", "") or (
                str(job.key[1]) if isinstance(job, RetrieveJob) else ""
            )
            self._tracked[job.id] = _Tracked(job, node=node)
        self._job_changed(job)
        self._tick.start()

    def _job_changed(self, job: Job[Any]) -> None:
        tracked = self._tracked.get(job.id)
        if tracked is None:
            return
        self._show(tracked)
        if job.state in _ENDED and not tracked.ended:
            tracked.ended = True
            self._job_ended(tracked)

    def _job_ended(self, tracked: _Tracked) -> None:
        job = tracked.job
        if isinstance(job, RetrieveJob):
            self._refresh_library_now()
            self._check_opening()
            if job.state is JobState.FAILED and job.error is not None:
                self.status(f"Retrieval from {tracked.node} failed: {describe_error(job.error)[0]}")
            elif job.state is JobState.FINISHED:
                self.status(f"Retrieved from {tracked.node}: {tracked.subject or 'study'}")
        elif isinstance(job, SendJob) and job.state is JobState.FINISHED:
            report = job.result
            if isinstance(report, StoreReport):
                self.status(f"{send_outcome(report)[0]} to {tracked.node}")
        elif job.state is JobState.FAILED and job.error is not None:
            self.status(f"{job.title} failed: {describe_error(job.error)[0]}")

    def _on_tick(self) -> None:
        active = False
        for tracked in list(self._tracked.values()):
            if not tracked.ended:
                self._job_changed(tracked.job)
                active = active or not tracked.ended
            job = tracked.job
            if isinstance(job, RetrieveJob) and job.state is JobState.RUNNING and job.done:
                held = self._local_counts([job.study_uid]).get(job.study_uid, {})
                self._library_changed({uid for uid, count in held.items() if count})
        self._check_opening()
        if not active:
            self._tick.stop()

    def _row(self, tracked: _Tracked) -> TransferRow:
        job = tracked.job
        state = job.state.value
        message = job.message
        notice = "retry" in message
        retryable = False
        if job.state is JobState.RUNNING and job.is_cancelled:
            state = "cancelling"
        elif job.state is JobState.FAILED:
            message, _ = describe_error(job.error) if job.error else ("failed", "")
            retryable = True
        elif job.state is JobState.CANCELLED:
            retryable = True
            kept = job.done
            message = (
                f"Cancelled after {kept} received: Resume fetches only what is missing"
                if isinstance(job, RetrieveJob)
                else "Cancelled"
            )
        elif job.state is JobState.FINISHED:
            if isinstance(job.result, RetrieveReport):
                message, notice = retrieve_outcome(job.result)
            elif isinstance(job.result, StoreReport):
                message, notice = send_outcome(job.result)
                if job.result.failed and not job.result.sent:
                    state, retryable = "failed", True
        title = job.title[:1].upper() + job.title[1:]
        return TransferRow(
            id=job.id,
            kind=job.kind,
            title=title,
            subject=tracked.subject,
            state=state,
            done=job.done,
            total=job.total,
            message=message,
            retryable=retryable,
            notice=notice,
        )

    def _show(self, tracked: _Tracked) -> None:
        self.transfers.update_row(self._row(tracked))

    def cancel(self, job_id: int) -> None:
        tracked = self._tracked.get(job_id)
        if tracked is not None:
            tracked.job.cancel()
            self._show(tracked)

    def retry(self, job_id: int) -> Job[Any] | None:
        """Run a failed or cancelled job again: a retrieval fetches only what is missing."""
        tracked = self._tracked.get(job_id)
        if tracked is None or tracked.job.state not in _ENDED:
            return None
        old = tracked.job
        new: Job[Any]
        if isinstance(old, RetrieveJob):
            new = RetrieveJob(
                old.source,
                old.study_uid,
                old.series_uid,
                node=tracked.node,
                db_path=old.db_path,
                retry=old.retry,
                title=old.title,
            )
        elif isinstance(old, SendJob):
            new = SendJob(old.source, old.paths, node=tracked.node, title=old.title)
        elif isinstance(old, PrefetchJob):
            new = PrefetchJob(
                old.source,
                old.study_uid,
                old.queue,
                old.settings,
                node=old.node,
                db_path=old.db_path,
                source_for_retrieval=old.source_for_retrieval,
                on_queued=old.on_queued,
            )
        else:
            return None
        self.transfers.remove(job_id)
        del self._tracked[job_id]
        submitted = self._submit(new, node=tracked.node, subject=tracked.subject)
        follow = self._tracked[submitted.id]
        follow.study_uid, follow.series = tracked.study_uid, tracked.series
        follow.open_after, follow.opened = tracked.open_after, tracked.opened
        return submitted

    def _forget(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self._tracked.pop(job_id, None)
            self._last_forward.pop(job_id, None)

    # --- opening what arrives -----------------------------------------------------------------

    def _check_opening(self) -> None:
        """Open each watched retrieval's first complete series (all of it when it ended)."""
        for tracked in list(self._tracked.values()):
            if tracked.open_after and not tracked.opened:
                self._open_if_complete(tracked)

    def _open_if_complete(self, tracked: _Tracked) -> None:
        held = self._local_counts([tracked.study_uid]).get(tracked.study_uid, {})
        listed = self._series_listed.get((tracked.node, tracked.study_uid))
        expected = {s.series_instance_uid: s.n_instances for s in listed or []}
        order = [s.series_instance_uid for s in listed or []] + list(held)
        targets = [
            uid for uid in dict.fromkeys(order) if not tracked.series or uid in tracked.series
        ]
        ended = tracked.job.state in _ENDED
        complete = [
            uid
            for uid in targets
            if held.get(uid, 0) > 0 and (ended or 0 < (expected.get(uid) or 0) <= held[uid])
        ]
        if not complete:
            if ended:
                tracked.opened = True  # nothing arrived: nothing to open
            return
        tracked.opened = True
        # While the rest still arrives, the first complete series opens alone; when the
        # whole retrieval is done before any could open, its series open together.
        chosen = complete if ended else complete[:1]
        self.open_series(chosen)
        if not ended:
            self.status("First series open; the rest of the study arrives in Studies")
