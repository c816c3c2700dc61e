"""The collaboration panel bound to the sync service (:mod:`workstation.collab.session`).

:class:`CollaborationBinding` owns the :class:`~workstation.collab.session.Collaboration` of
the viewer's annotation store. Its callbacks run on the sync thread; each is re-emitted here as
a queued Qt signal, so the panel and the scene are only ever touched on the GUI thread, and
remote changes reach the open viewports through ``attach_scene`` with a dispatch onto that
thread. Every call that may wait on the network (sign-in, resuming a kept token, sign-out,
the directory, sharing, the shared list, downloads) runs on a worker thread and reports back
as one line in the panel.

App start stays light: this module imports neither httpx nor websockets; the session module
(and with it httpx, about half a second) is imported on the thread that resumes the kept
sign-in, after the window is up.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

from workstation.app import collab_settings
from workstation.app.collab_files import ShareFiles, collect_share_files
from workstation.app.collab_settings import CollabSettings, TokenVault
from workstation.app.collab_text import (
    ShareStoppedError,
    conflict_row,
    describe_error,
    name_of,
    network_problem,
    size_text,
    when,
)
from workstation.app.early_imports import DICOM, settle_imports
from workstation.app.late_panels import reserve_collaboration_dock
from workstation.collab.store import AnnotationStore
from workstation.core.annotations import Annotation
from workstation.core.errors import WorkstationError
from workstation.core.scene import Scene
from workstation.ui.collab_panel import (
    AUTH_EXPIRED,
    OFFLINE,
    ONLINE,
    SIGNED_OUT,
    CollabPanel,
    CommentRow,
    ShareDialog,
    SharedRow,
    ShareTargetRow,
)

if TYPE_CHECKING:
    from workstation.app.composition import Services
    from workstation.collab.client import RemoteUser
    from workstation.collab.outbox import Comment
    from workstation.collab.session import Collaboration
    from workstation.collab.sharing import SharedCase, ShareTarget
    from workstation.ui.main_window import MainWindow

log = logging.getLogger(__name__)

_QUEUED = Qt.ConnectionType.QueuedConnection


# --- worker threads ---------------------------------------------------------------------------


class _Task(QObject):
    """One call on a worker thread; its outcome and progress arrive as queued signals."""

    done = Signal(object)
    failed = Signal(str)
    progress = Signal(int, int)

    def __init__(
        self,
        work: Callable[[_Task], Any],
        name: str,
        parent: QObject,
        imports: tuple[str, ...] = (),
    ) -> None:
        super().__init__(parent)
        self.work = work
        self.imports = imports  # packages to import whole before the work (see early_imports)
        self.stop = threading.Event()
        self.worker = threading.Thread(target=self._run, name=f"collab-{name}", daemon=True)

    def _run(self) -> None:
        try:
            settle_imports(*self.imports)
            result = self.work(self)
        except BaseException as exc:  # noqa: BLE001 - reported in the panel, never raised
            outcome, value = self.failed, describe_error(exc)
        else:
            outcome, value = self.done, result
        # The window may have closed meanwhile (its objects deleted): nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            outcome.emit(value)


# --- the binding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resumed:
    keyring_note: str = ""
    expired: bool = False
    error: str = ""


class CollaborationBinding(QObject):
    """Keeps the panel in step with the collaboration service; turns its clicks into work.

    Parameters
    ----------
    panel, store, scene
        The panel, the viewer's annotation store and its scene.
    study_titles
        Each open study's title (patient · date · description), for the panel.
    share_files
        The files of a study to share (called on the GUI thread); None: sharing unavailable.
    open_files
        Import downloaded files into the library and open them (called on the GUI thread).
    settings, vault
        Where the server is (default: :func:`collab_settings.load_settings`) and the keyring.
    options
        Extra keyword arguments for ``Collaboration`` (backoff, poll interval; tests).
    """

    _state_changed = Signal(str)
    _outbox_changed = Signal(int)
    _conflicts_changed = Signal()
    _comments_arrived = Signal()
    _shares_changed = Signal()
    _remote_changed = Signal(object)  # list[Annotation]
    _run_on_gui = Signal(object)
    #: The service exists and the kept sign-in was tried (tests wait for it).
    ready = Signal()

    def __init__(
        self,
        panel: CollabPanel,
        store: AnnotationStore,
        scene: Scene,
        *,
        study_titles: Callable[[], dict[str, str]] = dict,
        share_files: Callable[[str], ShareFiles] | None = None,
        open_files: Callable[[list[Path]], None] | None = None,
        settings: CollabSettings | None = None,
        vault: TokenVault | None = None,
        options: dict[str, Any] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel = panel
        self.store = store
        self.scene = scene
        self.study_titles = study_titles
        self.share_files = share_files
        self.open_files = open_files
        self.settings = settings if settings is not None else collab_settings.load_settings()
        self.vault = vault or TokenVault()
        self.options = dict(options or {})
        self.dialog: ShareDialog | None = None
        self.is_ready = False
        self._collab: Collaboration | None = None
        self._create_lock = threading.Lock()
        self._closed = False
        self._expired = False
        self._tasks: set[_Task] = set()
        self._busy_download = False
        self._detach: Callable[[], None] | None = None
        self._shared_cases: list[SharedCase] = []
        #: User name → display name, from the server's directory (comments show "Dr B. Brown").
        self._people: dict[str, str] = {}
        self._shared_generation = 0

        # Posted from the sync thread; what arrives after shutdown is dropped.
        self._state_changed.connect(self._unless_closed(self._on_state), _QUEUED)
        self._outbox_changed.connect(self._unless_closed(self._on_outbox), _QUEUED)
        self._conflicts_changed.connect(self._unless_closed(self.refresh_conflicts), _QUEUED)
        self._comments_arrived.connect(self._unless_closed(self.refresh_comments), _QUEUED)
        self._shares_changed.connect(self._unless_closed(self.refresh_shared), _QUEUED)
        self._remote_changed.connect(self._unless_closed(self._on_remote), _QUEUED)
        self._run_on_gui.connect(self._unless_closed(_call_now), _QUEUED)

        panel.sign_in_requested.connect(self.sign_in)
        panel.sign_out_requested.connect(self.sign_out)
        panel.sync_requested.connect(self.sync_now)
        panel.resolve_requested.connect(self.resolve)
        panel.comment_requested.connect(self.add_comment)
        panel.share_requested.connect(self.open_share_dialog)
        panel.download_requested.connect(self.download)
        panel.refresh_shared_requested.connect(self.refresh_shared)
        events = scene.events
        self._scene_slots: list[tuple[Any, Callable[..., None]]] = [
            (events.active_changed, lambda _id: self._on_study()),
            (events.layer_added, lambda _id: self._on_study()),
            (events.layer_removed, lambda _id: self._on_study()),
            (events.selection_changed, self._on_selection),
            (events.annotation_changed, self._on_annotation),
        ]
        for signal, slot in self._scene_slots:
            signal.connect(slot)

        panel.set_form(self.settings.server_url, self.settings.username)
        self._on_study()
        self._refresh_state()

    def _unless_closed(self, slot: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            if not self._closed:
                slot(*args)

        return guarded

    # --- the service ----------------------------------------------------------------------------

    @property
    def collaboration(self) -> Collaboration | None:
        """The service, once created (on the resume thread or the first sign-in)."""
        return self._collab

    def _service(self) -> Collaboration:
        """The service, created on first use (thread-safe; imports httpx the first time)."""
        with self._create_lock:
            if self._collab is not None:
                return self._collab
            if self._closed:
                raise RuntimeError("the application is closing")
            from workstation.collab.session import Collaboration

            collab = Collaboration(self.store, verify=self.settings.verify, **self.options)
            collab.on_state_changed = lambda state: self._state_changed.emit(state.value)
            collab.on_outbox_changed = self._outbox_changed.emit
            collab.on_conflicts_changed = lambda _conflicts: self._conflicts_changed.emit()
            collab.on_comments = lambda _comments: self._comments_arrived.emit()
            collab.on_shares_changed = self._shares_changed.emit
            collab.on_remote_changes = self._remote_changed.emit
            # The scene is changed on the GUI thread only: the sync thread posts the change.
            self._detach = collab.attach_scene(self.scene, self._run_on_gui.emit)
            self._collab = collab
            return collab

    def start(self) -> None:
        """Create the service and resume a kept sign-in, off the GUI thread."""
        self._spawn("resume", self._resume, self._on_resumed, self._on_resume_failed)

    def _resume(self, _task: _Task) -> _Resumed:
        from workstation.collab.client import AuthExpiredError, CollabError

        collab = self._service()
        available, note = self.vault.status()
        url, username = self.settings.server_url, self.settings.username
        expired, error = False, ""
        token = self.vault.load(url, username) if available else None
        if token:
            try:
                collab.use_token(url, token)  # None when offline: resumed, retrying
            except AuthExpiredError:
                self.vault.forget(url, username)
                expired = True
            except CollabError as exc:
                error = describe_error(exc)
        if not self._closed:
            collab.start()
        return _Resumed(note, expired, error)

    def _on_resumed(self, resumed: _Resumed) -> None:
        self.panel.set_keyring_note(resumed.keyring_note)
        if resumed.expired:
            self._expired = True
        self.refresh_all()
        if resumed.error:
            self.panel.set_message(resumed.error)
        self.is_ready = True
        self.ready.emit()

    def _on_resume_failed(self, message: str) -> None:
        self.panel.set_message(message)
        self.is_ready = True
        self.ready.emit()

    def shutdown(self) -> None:
        """Stop the sync thread and the live connection (the outbox keeps what is queued)."""
        with self._create_lock:
            if self._closed:
                return
            self._closed = True
            collab = self._collab
        for task in list(self._tasks):
            task.stop.set()
        for signal, slot in self._scene_slots:  # the scene may outlive the panel
            signal.disconnect(slot)
        self._scene_slots = []
        if self.dialog is not None:
            self.dialog.close()
        if collab is None:
            return
        for name in (
            "on_state_changed",
            "on_outbox_changed",
            "on_conflicts_changed",
            "on_comments",
            "on_shares_changed",
            "on_remote_changes",
        ):
            setattr(collab, name, None)
        if self._detach is not None:
            self._detach()
        collab.close()

    # --- what the panel shows -----------------------------------------------------------------

    def state(self) -> str:
        """The state the panel shows (a ConnectionState value)."""
        collab = self._collab
        if collab is None or collab.server_url is None:
            return AUTH_EXPIRED if self._expired else SIGNED_OUT
        value = collab.state.value
        if value == SIGNED_OUT and self._expired:
            return AUTH_EXPIRED
        return value

    def signed_in_name(self) -> str | None:
        """The signed-in user's name (display name, else user name); None when signed out."""
        collab = self._collab
        if collab is None or collab.server_url is None or self.state() == SIGNED_OUT:
            return None
        user = collab.user
        if user is not None:
            return user.display_name or user.username
        # Resumed offline: the name remembered at the last sign-in.
        return self.settings.display_name or self.settings.username or None

    def _refresh_state(self) -> None:
        state = self.state()
        collab = self._collab
        who = self.signed_in_name()
        if who is None and state == AUTH_EXPIRED and self.settings.username:
            who = self.settings.username
        user = collab.user if collab is not None and who is not None else None
        shown = who
        if user is not None and user.display_name and user.display_name != user.username:
            shown = f"{user.display_name} ({user.username})"
        url = (collab.server_url if collab is not None else None) or self.settings.server_url
        self.panel.set_account(shown, url, site=user.site_name if user is not None else "")
        self.panel.set_connection(state)
        self.panel.set_pending(self.store.outbox.count())
        if state == OFFLINE and collab is not None and collab.last_error:
            self.panel.set_message(network_problem(collab.last_error))
        elif state == ONLINE:
            self.panel.set_message("")

    def refresh_all(self) -> None:
        self._refresh_state()
        self.refresh_conflicts()
        self.refresh_comments()
        if self.state() == ONLINE:
            self.refresh_shared()

    def _on_state(self, value: str) -> None:
        if value == AUTH_EXPIRED:
            self._expired = True
        elif value == ONLINE:
            self._expired = False
        self._refresh_state()
        if value == ONLINE and not self._shared_cases:
            self.refresh_shared()
        if value == ONLINE and not self._people:
            self.refresh_people()

    def _on_outbox(self, count: int) -> None:
        self.panel.set_pending(count)
        self.refresh_comments()  # a sent comment is no longer "not sent yet"
        self.refresh_conflicts()

    def _on_remote(self, _annotations: list[Annotation]) -> None:
        self.refresh_conflicts()
        self.refresh_comments()

    def refresh_conflicts(self) -> None:
        self.panel.set_conflicts(
            [conflict_row(c, self._people) for c in self.store.outbox.conflicts()]
        )

    def refresh_people(self) -> None:
        """Learn colleagues' display names (for comment authors) from the directory."""
        collab = self._collab
        if collab is None or self.state() != ONLINE:
            return

        def work(_task: _Task) -> dict[str, str]:
            people = {t.name: t.display_name for t in collab.share_targets() if t.kind == "user"}
            if collab.user is not None:
                people[collab.user.username] = collab.user.display_name
            return people

        def done(people: dict[str, str]) -> None:
            self._people = people
            self.refresh_comments()
            self.refresh_conflicts()
            self._show_shared()

        # Without the directory, comments show user names: nothing to report.
        self._spawn("people", work, done, lambda _message: None)

    def refresh_comments(self) -> None:
        study = self.panel.study_uid
        if not study:
            self.panel.set_comments([])
            return
        self.panel.set_comments([self._comment_row(c) for c in self.store.outbox.comments(study)])

    def _comment_row(self, comment: Comment) -> CommentRow:
        about = ""
        if comment.annotation_uuid:
            annotation = self.scene.annotations.get(comment.annotation_uuid) or self.store.get(
                comment.annotation_uuid
            )
            about = name_of(annotation) if annotation is not None else "a measurement"
        author = comment.author or (self.signed_in_name() or "")
        return CommentRow(
            comment.id,
            self._people.get(author, author),
            when(comment.created),
            comment.text,
            annotation_uuid=comment.annotation_uuid,
            about=about,
            status=comment.status,
        )

    # --- the scene ----------------------------------------------------------------------------

    def _on_study(self) -> None:
        layer = self.scene.active_layer
        study = layer.info.study_instance_uid if layer is not None else ""
        if study != self.panel.study_uid:
            self.panel.set_study(study, self.study_titles().get(study, "") or "This study")
            self.refresh_comments()

    def _on_selection(self, uuid: str) -> None:
        annotation = self.scene.annotations.get(uuid)
        if annotation is None or annotation.deleted:
            self.panel.set_selected_annotation("", "")
        else:
            self.panel.set_selected_annotation(uuid, name_of(annotation))

    def _on_annotation(self, annotation: Annotation) -> None:
        if annotation.uuid == self.scene.selected_annotation:
            self._on_selection(annotation.uuid)

    # --- actions ------------------------------------------------------------------------------

    def _spawn(
        self,
        name: str,
        work: Callable[[_Task], Any],
        done: Callable[[Any], None],
        failed: Callable[[str], None],
        progress: Callable[[int, int], None] | None = None,
        *,
        imports: tuple[str, ...] = (),
    ) -> _Task:
        task = _Task(work, name, self, imports)
        self._tasks.add(task)

        def finish(handler: Callable[[Any], None], value: Any) -> None:
            self._tasks.discard(task)
            task.deleteLater()
            if not self._closed:
                handler(value)

        task.done.connect(lambda value: finish(done, value), _QUEUED)
        task.failed.connect(lambda message: finish(failed, message), _QUEUED)
        if progress is not None:
            task.progress.connect(progress, _QUEUED)
        task.worker.start()
        return task

    def sign_in(self, server_url: str, username: str, password: str) -> None:
        try:
            url = collab_settings.normalize_url(server_url)
        except ValueError as exc:
            self.panel.set_message(str(exc))
            return
        self.panel.set_busy(True, f"Signing in to {url}…")
        previous = (self.settings.server_url, self.settings.username)

        def work(_task: _Task) -> tuple[RemoteUser, bool]:
            collab = self._service()
            user = collab.sign_in(url, username, password)
            token = collab.token or ""
            kept = self.vault.save(url, user.username, token)
            if previous != (url, user.username):
                self.vault.forget(*previous)
            collab_settings.remember(url, user.username, user.display_name)
            collab.start()
            return user, kept

        def done(result: tuple[RemoteUser, bool]) -> None:
            user, kept = result
            self.settings = replace(
                self.settings,
                server_url=url,
                username=user.username,
                display_name=user.display_name,
            )
            self._expired = False
            self.panel.set_busy(False)
            self.panel.clear_password()
            self.panel.set_message("")
            if not kept:
                self.panel.set_keyring_note(self.vault.status()[1])
            self.refresh_all()

        def failed(message: str) -> None:
            self.panel.set_busy(False)
            self._refresh_state()
            self.panel.set_message(message)

        self._spawn("sign-in", work, done, failed)

    def sign_out(self) -> None:
        collab = self._collab
        if collab is None:
            return
        url, username = self.settings.server_url, self.settings.username

        def work(_task: _Task) -> None:
            self.vault.forget(url, username)  # first: once the panel says "signed out", it is
            collab.sign_out()

        def done(_result: None) -> None:
            self._expired = False
            self._shared_cases = []
            self._people = {}
            self.panel.set_shared([])
            self.refresh_all()

        self._spawn("sign-out", work, done, self.panel.set_message)

    def sync_now(self) -> None:
        collab = self._collab
        if collab is not None:
            self._spawn(
                "sync",
                lambda _task: collab.sync_now(timeout=30.0),
                lambda _ok: self.refresh_all(),
                self.panel.set_message,
            )

    def resolve(self, uuid: str, choice: str) -> None:
        try:
            self._service().resolve_conflict(uuid, choice)
        except (KeyError, ValueError, WorkstationError) as exc:
            self.panel.set_message(describe_error(exc))
        self.refresh_conflicts()
        self.panel.set_pending(self.store.outbox.count())

    def add_comment(self, text: str, annotation_uuid: str) -> None:
        study = self.panel.study_uid
        if not study:
            return
        try:
            self._service().add_comment(study, text, annotation_uuid)
        except (ValueError, WorkstationError) as exc:
            self.panel.set_message(describe_error(exc))
            return
        self.panel.clear_comment()
        self.refresh_comments()

    # --- shared cases -------------------------------------------------------------------------

    def refresh_shared(self) -> None:
        collab = self._collab
        if collab is None or self.state() != ONLINE:
            return

        # Notices come in bursts (a share created, then completed): only the answer to the
        # latest request is shown, whatever order the answers arrive in.
        self._shared_generation += 1
        generation = self._shared_generation

        def done(cases: list[SharedCase]) -> None:
            if generation == self._shared_generation:
                self._shared_cases = list(cases)
                self._show_shared()

        def failed(message: str) -> None:
            if generation == self._shared_generation:
                self._show_shared(note=message)

        self._spawn("shared", lambda _task: collab.shared_with_me(), done, failed)

    def _show_shared(self, note: str = "") -> None:
        rows = [_shared_row(case, self._people) for case in self._shared_cases]
        self.panel.set_shared(rows, note=note)

    def download(self, share_id: str) -> None:
        collab = self._collab
        if collab is None or self._busy_download:
            return
        self._busy_download = True
        self.panel.set_transfer("Downloading…", 0, 1)

        def done(files: list[Path]) -> None:
            self._busy_download = False
            self.panel.set_transfer(f"Downloaded {len(files)} file(s); opening…")
            if self.open_files is not None:
                self.open_files(files)

        def failed(message: str) -> None:
            self._busy_download = False
            self.panel.set_transfer(message, error=True)

        def progress(done_count: int, total: int) -> None:
            self.panel.set_transfer("Downloading…", done_count, total)

        self._spawn(
            "download",
            lambda task: collab.download_shared_case(share_id, progress=task.progress.emit),
            done,
            failed,
            progress,
            imports=(DICOM,),
        )

    def open_share_dialog(self) -> ShareDialog | None:
        """The share dialog for the current study; the directory loads in the background."""
        collab = self._collab
        study = self.panel.study_uid
        if collab is None or not study or self.share_files is None:
            return None
        if self.dialog is not None:
            self.dialog.close()
        title = self.study_titles().get(study, "") or "This study"
        parent = self.panel.window() if isinstance(self.panel.window(), QWidget) else None
        dialog = ShareDialog(title, parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.destroyed.connect(lambda *_: self._forget_dialog(dialog))
        dialog.share_requested.connect(
            lambda kind, name, note: self._share(dialog, study, kind, name, note)
        )

        def targets(found: list[ShareTarget]) -> None:
            if self.dialog is dialog:
                dialog.set_targets([_target_row(t) for t in found])

        def failed(message: str) -> None:
            if self.dialog is dialog:
                dialog.set_finished(message, error=True)

        self._spawn("directory", lambda _task: collab.share_targets(), targets, failed)
        dialog.show()
        return dialog

    def _forget_dialog(self, dialog: ShareDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def _share(self, dialog: ShareDialog, study: str, kind: str, name: str, note: str) -> None:
        collab = self._collab
        if collab is None or self.share_files is None:
            return
        files = self.share_files(study)
        if not len(files):
            dialog.set_finished("No files of this study were found to share.", error=True)
            return
        dialog.set_running("Preparing the files (de-identifying when leaving your site)…")

        def work(task: _Task) -> tuple[SharedCase, int]:
            def progress(done_count: int, total: int) -> None:
                if task.stop.is_set():
                    raise ShareStoppedError
                task.progress.emit(done_count, total)

            with tempfile.TemporaryDirectory(prefix="share-") as folder:
                paths, missing = files.materialize(Path(folder))
                if task.stop.is_set():
                    raise ShareStoppedError
                if not paths:
                    raise ValueError("none of the study's files could be read")
                case = collab.share_study(
                    study,
                    paths,
                    to_user=name if kind == "user" else None,
                    to_site=name if kind == "site" else None,
                    note=note,
                    progress=progress,
                )
            return case, missing

        def done(result: tuple[SharedCase, int]) -> None:
            case, missing = result
            how = " as a de-identified copy" if case.deidentified else ""
            text = f"Shared with {name}{how}: {len(case.files)} file(s)."
            if missing:
                text += f" {missing} file(s) could not be read and were left out."
            if self.dialog is dialog:
                dialog.set_finished(text)
            self.panel.set_transfer(text)

        def failed(message: str) -> None:
            if self.dialog is dialog:
                dialog.set_finished(message, error=True)

        def progress(done_count: int, total: int) -> None:
            if self.dialog is dialog:
                dialog.set_progress(done_count, total)

        task = self._spawn("share", work, done, failed, progress, imports=(DICOM,))
        dialog.cancel_requested.connect(task.stop.set)

    # --- for the rest of the app --------------------------------------------------------------

    def reader_name(self) -> str | None:
        """Who reviews AI results: the signed-in user (None when nobody is signed in)."""
        return self.signed_in_name()


def _call_now(function: Callable[[], None]) -> None:
    function()


def _shared_row(case: SharedCase, people: dict[str, str]) -> SharedRow:
    name = people.get(case.from_user, case.from_user)
    sender = name + (f" ({case.from_site})" if case.from_site else "")
    created = (
        datetime.datetime.fromtimestamp(case.created_at).isoformat() if case.created_at else ""
    )
    return SharedRow(
        id=case.id,
        sender=sender,
        title=case.note or "Shared study",
        when=when(created) if created else "",
        files=len(case.files),
        size=size_text(sum(f.size for f in case.files)),
        deidentified=case.deidentified,
        ready=case.status == "ready",
    )


def _target_row(target: ShareTarget) -> ShareTargetRow:
    return ShareTargetRow(
        kind=target.kind,
        name=target.name,
        display=target.display_name,
        site=target.site_name,
        same_site=target.same_site,
    )


def add_collaboration_panel(window: MainWindow, services: Services) -> CollaborationBinding | None:
    """The Collaboration dock, tabbed with Measurements; the service starts once the window is up.

    Without an annotation store there is nothing to sync: the panel says so.
    """
    panel = CollabPanel(window)
    reserve_collaboration_dock(window)
    window.add_panel("Collaboration", panel)
    store = services.store
    if store is None:
        panel.set_message("Collaboration is unavailable: the annotation store could not be opened.")
        panel.setEnabled(False)
        return None

    def open_files(files: list[Path]) -> None:
        if services.database is not None:
            services.import_paths(files, False, open_after=True)
        else:
            services.open_paths(files)

    binding = CollaborationBinding(
        panel,
        store,
        services.scene,
        study_titles=services.study_titles,
        share_files=lambda study: collect_share_files(services, study),
        open_files=open_files,
        parent=window,
    )
    services.collaboration = binding
    # After the first paint: the service (httpx) loads and the kept sign-in resumes off-thread.
    QTimer.singleShot(0, binding.start)
    return binding
