"""Live notifications: tell connected workstations that new changes exist.

Each server process keeps a :class:`Hub` of its open websockets. On SQLite (one process)
a write publishes to the hub after it commits. On PostgreSQL a write sends ``NOTIFY`` inside
its transaction (delivered only if and when it commits) and every process LISTENs on the
channel (:class:`PostgresListener`), so a client connected to one process hears of a push
received by another — process memory is never the only path.

A notification carries the sequence number and the (study id, owning site) pairs it
touched; a connection is only woken for studies its user may see. The websocket message is
just ``{"type": "changes", "sequence": N}`` (and ``{"type": "shares"}`` when a case was
shared with the user): the client then pulls, and the pull applies the access rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_log = logging.getLogger(__name__)

#: PostgreSQL LISTEN/NOTIFY channel.
CHANNEL = "workstation_changes"
#: NOTIFY payloads must stay under 8000 bytes; above this the study list is left out (and
#: every connection is woken).
_MAX_PAYLOAD = 7000


def changes_event(sequence: int, studies: Iterable[tuple[int, int]]) -> dict[str, Any]:
    return {"type": "changes", "sequence": sequence, "studies": [list(s) for s in studies]}


def shares_event(
    sequence: int, users: Iterable[int], sites: Iterable[int], studies: Iterable[tuple[int, int]]
) -> dict[str, Any]:
    return {
        "type": "shares",
        "sequence": sequence,
        "users": sorted(set(users)),
        "sites": sorted(set(sites)),
        "studies": [list(s) for s in studies],
    }


def encode(event: Mapping[str, Any]) -> str:
    payload = json.dumps(event, separators=(",", ":"))
    if len(payload) > _MAX_PAYLOAD:
        reduced = dict(event)
        reduced["studies"] = None
        for key in ("users", "sites"):
            if key in reduced and len(json.dumps(reduced[key])) > _MAX_PAYLOAD // 3:
                reduced[key] = None
        payload = json.dumps(reduced, separators=(",", ":"))
    return payload


@dataclass(eq=False)
class LiveConnection:
    """One open websocket: whom it serves and what it has been told."""

    user_id: int
    site_id: int
    shared: set[int]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sequence: int = 0
    shares_changed: bool = False

    def offer(self, event: Mapping[str, Any]) -> None:
        """Wake the connection if ``event`` concerns its user (on the hub's loop)."""
        kind = event.get("type")
        if kind == "shares":
            users, sites = event.get("users"), event.get("sites")
            if users is None or sites is None or self.user_id in users or self.site_id in sites:
                self.shares_changed = True
                self.sequence = max(self.sequence, int(event.get("sequence") or 0))
                self.wake.set()
                return
        if kind not in ("changes", "shares"):
            return
        studies = event.get("studies")
        if studies is None or any(
            int(site) == self.site_id or int(study) in self.shared for study, site in studies
        ):
            self.sequence = max(self.sequence, int(event.get("sequence") or 0))
            self.wake.set()


class Hub:
    """The websockets of this process; :meth:`publish` may be called from any thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[LiveConnection] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def register(self, connection: LiveConnection) -> None:
        self._connections.add(connection)

    def unregister(self, connection: LiveConnection) -> None:
        self._connections.discard(connection)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def publish(self, event: Mapping[str, Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._dispatch, dict(event))

    def _dispatch(self, event: Mapping[str, Any]) -> None:
        for connection in list(self._connections):
            connection.offer(event)


class Notifier:
    """Sends the events of a write: by NOTIFY (PostgreSQL) or straight to the hub (SQLite)."""

    def __init__(self, hub: Hub, *, postgresql: bool) -> None:
        self.hub = hub
        self.postgresql = postgresql

    def in_transaction(self, connection: Connection, event: Mapping[str, Any]) -> None:
        """Call inside the write transaction (PostgreSQL delivers the NOTIFY on commit)."""
        if self.postgresql:
            connection.execute(sa.select(sa.func.pg_notify(CHANNEL, encode(event))))

    def after_commit(self, event: Mapping[str, Any]) -> None:
        """Call once the write transaction has committed."""
        if not self.postgresql:
            self.hub.publish(event)


class PostgresListener:
    """A thread that LISTENs on :data:`CHANNEL` and feeds the hub; reconnects on failure."""

    def __init__(self, conninfo: str, hub: Hub) -> None:
        self._conninfo = conninfo
        self._hub = hub
        self._stop = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg

        delay = 0.2
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.2
                    if not first:
                        # Notifications sent while we were away are lost: wake everyone.
                        self._hub.publish({"type": "changes", "sequence": 0, "studies": None})
                    first = False
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=0.5):
                            self._deliver(notification.payload)
            except Exception as exc:  # noqa: BLE001 - any database failure: retry, never die
                self.listening.clear()
                _log.warning("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _deliver(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        if isinstance(event, dict):
            self._hub.publish(event)
