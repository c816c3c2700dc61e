"""A store attached to a real scene holds the latest version after every change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from workstation.collab.store import AnnotationStore, StoreError
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.scene import Scene

Make = Callable[..., Annotation]


def _assert_stored(store: AnnotationStore, scene: Scene) -> None:
    for uuid, annotation in scene.annotations.items():
        assert store.get(uuid) == annotation


def test_add_edit_delete_undo_redo_are_each_saved(store: AnnotationStore, make: Make) -> None:
    scene = Scene()
    detach = store.attach(scene)
    length, note = make(), make(AnnotationKind.TEXT)
    scene.add_annotation(length)
    _assert_stored(store, scene)
    scene.add_annotation(note)
    _assert_stored(store, scene)
    edited = scene.edit_annotation(length, points=((0.0, 0.0, 0.0), (25.0, 0.0, 0.0)))
    assert store.get(length.uuid) == edited and edited.version == 2
    scene.edit_annotation(note, text="changed note")
    _assert_stored(store, scene)
    scene.delete_annotation(length)
    assert store.get(length.uuid).deleted  # type: ignore[union-attr]
    assert store.load() == [scene.annotations[note.uuid]]
    scene.undo.undo()  # the deletion
    assert store.get(length.uuid) == scene.annotations[length.uuid]
    assert not scene.annotations[length.uuid].deleted
    scene.undo.undo()  # the note's edit
    assert store.get(note.uuid).text == "enlarged node"  # type: ignore[union-attr]
    scene.undo.redo()
    _assert_stored(store, scene)
    scene.undo.undo()
    scene.undo.undo()
    scene.undo.undo()  # back to before the first edit, then before the note was added
    _assert_stored(store, scene)
    assert store.get(note.uuid).deleted  # type: ignore[union-attr]
    for _ in range(5):
        scene.undo.redo()
        _assert_stored(store, scene)
    assert store.get(length.uuid).version == 7  # type: ignore[union-attr]
    assert store.last_sequence() == sum(a.version for a in scene.annotations.values())

    detach()
    scene.edit_annotation(note, label="not saved: detached")
    assert store.get(note.uuid).label != "not saved: detached"  # type: ignore[union-attr]
    detach()  # idempotent


def test_the_attachment_lives_as_long_as_the_store(store: AnnotationStore, make: Make) -> None:
    import gc

    scene = Scene()
    store.attach(scene)  # the return value is dropped on purpose
    gc.collect()
    annotation = make()
    scene.add_annotation(annotation)
    assert store.get(annotation.uuid) == annotation


def test_restore_loads_a_series_or_study_without_an_undo_step(tmp_path: Path, make: Make) -> None:
    path = tmp_path / "annotations.sqlite"
    other_series = ImageReference("1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.1.2")
    with AnnotationStore(path) as store:
        scene = Scene()
        store.attach(scene)
        kept, removed, elsewhere = (
            make(),
            make(AnnotationKind.POINT),
            make(AnnotationKind.ANGLE, other_series),
        )
        for annotation in (kept, removed, elsewhere):
            scene.add_annotation(annotation)
        scene.edit_annotation(kept, label="kept")
        scene.delete_annotation(removed)
        expected = scene.annotations[kept.uuid]

    with AnnotationStore(path) as store:
        fresh = Scene()
        store.attach(fresh)
        restored = store.restore(fresh, kept.reference.series_instance_uid)
        assert restored == [expected]
        assert fresh.visible_annotations() == [expected]
        assert not fresh.undo.can_undo
        assert store.last_sequence() == 5  # loading saved nothing new
        store.restore(fresh, study_uid=kept.reference.study_instance_uid)
        assert {a.uuid for a in fresh.visible_annotations()} == {kept.uuid, elsewhere.uuid}
        # An edit after restoring continues the stored version numbers.
        fresh.edit_annotation(expected, label="after restore")
        assert store.get(kept.uuid).version == 3  # type: ignore[union-attr]


def test_a_failed_save_is_reported_kept_and_retried(
    store: AnnotationStore, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = Scene()
    errors: list[StoreError] = []
    attachment = store.attach(scene, on_error=errors.append)
    real_save = store.save
    failing = [True]

    def flaky_save(annotation: Annotation) -> bool:
        if failing[0]:
            raise StoreError("disk full")
        return real_save(annotation)

    monkeypatch.setattr(store, "save", flaky_save)
    annotation = make()
    scene.add_annotation(annotation)  # the edit itself goes through
    assert scene.annotations[annotation.uuid] == annotation
    assert [str(e) for e in errors] == ["disk full"]
    assert attachment.pending == [annotation]
    failing[0] = False
    edited = scene.edit_annotation(annotation, label="second")
    assert attachment.pending == []
    assert store.get(annotation.uuid) == edited
