"""Crashes: the server SIGKILLed in the middle of a 1,000-operation sync and restarted; a
workstation killed in the middle of writing. Nothing acknowledged is lost, nothing is
applied twice, and every client ends with the server's state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from workstation.collab.client import ServerApi, ServerUnavailableError
from workstation.collab.server import schema
from workstation.collab.server.database import Database
from workstation.collab.server.testkit import Deployment, ServerProcess
from workstation.collab.store import AnnotationStore
from workstation.collab.sync import SyncEngine
from workstation.core.annotations import Annotation, ImageReference

Make = Callable[..., Annotation]
StoreFactory = Callable[..., AnnotationStore]
STUDY = "1.2.826.0.1.3680043.8.498.2001"
REFERENCE = ImageReference(STUDY, f"{STUDY}.1", "1.2.826.0.1.3680043.8.498.2001.9")


class Client:
    """A workstation syncing in a loop on its own thread, retrying while the server is down."""

    def __init__(self, store: AnnotationStore, api: ServerApi) -> None:
        self.store = store
        self.engine = SyncEngine(store, api, cursor_key="c", batch_size=20)
        self.acknowledged: list[str] = []
        self.failures = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    report = self.engine.push(max_batches=1)
                    self.acknowledged += report.acknowledged
                    if self.store.outbox.count() == 0:
                        self.engine.pull()
                        return
                except ServerUnavailableError:
                    self.failures += 1
                    time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - the test thread reports it
            self.error = exc


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crash.sqlite'}"
    value: str = request.getfixturevalue("postgresql_url")
    return value


def test_a_server_killed_mid_sync_loses_nothing_acknowledged_and_applies_nothing_twice(
    database_url: str, tmp_path: Path, store_factory: StoreFactory, make: Make
) -> None:
    from workstation.collab.server import admin
    from workstation.collab.server.testkit import FAST_HASHER, PASSWORD, unique

    server = ServerProcess(database_url, tmp_path / "files", home=tmp_path).start()
    database = Database(database_url)
    site = unique("crash-site")
    with database.write() as connection:
        admin.create_site(connection, site)
        users = [
            admin.create_user(connection, unique(f"u{i}"), PASSWORD, site=site, hasher=FAST_HASHER)
            for i in range(3)
        ]
        tokens = [admin.token_for(connection, u.username, 3600) for u in users]
    stores = [store_factory(f"w{i}") for i in range(3)]
    # Workstation 0: 1,000 operations (200 annotations, each edited 4 times); 1 and 2: 100 each.
    for i in range(200):
        annotation = make(reference=REFERENCE, label=f"w0 {i}")
        stores[0].save(annotation)
        for step in range(4):
            annotation = annotation.edited(label=f"w0 {i}.{step}")
            stores[0].save(annotation)
    for index in (1, 2):
        for i in range(50):
            annotation = make(reference=REFERENCE, label=f"w{index} {i}")
            stores[index].save(annotation)
            stores[index].save(annotation.edited(label=f"w{index} {i} edited"))
    queued = {i: {op.op_id for op in stores[i].outbox.pending()} for i in range(3)}
    assert len(queued[0]) == 1000
    apis = [ServerApi(server.url, token=token, timeout=5.0) for token in tokens]
    clients = [Client(store, api) for store, api in zip(stores, apis, strict=True)]
    try:
        for client in clients:
            client.thread.start()
        deadline = time.monotonic() + 60
        while len(clients[0].acknowledged) < 300 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert 300 <= len(clients[0].acknowledged) < 1000, "kill in the middle of the sync"
        server.kill()
        time.sleep(0.3)
        server.start()
        for client in clients:
            client.thread.join(90)
            assert not client.thread.is_alive()
            assert client.error is None, client.error
        assert any(client.failures for client in clients)  # they did notice the crash
        for client in clients:  # a last pull: everyone sees everything
            client.engine.pull()
    finally:
        for api in apis:
            api.close()
        server.stop()

    with database.read() as connection:
        all_acknowledged = [op for client in clients for op in client.acknowledged]
        stored = set(
            connection.execute(
                sa.select(schema.operations.c.op_id).where(
                    schema.operations.c.op_id.in_(all_acknowledged)
                )
            ).scalars()
        )
        per_op = connection.execute(
            sa.select(schema.changes.c.op_id, sa.func.count())
            .where(schema.changes.c.op_id.in_(all_acknowledged))
            .group_by(schema.changes.c.op_id)
        ).all()
        heads = {
            row.uuid: row
            for row in connection.execute(
                sa.select(schema.annotation_heads).where(
                    schema.annotation_heads.c.uuid.in_(
                        [a.uuid for s in stores for a in s.load(study_uid=STUDY)]
                    )
                )
            )
        }
    database.dispose()
    # Every operation was acknowledged exactly once and is on the server.
    for index, client in enumerate(clients):
        assert sorted(client.acknowledged) == sorted(queued[index])
        assert client.store.outbox.count() == 0
    assert stored == set(all_acknowledged)
    # None applied twice: one change per operation.
    assert all(count == 1 for _, count in per_op)
    assert len(per_op) == 1200
    # All clients converge on the server's state.
    states = [{a.uuid: a for a in store.load(study_uid=STUDY)} for store in stores]
    assert states[0] == states[1] == states[2]
    assert len(states[0]) == 300
    for uuid, annotation in states[0].items():
        assert heads[uuid].version == annotation.version
    assert {a.version for a in states[0].values() if a.label.startswith("w0")} == {5}


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from workstation.collab.store import AnnotationStore
    from workstation.core.annotations import Annotation, AnnotationKind, ImageReference

    reference = ImageReference("1.2.3.4", "1.2.3.4.1")
    store = AnnotationStore(Path(sys.argv[1]))
    i = 0
    while True:
        annotation = Annotation(AnnotationKind.POINT, reference, points=((i, 0.0, 0.0),),
                                label=f"n{i}")
        store.save(annotation)
        store.save(annotation.edited(label=f"n{i}b"))
        if i == 50:
            print("ready", flush=True)
        i += 1
    """
)


def test_a_workstation_killed_while_writing_keeps_its_outbox_intact(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    path = tmp_path / "killed.sqlite"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, env=dict(os.environ)
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == b"ready"
    time.sleep(0.2)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    with AnnotationStore(path) as store:
        connection = store._connection()
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        annotations = store.load()
        pending = store.outbox.pending()
        # Every committed version is in the outbox, and every queued operation has its version.
        by_uuid: dict[str, list[Any]] = {}
        for operation in pending:
            by_uuid.setdefault(operation.uuid, []).append(operation)
        assert set(by_uuid) == {a.uuid for a in annotations}
        for annotation in annotations:
            versions = [op.payload["version"] for op in by_uuid[annotation.uuid]]
            assert versions[-1] == annotation.version
            assert versions == list(range(1, annotation.version + 1))
        assert len(annotations) > 50
        site = sqlite_deployment.site()
        user = sqlite_deployment.user(site)
        SyncEngine(store, sqlite_deployment.api(user), cursor_key="c").sync()
        assert store.outbox.count() == 0
        on_server = sqlite_deployment.api(user).annotations("1.2.3.4")
    assert {a["uuid"] for a in on_server} == {a.uuid for a in annotations}
