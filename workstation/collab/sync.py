"""Pushing the outbox and pulling the change feed, one round at a time; the live listener.

:class:`SyncEngine` does the work without threads (the tests and the benchmark drive it
directly); :class:`workstation.collab.session.Collaboration` runs it on a background thread
with retry and backoff. A round pushes every queued operation in the order it was made (in
batches), applies the answers (:meth:`Outbox.apply_results`), then pulls every change after
the last sequence seen and applies it (:meth:`Outbox.apply_pulled`), moving the cursor in the
same transaction as the changes. A crash at any point repeats at most one batch, which the
server recognizes by operation id.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workstation.collab.client import ServerApi
from workstation.collab.outbox import Comment
from workstation.collab.protocol import MAX_PUSH_OPERATIONS, WS_CLOSE_UNAUTHORIZED
from workstation.collab.store import AnnotationStore
from workstation.core.annotations import Annotation

_log = logging.getLogger(__name__)

#: An operation whose base the server keeps not knowing is sent again without a base after
#: this many attempts: the server then merges or keeps a conflict, never drops it.
MAX_MISSING_BASE_ATTEMPTS = 3


@dataclass
class SyncReport:
    """What one round did."""

    pushed: int = 0
    acknowledged: list[str] = field(default_factory=list)
    pulled: int = 0
    adopted: list[Annotation] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    cursor: int = 0

    @property
    def changed_anything(self) -> bool:
        return bool(self.adopted or self.comments or self.conflicts or self.acknowledged)


class SyncEngine:
    """Push-then-pull rounds between one store and one server account."""

    def __init__(
        self,
        store: AnnotationStore,
        api: ServerApi,
        *,
        cursor_key: str,
        batch_size: int = 200,
        pull_limit: int = 1000,
    ) -> None:
        self.store = store
        self.api = api
        self.cursor_key = cursor_key
        self.batch_size = max(1, min(batch_size, MAX_PUSH_OPERATIONS))
        self.pull_limit = pull_limit
        self.client_id = store.outbox.client_id()

    @property
    def cursor(self) -> int:
        value = self.store.outbox.get_state(self.cursor_key)
        return int(value) if value else 0

    def push(
        self, report: SyncReport | None = None, *, max_batches: int | None = None
    ) -> SyncReport:
        """Push every queued operation (or ``max_batches`` batches of them).

        Stops at the first network or auth failure (raised); what was acknowledged before it
        is already applied locally.
        """
        report = report or SyncReport()
        outbox = self.store.outbox
        skip: set[str] = set()
        batches = 0
        while max_batches is None or batches < max_batches:
            batches += 1
            operations = [
                op for op in outbox.pending(self.batch_size + len(skip)) if op.op_id not in skip
            ][: self.batch_size]
            if not operations:
                return report
            results = self.api.push(self.client_id, [op.to_wire() for op in operations])
            applied = outbox.apply_results(operations, results)
            report.pushed += len(operations)
            report.acknowledged += applied.acknowledged
            report.adopted += applied.adopted
            report.conflicts += applied.conflicts
            if applied.retry:
                stuck = [op for op in operations if op.op_id in applied.retry]
                self._unstick(stuck)
                skip.update(applied.retry)  # again in the next round, not in this one
            if not applied.acknowledged:
                return report
        return report

    def _unstick(self, operations: list[Any]) -> None:
        stale = [op.op_id for op in operations if op.attempts + 1 >= MAX_MISSING_BASE_ATTEMPTS]
        if stale:
            with self.store._transaction() as connection:
                connection.executemany(
                    "UPDATE outbox SET base_revision = NULL WHERE op_id = ?",
                    [(op_id,) for op_id in stale],
                )

    def pull(self, report: SyncReport | None = None) -> SyncReport:
        """Pull and apply every change after the cursor."""
        report = report or SyncReport()
        cursor = self.cursor
        while True:
            page = self.api.changes(cursor, self.pull_limit)
            changes = page.get("changes") or []
            following = int(page.get("next", cursor))
            applied = self.store.outbox.apply_pulled(changes, self.cursor_key, following)
            report.pulled += len(changes)
            report.adopted += applied.adopted
            report.comments += applied.comments
            report.conflicts += applied.conflicts
            cursor = following
            if not page.get("more"):
                report.cursor = cursor
                return report

    def sync(self) -> SyncReport:
        """One round: push, then pull."""
        report = self.push()
        return self.pull(report)


class Backoff:
    """Exponential backoff with jitter: base, 2×base, ... up to ``maximum`` seconds."""

    def __init__(self, base: float = 0.5, maximum: float = 30.0, jitter: float = 0.25) -> None:
        self.base = base
        self.maximum = maximum
        self.jitter = jitter
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next(self) -> float:
        delay = min(self.maximum, self.base * (2**self.failures))
        self.failures += 1
        return float(delay * (1 + random.uniform(-self.jitter, self.jitter)))


class LiveListener:
    """A thread holding the websocket; calls ``on_notice`` for each message from the server.

    Reconnects with backoff while running; calls ``on_unauthorized`` (and stops) when the
    server closes with :data:`WS_CLOSE_UNAUTHORIZED`.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        on_notice: Callable[[dict[str, Any]], None],
        on_unauthorized: Callable[[], None],
        ssl_context: ssl.SSLContext | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._url = url
        self._token = token
        self._on_notice = on_notice
        self._on_unauthorized = on_unauthorized
        self._ssl = ssl_context
        self._backoff = backoff or Backoff(0.5, 15.0)
        self._stop = threading.Event()
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collab-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        import json

        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        while not self._stop.is_set():
            try:
                with connect(
                    self._url,
                    additional_headers={"Authorization": f"Bearer {self._token}"},
                    ssl=self._ssl,
                    proxy=None,
                    open_timeout=5,
                    max_size=1 << 16,
                ) as websocket:
                    self._backoff.reset()
                    while not self._stop.is_set():
                        try:
                            message = websocket.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        self.connected.set()
                        try:
                            notice = json.loads(message)
                        except ValueError:
                            continue
                        if isinstance(notice, dict):
                            self._on_notice(notice)
            except ConnectionClosed as closed:
                self.connected.clear()
                code = closed.rcvd.code if closed.rcvd is not None else None
                if code == WS_CLOSE_UNAUTHORIZED:
                    self._on_unauthorized()
                    return
            except Exception as exc:  # noqa: BLE001 - any network failure: retry with backoff
                self.connected.clear()
                _log.debug("live connection failed: %s", type(exc).__name__)
            self.connected.clear()
            self._stop.wait(self._backoff.next())
