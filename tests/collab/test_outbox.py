"""The local outbox: written with each save, in the same transaction; conflicts; comments;
the migration of a version 1 store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from workstation.collab.outbox import ConflictReason
from workstation.collab.protocol import OpStatus
from workstation.collab.store import _MIGRATIONS, AnnotationStore, StoreError
from workstation.core.annotations import Annotation
from workstation.core.scene import Scene

Make = Callable[..., Annotation]


def test_each_saved_version_is_queued_with_its_base(store: AnnotationStore, make: Make) -> None:
    first = make()
    assert store.save(first)
    second = first.edited(label="second")
    assert store.save(second)
    assert not store.save(first)  # an older version: neither stored nor queued
    [one, two] = store.outbox.pending()
    assert one.base_revision is None and two.base_revision == one.op_id
    assert two.payload == second.to_json()
    assert two.to_wire() == {
        "op_id": two.op_id,
        "kind": "annotation",
        "base_revision": one.op_id,
        "annotation": second.to_json(),
    }
    assert store.outbox.count() == 2


def test_a_failed_save_queues_nothing(store: AnnotationStore, make: Make) -> None:
    store._connection().execute(
        "CREATE TRIGGER fail BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(StoreError):
        store.save(make())
    assert store.load() == [] and store.outbox.count() == 0  # all or nothing


def test_versions_from_the_server_are_not_queued(store: AnnotationStore, make: Make) -> None:
    remote = make()
    change = {
        "kind": "annotation",
        "uuid": remote.uuid,
        "revision": "r1",
        "sequence": 7,
        "annotation": remote.to_json(),
    }
    applied = store.outbox.apply_pulled([change], "cursor", 7)
    assert applied.adopted == [remote]
    assert store.get(remote.uuid) == remote and store.outbox.count() == 0
    assert store.outbox.get_state("cursor") == "7"
    scene = Scene()
    store.attach(scene)
    scene.load_annotations([remote])  # the scene echoes it back: still nothing to send
    assert store.outbox.count() == 0
    edited = scene.edit_annotation(remote, label="mine")
    [operation] = store.outbox.pending()
    assert operation.base_revision == "r1" and operation.payload == edited.to_json()


def test_an_edit_racing_a_remote_version_becomes_a_conflict(
    store: AnnotationStore, make: Make
) -> None:
    base = make()
    store.outbox.apply_pulled(
        [{"kind": "annotation", "uuid": base.uuid, "revision": "r1", "annotation": base.to_json()}],
        "c",
        1,
    )
    theirs = base.edited(label="theirs")
    store.outbox.apply_pulled(
        [
            {
                "kind": "annotation",
                "uuid": base.uuid,
                "revision": "r2",
                "annotation": theirs.to_json(),
            }
        ],
        "c",
        2,
    )
    mine = base.edited(label="mine")  # made from version 1 while version 2 arrived
    assert not store.save(mine)
    [conflict] = store.outbox.conflicts()
    assert conflict.mine == mine and conflict.theirs == theirs
    assert conflict.reason is ConflictReason.CONCURRENT_EDIT and conflict.fields == ("label",)
    resolved = store.outbox.resolve(base.uuid, mine)
    assert resolved.version == 3 and resolved.label == "mine"
    [operation] = store.outbox.pending()
    assert operation.base_revision == "r2"
    assert store.outbox.conflicts() == []
    with pytest.raises(KeyError):
        store.outbox.resolve(base.uuid, None)


def test_answers_from_the_server_update_the_outbox(store: AnnotationStore, make: Make) -> None:
    a, b, c = make(), make(), make()
    for annotation in (a, b, c):
        store.save(annotation)
    operations = store.outbox.pending()
    merged = a.edited(label="merged on the server").to_json()
    applied = store.outbox.apply_results(
        operations,
        [
            {
                "op_id": operations[0].op_id,
                "status": OpStatus.MERGED,
                "revision": "m1",
                "annotation": merged,
            },
            {"op_id": operations[1].op_id, "status": OpStatus.FORBIDDEN, "reason": "not yours"},
            {"op_id": operations[2].op_id, "status": OpStatus.MISSING_BASE},
        ],
    )
    assert applied.adopted == [Annotation.from_json(merged)]
    assert store.get(a.uuid).label == "merged on the server"  # type: ignore[union-attr]
    [rejected] = store.outbox.conflicts()
    assert rejected.uuid == b.uuid and rejected.reason is ConflictReason.REJECTED
    assert rejected.detail == "not yours" and rejected.mine == b
    assert [op.op_id for op in store.outbox.pending()] == [operations[2].op_id]
    assert applied.retry == [operations[2].op_id]


def test_comments_are_queued_with_the_comment(store: AnnotationStore) -> None:
    comment = store.outbox.add_comment("1.2.3", "  please review  ", author="me")
    assert comment.text == "please review" and comment.status == "pending"
    [operation] = store.outbox.pending()
    assert operation.kind == "comment" and operation.payload["id"] == comment.id
    assert store.outbox.comments("1.2.3") == [comment]
    with pytest.raises(ValueError, match="text"):
        store.outbox.add_comment("1.2.3", "   ", author="me")
    with pytest.raises(ValueError, match="at most"):
        store.outbox.add_comment("1.2.3", "x" * 10_001, author="me")


def test_a_version_1_store_is_migrated_and_its_annotations_queued(
    tmp_path: Path, make: Make
) -> None:
    path = tmp_path / "old.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    connection.execute("INSERT INTO schema_version VALUES (1)")
    for statement in _MIGRATIONS[0]:
        connection.execute(statement)
    old = make()
    connection.execute(
        "INSERT INTO annotations VALUES (?, 'length', ?, ?, '', 1, 0, ?, ?, '', ?, 1)",
        (
            old.uuid,
            old.reference.study_instance_uid,
            old.reference.series_instance_uid,
            old.created,
            old.updated,
            __import__("json").dumps(old.to_json()),
        ),
    )
    connection.execute("UPDATE change_counter SET sequence = 1")
    connection.commit()
    connection.close()
    with AnnotationStore(path) as store:
        assert store.load() == [old]
        [operation] = store.outbox.pending()
        assert operation.uuid == old.uuid and operation.base_revision is None
        edited = old.edited(label="after the upgrade")
        store.save(edited)
        assert store.outbox.pending()[-1].base_revision == operation.op_id


def test_a_version_renumbered_by_the_server_is_adopted(store: AnnotationStore, make: Make) -> None:
    first = make()
    store.save(first)
    [operation] = store.outbox.pending()
    renumbered = first.to_json() | {"version": 4}
    applied = store.outbox.apply_results(
        [operation],
        [
            {
                "op_id": operation.op_id,
                "status": OpStatus.APPLIED,
                "revision": operation.op_id,
                "annotation": renumbered,
            }
        ],
    )
    assert applied.adopted and store.get(first.uuid).version == 4  # type: ignore[union-attr]
