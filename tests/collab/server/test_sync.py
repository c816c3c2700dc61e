"""Offline-first sync against a real server (SQLite and PostgreSQL): merges, conflicts,
duplicates and reordering, clock skew, comments, offline periods, expired tokens, scenes."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from workstation.collab.client import ServerApi
from workstation.collab.outbox import ConflictReason
from workstation.collab.protocol import ConnectionState, OpStatus
from workstation.collab.server.testkit import PASSWORD, Deployment
from workstation.collab.session import Collaboration
from workstation.collab.store import AnnotationStore
from workstation.collab.sync import Backoff, SyncEngine
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.scene import Scene

Make = Callable[..., Annotation]
StoreFactory = Callable[..., AnnotationStore]


def reference(study: str) -> ImageReference:
    return ImageReference(study, f"{study}.1", "1.2.826.0.1.3680043.8.498.77", f"{study}.1.1")


def engine(deployment: Deployment, store: AnnotationStore, username: str) -> SyncEngine:
    return SyncEngine(store, deployment.api(username), cursor_key="cursor", batch_size=50)


def server_state(api: ServerApi, study: str) -> dict[str, dict[str, Any]]:
    return {a["uuid"]: a for a in api.annotations(study, include_deleted=True)}


def local_state(store: AnnotationStore, study: str) -> dict[str, dict[str, Any]]:
    return {a.uuid: a.to_json() for a in store.load(study_uid=study, include_deleted=True)}


@pytest.fixture
def team(deployment: Deployment) -> tuple[str, str, str]:
    """A fresh site with two radiologists: (site, alice, bob)."""
    site = deployment.site()
    return site, deployment.user(site, prefix="alice"), deployment.user(site, prefix="bob")


def test_an_annotation_travels_to_a_colleague_and_both_converge(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, bob = team
    a_store, b_store = store_factory("a"), store_factory("b")
    study = "1.2.826.0.1.3680043.8.498.1001"
    measurement = make(reference=reference(study))
    assert a_store.save(measurement)
    assert a_store.outbox.count() == 1  # queued with the save, before any server is involved
    a, b = engine(deployment, a_store, alice), engine(deployment, b_store, bob)
    report = a.sync()
    assert report.acknowledged and a_store.outbox.count() == 0
    pulled = b.sync()
    assert [x.uuid for x in pulled.adopted] == [measurement.uuid]
    assert b_store.get(measurement.uuid) == measurement
    assert b_store.outbox.count() == 0  # what arrived is not sent back
    api = deployment.api(alice)
    assert local_state(a_store, study) == local_state(b_store, study) == server_state(api, study)


def test_edits_to_different_fields_merge(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, bob = team
    a_store, b_store = store_factory("a"), store_factory("b")
    a, b = engine(deployment, a_store, alice), engine(deployment, b_store, bob)
    study = "1.2.826.0.1.3680043.8.498.1002"
    first = make(reference=reference(study), label="node")
    a_store.save(first)
    a.sync()
    b.sync()
    # Both edit version 1 while apart: Alice renames it, Bob moves an end point.
    a_store.save(first.edited(label="node 2R"))
    moved = ((0.0, 0.0, 0.0), (12.5, 0.0, 0.0))
    b_store.save(first.edited(points=moved, values={"length_mm": 12.5}))
    a.sync()
    report = b.sync()
    assert not report.conflicts
    merged = b_store.get(first.uuid)
    assert merged is not None
    assert merged.label == "node 2R" and merged.points == moved
    assert merged.values == {"length_mm": 12.5}
    assert merged.version == 3
    a.sync()
    assert a_store.get(first.uuid) == merged
    assert b_store.outbox.conflicts() == [] and a_store.outbox.conflicts() == []
    assert server_state(deployment.api(alice), study)[first.uuid] == merged.to_json()


def test_edits_to_the_same_field_become_a_visible_conflict_and_resolve(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, bob = team
    a_store, b_store = store_factory("a"), store_factory("b")
    a, b = engine(deployment, a_store, alice), engine(deployment, b_store, bob)
    study = "1.2.826.0.1.3680043.8.498.1003"
    first = make(reference=reference(study), label="lesion")
    a_store.save(first)
    a.sync()
    b.sync()
    a_store.save(first.edited(label="lesion A"))
    b_store.save(first.edited(label="lesion B"))
    b_store.save(b_store.get(first.uuid).edited(text="second local edit"))  # type: ignore[union-attr]
    a.sync()
    report = b.sync()
    assert report.conflicts
    [conflict] = b_store.outbox.conflicts()
    assert conflict.reason is ConflictReason.CONCURRENT_EDIT
    assert "label" in conflict.fields
    assert conflict.mine.label == "lesion B" and conflict.mine.text == "second local edit"
    assert conflict.theirs is not None and conflict.theirs.label == "lesion A"
    # Nothing was lost and nothing overwritten: Bob still sees his version.
    assert b_store.get(first.uuid).label == "lesion B"  # type: ignore[union-attr]
    # A later pull does not overwrite the open conflict either.
    a_store.save(a_store.get(first.uuid).edited(label="lesion A2"))  # type: ignore[union-attr]
    a.sync()
    b.sync()
    [conflict] = b_store.outbox.conflicts()
    assert conflict.theirs is not None and conflict.theirs.label == "lesion A2"
    assert b_store.get(first.uuid).label == "lesion B"  # type: ignore[union-attr]
    # Bob merges by hand: Alice's label, his note.
    resolved = b_store.outbox.resolve(first.uuid, replace(conflict.mine, label="lesion A2/B"))
    assert resolved.version > conflict.theirs.version
    b.sync()
    a.sync()
    final = server_state(deployment.api(alice), study)[first.uuid]
    assert final["label"] == "lesion A2/B" and final["text"] == "second local edit"
    assert local_state(a_store, study) == local_state(b_store, study)
    assert b_store.outbox.conflicts() == [] and b_store.outbox.count() == 0


def test_deletion_against_an_edit_is_a_conflict_and_theirs_keeps_the_tombstone(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, bob = team
    a_store, b_store = store_factory("a"), store_factory("b")
    a, b = engine(deployment, a_store, alice), engine(deployment, b_store, bob)
    study = "1.2.826.0.1.3680043.8.498.1004"
    first = make(reference=reference(study))
    a_store.save(first)
    a.sync()
    b.sync()
    a_store.save(first.tombstone())
    b_store.save(first.edited(label="keep me"))
    a.sync()
    b.sync()
    [conflict] = b_store.outbox.conflicts()
    assert "deleted" in conflict.fields
    assert conflict.theirs is not None and conflict.theirs.deleted
    kept = b_store.outbox.resolve(first.uuid, None)  # accept the deletion
    assert kept.deleted
    b.sync()
    a.sync()
    assert local_state(a_store, study) == local_state(b_store, study)
    assert all(x["deleted"] for x in server_state(deployment.api(alice), study).values())


def _operation(op_id: str, annotation: Annotation, base: str | None) -> dict[str, Any]:
    return {
        "op_id": op_id,
        "kind": "annotation",
        "base_revision": base,
        "annotation": annotation.to_json(),
    }


def test_duplicate_and_reordered_delivery_apply_each_operation_once(
    deployment: Deployment, team: tuple[str, str, str], make: Make
) -> None:
    _, alice, _ = team
    api = deployment.api(alice)
    study = "1.2.826.0.1.3680043.8.498.1005"
    v1 = make(reference=reference(study), label="one")
    v2 = v1.edited(label="two")
    v3 = v2.edited(label="three")
    op1, op2, op3 = (
        _operation("op1-" + v1.uuid, v1, None),
        _operation("op2-" + v1.uuid, v2, "op1-" + v1.uuid),
        _operation("op3-" + v1.uuid, v3, "op2-" + v1.uuid),
    )
    # Reordered: the second edit arrives before the operation it was made from.
    [early] = api.push("client-x", [op2])
    assert early["status"] == OpStatus.MISSING_BASE
    first = api.push("client-x", [op1, op3, op2])
    assert [r["status"] for r in first] == ["applied", "missing_base", "applied"]
    second = api.push("client-x", [op3, op1, op2, op3])
    assert [r["status"] for r in second] == ["applied"] * 4
    # Duplicates got the stored answer: same sequence numbers, nothing applied twice.
    assert second[1]["sequence"] == first[0]["sequence"]
    assert second[2]["sequence"] == first[2]["sequence"]
    assert second[0]["sequence"] == second[3]["sequence"]
    changes = api.changes(0, 2000)["changes"]
    mine = [c for c in changes if c["uuid"] == v1.uuid]
    assert [c["annotation"]["label"] for c in mine] == ["one", "two", "three"]
    # The same batch pushed twice at once, from two connections: still once.
    v4 = v3.edited(label="four")
    op4 = _operation("op4-" + v1.uuid, v4, "op3-" + v1.uuid)
    answers: list[list[dict[str, Any]]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(deployment.api(alice).push("c", [op4])))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a[0]["sequence"] for a in answers} == {answers[0][0]["sequence"]}
    labels = [
        c["annotation"]["label"] for c in api.changes(0, 2000)["changes"] if c["uuid"] == v1.uuid
    ]
    assert labels == ["one", "two", "three", "four"]


def test_ordering_never_depends_on_client_clocks(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, bob = team
    a_store, b_store = store_factory("a"), store_factory("b")
    a, b = engine(deployment, a_store, alice), engine(deployment, b_store, bob)
    study = "1.2.826.0.1.3680043.8.498.1006"
    future, past = "2099-01-01T00:00:00.000+00:00", "1999-01-01T00:00:00.000+00:00"
    # Alice's clock runs decades ahead; Bob's decades behind.
    first = make(reference=reference(study), label="first", created=future, updated=future)
    a_store.save(first)
    a.sync()
    b.sync()
    later = replace(first.edited(label="Bob's later edit"), updated=past)
    b_store.save(later)
    b.sync()
    a.sync()
    # Bob edited after Alice in the server's order: his edit stands, whatever the clocks say.
    assert a_store.get(first.uuid).label == "Bob's later edit"  # type: ignore[union-attr]
    # Concurrent edits: the first to reach the server is applied, the other is a conflict,
    # even though its timestamp is later.
    a_store.save(replace(a_store.get(first.uuid).edited(label="A"), updated=future))  # type: ignore[union-attr]
    b_store.save(replace(b_store.get(first.uuid).edited(label="B"), updated=past))  # type: ignore[union-attr]
    b.sync()
    a.sync()
    assert server_state(deployment.api(alice), study)[first.uuid]["label"] == "B"
    [conflict] = a_store.outbox.conflicts()
    assert conflict.mine.label == "A"
    sequences = [c["sequence"] for c in deployment.api(bob).changes(0, 2000)["changes"]]
    assert sequences == sorted(sequences)


def test_comments_reach_colleagues_with_their_author(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, bob = team
    a_store, b_store = store_factory("a"), store_factory("b")
    a, b = engine(deployment, a_store, alice), engine(deployment, b_store, bob)
    study = "1.2.826.0.1.3680043.8.498.1007"
    measurement = make(reference=reference(study))
    a_store.save(measurement)
    a_store.outbox.add_comment(study, "Compare with the prior, please", author="whoever")
    a_store.outbox.add_comment(study, "Grew 2 mm", author="x", annotation_uuid=measurement.uuid)
    assert [c.status for c in a_store.outbox.comments(study)] == ["pending", "pending"]
    a.sync()
    assert {c.status for c in a_store.outbox.comments(study)} == {"synced"}
    b.sync()
    thread = b_store.outbox.comments(study)
    assert [c.text for c in thread] == ["Compare with the prior, please", "Grew 2 mm"]
    assert {c.author for c in thread} == {alice}  # the server names the author
    on_measurement = b_store.outbox.comments(study, measurement.uuid)
    assert [c.text for c in on_measurement] == ["Grew 2 mm"]
    server_side = deployment.api(bob).comments(study)
    assert [c["text"] for c in server_side] == [c.text for c in thread]


class Relay:
    """A TCP relay in front of the server that can be cut (the network goes away)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._up = threading.Event()
        self._up.set()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.fixture
