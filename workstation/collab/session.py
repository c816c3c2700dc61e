"""What the GUI talks to: sign-in, the sync thread, conflicts, comments, shared cases.

No Qt here. :class:`Collaboration` runs sync rounds on a background thread and reports
through callbacks, called **on that thread** (the GUI forwards them to its own thread, e.g.
with a queued signal; :meth:`Collaboration.attach_scene` takes such a ``dispatch``):

- ``on_state_changed(state)``: :class:`~workstation.collab.protocol.ConnectionState`;
- ``on_remote_changes(annotations)``: versions from the server, already in the local store;
- ``on_comments(comments)``, ``on_conflicts_changed(conflicts)``,
  ``on_outbox_changed(pending_count)`` (also on the thread that saved), ``on_shares_changed()``.

The workstation works the same with no server: every edit goes to the store and its outbox
(:meth:`AnnotationStore.save`) and waits there. Signed in, the thread pushes as soon as
something is saved, pulls when the server's websocket says changes exist (and every
``poll_interval_s`` in any case), and retries with exponential backoff while the server is
unreachable. When the server refuses the token the state becomes ``AUTH_EXPIRED`` and
nothing is sent until :meth:`Collaboration.sign_in` succeeds again; nothing is lost.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation import paths
from workstation.collab import sharing
from workstation.collab.client import (
    AuthExpiredError,
    CollabError,
    Progress,
    RemoteUser,
    RequestRefusedError,
    ServerApi,
    ServerUnavailableError,
)
from workstation.collab.outbox import Comment, Conflict
from workstation.collab.protocol import ConnectionState
from workstation.collab.store import AnnotationStore, StoreError
from workstation.collab.sync import Backoff, LiveListener, SyncEngine, SyncReport
from workstation.core.annotations import Annotation

if TYPE_CHECKING:
    from workstation.core.scene import Scene

_log = logging.getLogger(__name__)

Listener = Callable[..., None]


class Collaboration:
    """The workstation's collaboration service for one local store.

    Parameters
    ----------
    store
        The local annotation store (its outbox, conflicts and comments live in it).
    verify
        TLS verification for the server: True, a CA bundle path, an SSLContext, or False.
    backoff
        Retry delays while the server is unreachable.
    poll_interval_s
        Pull at least this often even without a live notification.
    live
        Keep a websocket open for live notifications.
    """

    def __init__(
        self,
        store: AnnotationStore,
        *,
        verify: bool | str | Path | ssl.SSLContext = True,
        backoff: Backoff | None = None,
        poll_interval_s: float = 30.0,
        live: bool = True,
        batch_size: int = 200,
    ) -> None:
        self.store = store
        self.verify = verify
        self.backoff = backoff or Backoff()
        self.poll_interval_s = poll_interval_s
        self.live = live
        self.batch_size = batch_size
        self.on_state_changed: Callable[[ConnectionState], None] | None = None
        self.on_remote_changes: Callable[[list[Annotation]], None] | None = None
        self.on_comments: Callable[[list[Comment]], None] | None = None
        self.on_conflicts_changed: Callable[[list[Conflict]], None] | None = None
        self.on_outbox_changed: Callable[[int], None] | None = None
        self.on_shares_changed: Callable[[], None] | None = None
        self._remote_listeners: list[Callable[[list[Annotation]], None]] = []
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._round_done = threading.Condition(self._lock)
        self._started = 0
        self._finished = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: LiveListener | None = None
        self._api: ServerApi | None = None
        self._engine: SyncEngine | None = None
        self._state = ConnectionState.SIGNED_OUT
        self.user: RemoteUser | None = None
        self.last_error = ""
        self.last_report = SyncReport()
        self._remove_save_listener = store.add_save_listener(self._saved)

    # --- state --------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    def _set_state(self, state: ConnectionState, error: str = "") -> None:
        with self._lock:
            changed = state is not self._state
            self._state = state
            if error or state is ConnectionState.ONLINE:
                self.last_error = error
        if changed:
            _call(self.on_state_changed, state)

    @property
    def server_url(self) -> str | None:
        return self._api.base_url if self._api is not None else None

    def pending_count(self) -> int:
        """Operations waiting for the server."""
        return self.store.outbox.count()

    # --- sign-in ------------------------------------------------------------------------------

    def sign_in(self, server_url: str, username: str, password: str) -> RemoteUser:
        """Sign in (raises SignInError, ServerUnavailableError); the sync thread resumes."""
        api = ServerApi(server_url, verify=self.verify)
        self._set_state(ConnectionState.CONNECTING)
        try:
            signed = api.login(username, password)
        except ServerUnavailableError as exc:
            api.close()
            self._set_state(ConnectionState.OFFLINE, str(exc))
            raise
        except CollabError:
            api.close()
            self._set_state(ConnectionState.SIGNED_OUT)
            raise
        self._use(api, signed.user, signed.user.username)
        return signed.user

    def use_token(self, server_url: str, token: str) -> RemoteUser | None:
        """Resume with a token kept from an earlier sign-in (e.g. in the keyring).

        Works offline too: when the server cannot be reached, the user last signed in here
        is assumed and the sync thread keeps retrying (state ``OFFLINE``); returns None then.
        Raises :class:`AuthExpiredError` when the server refuses the token.
        """
        api = ServerApi(server_url, token=token, verify=self.verify)
        try:
            user = api.me()
        except ServerUnavailableError as exc:
            username = self.store.outbox.get_state("username")
            if not username or self.store.outbox.get_state("server_url") != api.base_url:
                api.close()
                raise
            self._use(api, None, username)
            self._set_state(ConnectionState.OFFLINE, str(exc))
            return None
        except CollabError:
            api.close()
            raise
        self._use(api, user, user.username)
        return user

    @property
    def token(self) -> str | None:
        """The bearer token, for the app to keep (keyring) and hand to :meth:`use_token`."""
        api = self._api
        return api.token if api is not None else None

    def _use(self, api: ServerApi, user: RemoteUser | None, username: str) -> None:
        with self._lock:
            self._stop_listener()
            old, self._api = self._api, api
            self.user = user
            self._engine = SyncEngine(
                self.store,
                api,
                cursor_key=f"cursor|{api.base_url}|{username}",
                batch_size=self.batch_size,
            )
            self.store.outbox.set_state("server_url", api.base_url)
            self.store.outbox.set_state("username", username)
        if old is not None:
            old.close()
        self.backoff.reset()
        self._set_state(ConnectionState.CONNECTING)
        self._wake.set()

    def sign_out(self) -> None:
        """Revoke the token; queued operations stay in the outbox for the next sign-in."""
        with self._lock:
            self._stop_listener()
            api, self._api, self._engine = self._api, None, None
            self.user = None
        if api is not None:
            api.logout()
            api.close()
        self._set_state(ConnectionState.SIGNED_OUT)

    # --- the sync thread ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the background sync thread (idempotent)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="collab-sync", daemon=True)
            self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and the live connection (the outbox keeps what is queued)."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            self._stop_listener()
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._remove_save_listener()
        with self._lock:
            api, self._api = self._api, None
        if api is not None:
            api.close()

    def sync_now(self, timeout: float | None = 30.0) -> bool:
        """Ask for a round now; with the thread running, wait until one has finished.

        Without the thread, runs the round on the calling thread. Returns True when a round
        completed (even if it failed: see :attr:`state`).
        """
        if self._thread is None or not self._thread.is_alive():
            self._round()
            return True
        with self._round_done:
            started = self._started  # wait for a round that starts after this call
            self._wake.set()
            return self._round_done.wait_for(lambda: self._finished > started, timeout)

    def _saved(self) -> None:
        self._wake.set()
        _call(self.on_outbox_changed, self.store.outbox.count())

    def _run(self) -> None:
        delay: float | None = 0.0
        while not self._stopping.is_set():
            self._wake.wait(timeout=delay)
            self._wake.clear()
            if self._stopping.is_set():
                return
            delay = self._round()

    def _round(self) -> float | None:
        """One sync round; the seconds to wait before the next (None: until woken)."""
        with self._lock:
            engine = self._engine
            self._started += 1
            number = self._started
        try:
            if engine is None or self._state in (
                ConnectionState.SIGNED_OUT,
                ConnectionState.AUTH_EXPIRED,
            ):
                return None
            if self._state is not ConnectionState.ONLINE:
                self._set_state(ConnectionState.CONNECTING)
            try:
                report = engine.sync()
            except AuthExpiredError as exc:
                if not self._current(engine):
                    return None
                with self._lock:
                    self._stop_listener()
                self._set_state(ConnectionState.AUTH_EXPIRED, f"sign in again ({exc})")
                return None
            except ServerUnavailableError as exc:
                if not self._current(engine):
                    return None
                self._set_state(ConnectionState.OFFLINE, str(exc))
                return self.backoff.next()
            except (RequestRefusedError, StoreError) as exc:
                _log.warning("sync round failed: %s", exc)
                self.last_error = str(exc)
                return self.backoff.next()
            if not self._current(engine):
                # Signed out (or in as someone else) while this round ran: what it stored is
                # shown, but it must not bring back the old session's state or user.
                self._report(report)
                return None
            self.backoff.reset()
            if self.user is None:  # resumed offline with a kept token
                with contextlib.suppress(CollabError):
                    user = engine.api.me()
                    with self._lock:
                        if self._engine is engine:
                            self.user = user
            self._set_state(ConnectionState.ONLINE)
            self._ensure_listener()
            self.last_report = report
            self._report(report)
            return self.poll_interval_s
        finally:
            with self._round_done:
                self._finished = number
                self._round_done.notify_all()

    def _current(self, engine: SyncEngine) -> bool:
        """Whether ``engine`` still belongs to the session (not replaced by a sign-out/in)."""
        with self._lock:
            return self._engine is engine

    def _report(self, report: SyncReport) -> None:
        if report.adopted:
            self._deliver(report.adopted)
        if report.comments:
            _call(self.on_comments, report.comments)
        if report.conflicts:
            _call(self.on_conflicts_changed, self.conflicts())
        if report.acknowledged:
            _call(self.on_outbox_changed, self.store.outbox.count())

    def _deliver(self, annotations: list[Annotation]) -> None:
        _call(self.on_remote_changes, annotations)
        for listener in list(self._remote_listeners):
            _call(listener, annotations)

    # --- live notifications -------------------------------------------------------------------

    def _ensure_listener(self) -> None:
        if not self.live:
            return
        with self._lock:
            if self._listener is not None and self._listener.running:
                return
            api = self._api
            if api is None or not api.token:
                return
            context = api.verify if isinstance(api.verify, ssl.SSLContext) else None
            if api.base_url.startswith("https") and context is None:
                context = ssl.create_default_context()
                if api.verify is False:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
            self._listener = LiveListener(
                api.live_url(),
                api.token,
                on_notice=self._notice,
                on_unauthorized=self._unauthorized,
                ssl_context=context,
            )
            self._listener.start()

    def _stop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    @property
    def live_connected(self) -> bool:
        listener = self._listener
        return listener is not None and listener.connected.is_set()

    def _notice(self, notice: dict[str, Any]) -> None:
        if notice.get("type") == "shares":
            _call(self.on_shares_changed)
        if notice.get("type") in ("changes", "shares"):
            self._wake.set()

    def _unauthorized(self) -> None:
        self._set_state(ConnectionState.AUTH_EXPIRED, "sign in again")

    # --- conflicts ----------------------------------------------------------------------------

    def conflicts(self) -> list[Conflict]:
        return self.store.outbox.conflicts()

    def resolve_conflict(self, uuid: str, choice: str | Annotation) -> Annotation:
        """Resolve with ``"mine"``, ``"theirs"`` or a merged :class:`Annotation` of the user.

        Returns the version now stored (also delivered to the remote-change listeners, so an
        attached scene shows it); it is pushed with the next round.
        """
        conflict = self.store.outbox.conflict(uuid)
        if conflict is None:
            raise KeyError(f"no conflict for annotation {uuid}")
        if choice == "mine":
            content: Annotation | None = conflict.mine
        elif choice == "theirs":
            content = None
        elif isinstance(choice, Annotation):
            content = choice
        else:
            raise ValueError("choose 'mine', 'theirs' or a merged annotation")
        resolved = self.store.outbox.resolve(uuid, content)
        self._deliver([resolved])
        _call(self.on_conflicts_changed, self.conflicts())
        self._wake.set()
        return resolved

    # --- comments -----------------------------------------------------------------------------

    def comments(self, study_uid: str, annotation_uuid: str | None = None) -> list[Comment]:
        return self.store.outbox.comments(study_uid, annotation_uuid)

    def add_comment(self, study_uid: str, text: str, annotation_uuid: str = "") -> Comment:
        """Write a comment (queued at once; sent with the next round)."""
        author = self.user.username if self.user else self.store.outbox.get_state("username")
        return self.store.outbox.add_comment(
            study_uid, text, author=author or "", annotation_uuid=annotation_uuid
        )

    # --- sharing ------------------------------------------------------------------------------

    def _online_api(self) -> tuple[ServerApi, RemoteUser]:
        with self._lock:
            api, user = self._api, self.user
        if api is None or user is None:
            raise AuthExpiredError("sign in to share cases")
        return api, user

    def share_targets(self) -> list[sharing.ShareTarget]:
        api, user = self._online_api()
        return sharing.share_targets(api, user)

    def share_study(
        self,
        study_uid: str,
        files: Sequence[Path],
        *,
        to_user: str | None = None,
        to_site: str | None = None,
        note: str = "",
        progress: Progress | None = None,
    ) -> sharing.SharedCase:
        """Share a study's files (images, SEG, SR) and annotations; see :mod:`.sharing`."""
        api, user = self._online_api()
        case = sharing.share_case(
            api,
            self.store,
            user,
            study_uid,
            files,
            to_user=to_user,
            to_site=to_site,
            note=note,
            progress=progress,
        )
        self._wake.set()
        return case

    def shared_with_me(self) -> list[sharing.SharedCase]:
        api, _ = self._online_api()
        return sharing.shared_cases(api, "received")

    def shared_by_my_site(self) -> list[sharing.SharedCase]:
        api, _ = self._online_api()
        return sharing.shared_cases(api, "sent")

    def download_shared_case(
        self,
        share_id: str,
        destination: Path | None = None,
        *,
        progress: Progress | None = None,
    ) -> list[Path]:
        """Download a shared case's files; their paths, for the app to import."""
        api, _ = self._online_api()
        target = destination or paths.home() / "shared" / share_id
        files = sharing.download_case(api, share_id, target, progress=progress)
        self._wake.set()  # the copy's annotations: pull them now
        return files

    # --- scenes -------------------------------------------------------------------------------

    def attach_scene(
        self, scene: Scene, dispatch: Callable[[Callable[[], None]], None] | None = None
    ) -> Callable[[], None]:
        """Show remote changes in ``scene`` (``load_annotations``); returns a detach function.

        ``dispatch`` runs a function on the scene's thread (the GUI's); without it the scene
        is changed on the sync thread.
        """

        def deliver(annotations: list[Annotation]) -> None:
            def apply() -> None:
                scene.load_annotations(list(annotations))

            if dispatch is None:
                apply()
            else:
                dispatch(apply)

        self._remote_listeners.append(deliver)

        def detach() -> None:
            if deliver in self._remote_listeners:
                self._remote_listeners.remove(deliver)

        return detach


def _call(callback: Callable[..., None] | None, *args: Any) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:  # noqa: BLE001 - a GUI callback's fault must not stop the sync thread
        _log.exception("collaboration callback failed")
