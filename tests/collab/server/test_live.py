"""Live notifications over the websocket: in one process, and across two server processes
through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from workstation.collab.protocol import WS_CLOSE_UNAUTHORIZED
from workstation.collab.server.testkit import PASSWORD, Deployment, ServerProcess
from workstation.collab.session import Collaboration
from workstation.collab.store import AnnotationStore
from workstation.collab.sync import SyncEngine
from workstation.core.annotations import Annotation, ImageReference

Make = Callable[..., Annotation]
StoreFactory = Callable[..., AnnotationStore]


def reference(study: str) -> ImageReference:
    return ImageReference(study, f"{study}.1")


def live(url: str, token: str | None) -> ClientConnection:
    base = url.replace("http://", "ws://")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(f"{base}/api/v1/sync/live", additional_headers=headers, proxy=None)


def messages(websocket: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            received.append(json.loads(websocket.recv(timeout=left)))
        except TimeoutError:
            break
    return received


def first_change(websocket: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = json.loads(websocket.recv(timeout=left))
        if message["type"] == "changes":
            return dict(message)
    raise AssertionError("no notification arrived")


def test_a_colleague_hears_of_a_change_without_polling(
    deployment: Deployment, store_factory: StoreFactory, make: Make
) -> None:
    site = deployment.site()
    alice, bob = deployment.user(site), deployment.user(site)
    outsider = deployment.user(deployment.site())
    study = "1.2.826.0.1.3680043.8.498.3001"
    b_store = store_factory("b")
    collaboration = Collaboration(b_store, poll_interval_s=600.0)  # only the websocket wakes it
    arrived = threading.Event()
    collaboration.on_remote_changes = lambda annotations: arrived.set()
    with live(deployment.url, deployment.token(outsider)) as other_site:
        assert json.loads(other_site.recv(timeout=5))["type"] == "hello"
        try:
            collaboration.sign_in(deployment.url, bob, PASSWORD)
            collaboration.start()
            deadline = time.monotonic() + 10
            while not collaboration.live_connected and time.monotonic() < deadline:
                time.sleep(0.01)
            assert collaboration.live_connected
            a_store = store_factory("a")
            a_store.save(make(reference=reference(study)))
            SyncEngine(a_store, deployment.api(alice), cursor_key="c").sync()
            assert arrived.wait(10), "the change did not reach Bob's workstation"
            assert len(b_store.load(study_uid=study)) == 1
        finally:
            collaboration.close()
        # Another site's user is not even told that something changed.
        assert [m for m in messages(other_site, 0.5) if m["type"] == "changes"] == []


def test_the_websocket_refuses_missing_unknown_and_expired_tokens(deployment: Deployment) -> None:
    site = deployment.site()
    user = deployment.user(site)
    expired = deployment.token(user, ttl_s=-1.0)
    for token in (None, "not-a-token", expired):
        with live(deployment.url, token) as websocket:
            with pytest.raises(ConnectionClosed) as closed:
                websocket.recv(timeout=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == WS_CLOSE_UNAUTHORIZED


def test_a_token_expiring_while_connected_closes_the_websocket(deployment: Deployment) -> None:
    user = deployment.user(deployment.site())
    with live(deployment.url, deployment.token(user, ttl_s=1.0)) as websocket:
        assert json.loads(websocket.recv(timeout=5))["type"] == "hello"
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                websocket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == WS_CLOSE_UNAUTHORIZED


def test_notifications_cross_server_processes_through_postgresql(
    postgresql_deployment: Deployment,
    postgresql_url: str,
    tmp_path: Path,
    store_factory: StoreFactory,
    make: Make,
) -> None:
    """Two processes behind a load balancer: a push to one wakes the clients of the other."""
    other = ServerProcess(postgresql_url, tmp_path / "files", home=tmp_path).start()
    try:
        deployment = postgresql_deployment
        site = deployment.site()
        alice, bob = deployment.user(site), deployment.user(site)
        study = "1.2.826.0.1.3680043.8.498.3002"
        # Bob listens on this process; Alice pushes to the other one, and the other way round.
        with (
            live(deployment.url, deployment.token(bob)) as on_this,
            live(other.url, deployment.token(bob)) as on_other,
        ):
            assert json.loads(on_this.recv(timeout=5))["type"] == "hello"
            assert json.loads(on_other.recv(timeout=5))["type"] == "hello"
            a_store = store_factory("a")
            a_store.save(make(reference=reference(study)))
            from workstation.collab.client import ServerApi

            to_other = ServerApi(other.url, token=deployment.token(alice))
            try:
                started = time.monotonic()
                report = SyncEngine(a_store, to_other, cursor_key="c").push()
                notice = first_change(on_this)
                latency = time.monotonic() - started
                assert report.acknowledged
                newest = max(c["sequence"] for c in to_other.changes(0, 2000)["changes"])
                assert notice["sequence"] == newest  # the notice names the new change
                assert latency < 5.0
                # And back: a push to this process reaches the other one's websocket.
                a_store.save(make(reference=reference(study), label="second"))
                SyncEngine(a_store, deployment.api(alice), cursor_key="c").push()
                assert first_change(on_other)["type"] == "changes"
            finally:
                to_other.close()
    finally:
        other.stop()