def relay(deployment: Deployment) -> Iterator[Relay]:
    relay = Relay(deployment.server.port)
    yield relay
    relay.close()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_offline_work_is_kept_and_sent_when_the_server_returns(
    deployment: Deployment,
    team: tuple[str, str, str],
    store_factory: StoreFactory,
    make: Make,
    relay: Relay,
) -> None:
    _, alice, bob = team
    store = store_factory("a")
    collaboration = Collaboration(store, backoff=Backoff(0.05, 0.3), poll_interval_s=5.0)
    states: list[ConnectionState] = []
    collaboration.on_state_changed = states.append
    study = "1.2.826.0.1.3680043.8.498.1008"
    try:
        collaboration.sign_in(f"http://127.0.0.1:{relay.port}", alice, PASSWORD)
        collaboration.start()
        wait_for(lambda: collaboration.state is ConnectionState.ONLINE)
        relay.cut()
        saved = [make(reference=reference(study), label=f"offline {i}") for i in range(20)]
        for annotation in saved:
            assert store.save(annotation)  # "saved" does not wait for the server
        wait_for(lambda: collaboration.state is ConnectionState.OFFLINE)
        assert collaboration.pending_count() == 20
        assert collaboration.last_error
        time.sleep(0.5)  # several retries, with backoff, while offline
        assert collaboration.pending_count() == 20
        relay.restore()
        wait_for(lambda: collaboration.pending_count() == 0)
        wait_for(lambda: collaboration.state is ConnectionState.ONLINE)
    finally:
        collaboration.close()
    assert ConnectionState.OFFLINE in states
    on_server = server_state(deployment.api(bob), study)
    assert {a.uuid for a in saved} == set(on_server)


def test_an_expired_sign_in_stops_sync_without_losing_anything(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, _ = team
    store = store_factory("a")
    collaboration = Collaboration(store, backoff=Backoff(0.05, 0.2), live=False)
    study = "1.2.826.0.1.3680043.8.498.1009"
    token = deployment.token(alice, ttl_s=1.0)
    try:
        collaboration.use_token(deployment.url, token)
        store.save(make(reference=reference(study)))
        collaboration.sync_now()
        assert collaboration.state is ConnectionState.ONLINE
        assert collaboration.pending_count() == 0
        time.sleep(1.1)
        store.save(make(reference=reference(study), label="after expiry"))
        collaboration.sync_now()
        assert collaboration.state is ConnectionState.AUTH_EXPIRED
        assert "sign in again" in collaboration.last_error
        assert collaboration.pending_count() == 1  # kept, waiting for a new sign-in
        collaboration.sign_in(deployment.url, alice, PASSWORD)
        collaboration.sync_now()
        assert collaboration.state is ConnectionState.ONLINE
        assert collaboration.pending_count() == 0
    finally:
        collaboration.close()
    assert len(server_state(deployment.api(alice), study)) == 2


def test_remote_changes_reach_the_scene_and_are_not_sent_back(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, bob = team
    a_store, b_store = store_factory("a"), store_factory("b")
    study = "1.2.826.0.1.3680043.8.498.1010"
    scene = Scene()
    b_store.attach(scene)
    collaboration = Collaboration(b_store, live=False)
    received: list[list[Annotation]] = []
    collaboration.on_remote_changes = received.append
    detach = collaboration.attach_scene(scene)
    a = engine(deployment, a_store, alice)
    try:
        collaboration.sign_in(deployment.url, bob, PASSWORD)
        remote = make(reference=reference(study), label="from Alice")
        a_store.save(remote)
        a.sync()
        collaboration.sync_now()
        assert scene.annotations[remote.uuid] == remote
        assert received and received[-1] == [remote]
        assert collaboration.pending_count() == 0  # the scene's echo is not a local edit
        # Bob edits it in the scene: saved, queued, pushed; Alice gets it.
        scene.edit_annotation(remote, label="reviewed by Bob")
        assert collaboration.pending_count() == 1
        collaboration.sync_now()
        a.sync()
        assert a_store.get(remote.uuid).label == "reviewed by Bob"  # type: ignore[union-attr]
        # An edit racing a remote version is kept as a conflict, not dropped.
        theirs = a_store.get(remote.uuid).edited(label="Alice again")  # type: ignore[union-attr]
        a_store.save(theirs)
        a.sync()
        detach()  # the scene misses the update (as if its thread had not run yet)
        collaboration.sync_now()
        scene.edit_annotation(scene.annotations[remote.uuid], label="Bob, racing")
        [conflict] = collaboration.conflicts()
        assert conflict.mine.label == "Bob, racing" and conflict.theirs is not None
        assert conflict.theirs.label == "Alice again"
        collaboration.attach_scene(scene)
        resolved = collaboration.resolve_conflict(remote.uuid, "mine")
        assert scene.annotations[remote.uuid] == resolved
        collaboration.sync_now()
        a.sync()
        assert a_store.get(remote.uuid).label == "Bob, racing"  # type: ignore[union-attr]
    finally:
        collaboration.close()


def test_several_clients_editing_at_once_converge(
    deployment: Deployment, store_factory: StoreFactory, make: Make
) -> None:
    site = deployment.site()
    users = [deployment.user(site, prefix=f"r{i}") for i in range(4)]
    study = "1.2.826.0.1.3680043.8.498.1011"
    stores = [store_factory(f"c{i}") for i in range(4)]
    shared = [make(reference=reference(study), label=f"shared {i}") for i in range(5)]
    for annotation in shared:
        stores[0].save(annotation)
    clients = [
        Collaboration(store, backoff=Backoff(0.05, 0.5), poll_interval_s=0.5) for store in stores
    ]
    try:
        for client, user in zip(clients, users, strict=True):
            client.sign_in(deployment.url, user, PASSWORD)
            client.start()
        wait_for(lambda: all(c.pending_count() == 0 for c in clients))
        wait_for(lambda: all(len(s.load(study_uid=study)) == 5 for s in stores))

        def work(index: int) -> None:
            store = stores[index]
            for step in range(25):
                if step % 5 == 0:
                    store.save(make(reference=reference(study), label=f"c{index} own {step}"))
                target = store.get(shared[step % 5].uuid)
                assert target is not None
                if index % 2:  # odd clients move points, even ones rename: merges, not conflicts
                    end = (float(10 + index + step), 0.0, 0.0)
                    store.save(target.edited(points=(target.points[0], end)))
                else:
                    store.save(target.edited(label=f"shared {step % 5} by c{index}.{step}"))

        workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        # Same-field races between the two renamers are conflicts: resolve by taking theirs,
        # until every replica holds the server's state.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for client in clients:
                client.sync_now()
                for conflict in client.conflicts():
                    client.resolve_conflict(conflict.uuid, "theirs")
            if all(c.pending_count() == 0 and not c.conflicts() for c in clients):
                for client in clients:
                    client.sync_now()
                states = [local_state(store, study) for store in stores]
                if all(state == states[0] for state in states):
                    break
        else:
            raise AssertionError("the clients did not converge")
    finally:
        for client in clients:
            client.close()
    server = server_state(deployment.api(users[0]), study)
    assert local_state(stores[0], study) == server
    assert len(server) == 5 + 4 * 5
    for annotation in shared:  # both kinds of edit survived in every shared annotation
        final = server[annotation.uuid]
        assert final["points_lps_mm"] != [list(p) for p in annotation.points]
        assert final["label"] != annotation.label


def test_kinds_of_annotation_survive_the_round_trip(
    deployment: Deployment, team: tuple[str, str, str], store_factory: StoreFactory, make: Make
) -> None:
    _, alice, bob = team
    a_store, b_store = store_factory("a"), store_factory("b")
    study = "1.2.826.0.1.3680043.8.498.1012"
    every = [make(kind, reference=reference(study)) for kind in AnnotationKind]
    for annotation in every:
        a_store.save(annotation)
    engine(deployment, a_store, alice).sync()
    engine(deployment, b_store, bob).sync()
    assert {a.uuid: a for a in b_store.load(study_uid=study)} == {a.uuid: a for a in every}


def test_a_store_file_moved_to_another_machine_keeps_its_queue(
    deployment: Deployment, team: tuple[str, str, str], tmp_path: Path, make: Make
) -> None:
    _, alice, _ = team
    path = tmp_path / "laptop.sqlite"
    study = "1.2.826.0.1.3680043.8.498.1013"
    with AnnotationStore(path) as store:
        for i in range(5):
            store.save(make(reference=reference(study), label=f"n{i}"))
    with AnnotationStore(path) as reopened:
        assert reopened.outbox.count() == 5
        engine(deployment, reopened, alice).sync()
        assert reopened.outbox.count() == 0
    assert len(server_state(deployment.api(alice), study)) == 5


def test_a_kept_token_resumes_offline_and_syncs_later(
    deployment: Deployment,
    team: tuple[str, str, str],
    store_factory: StoreFactory,
    make: Make,
    relay: Relay,
) -> None:
    _, alice, _ = team
    store = store_factory("a")
    url = f"http://127.0.0.1:{relay.port}"
    first = Collaboration(store, live=False)
    first.sign_in(url, alice, PASSWORD)
    token = first.token
    assert token is not None
    first.close()
    relay.cut()  # the app starts again, on a train
    study = "1.2.826.0.1.3680043.8.498.1014"
    again = Collaboration(store, backoff=Backoff(0.05, 0.2), live=False)
    try:
        assert again.use_token(url, token) is None
        assert again.state is ConnectionState.OFFLINE
        store.save(make(reference=reference(study)))
        again.start()
        time.sleep(0.3)
        assert again.pending_count() == 1
        relay.restore()
        wait_for(lambda: again.pending_count() == 0)
        wait_for(lambda: again.user is not None and again.user.username == alice)
    finally:
        again.close()
    assert len(server_state(deployment.api(alice), study)) == 1
