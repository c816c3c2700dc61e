"""Scene commands, annotation versions, label edits and their undo."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import geometry
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.planes import Orientation, orthogonal_plane, orthogonal_slice, reslice
from workstation.core.scene import Scene
from workstation.core.segmentation import LabelMap

REF = ImageReference("1.2.3", "1.2.3.4")


def _length(x: float = 10.0) -> Annotation:
    return Annotation(AnnotationKind.LENGTH, REF, points=((0, 0, 0), (x, 0, 0)))


def test_annotation_edits_are_versions_and_undo_publishes_newer_versions() -> None:
    scene = Scene()
    seen: list[Annotation] = []
    scene.events.annotation_changed.connect(seen.append)
    annotation = _length()
    scene.add_annotation(annotation)
    edited = scene.edit_annotation(annotation, points=((0, 0, 0), (20, 0, 0)))
    assert (edited.version, edited.uuid) == (2, annotation.uuid)
    scene.undo.undo()
    reverted = scene.annotations[annotation.uuid]
    assert reverted.points[1] == (10.0, 0.0, 0.0)
    assert reverted.version == 3  # newer than both, so replicas accept the revert
    scene.undo.undo()
    assert scene.annotations[annotation.uuid].deleted
    assert scene.visible_annotations() == []
    scene.undo.redo()
    assert not scene.annotations[annotation.uuid].deleted
    assert [a.version for a in seen] == [1, 2, 3, 4, 5]


def test_delete_is_a_tombstone_and_loading_keeps_the_newest() -> None:
    scene = Scene()
    annotation = _length()
    scene.add_annotation(annotation)
    scene.delete_annotation(annotation)
    assert scene.annotations[annotation.uuid].deleted
    scene.load_annotations([annotation])  # an older version arriving late changes nothing
    assert scene.annotations[annotation.uuid].deleted


def test_annotation_json_round_trip() -> None:
    annotation = _length().edited(label="aorta", values={"length_mm": 10.0})
    assert Annotation.from_json(annotation.to_json()) == annotation


def _labels(shape=(6, 20, 30), spacing=(0.5, 1.0, 3.0)) -> LabelMap:
    affine = np.diag([*spacing, 1.0])
    return LabelMap.empty_like("seg", "image", shape, affine)


def test_brush_paints_a_round_disc_on_one_slice_and_undoes_exactly() -> None:
    labels = _labels()
    scene = Scene()
    segment = labels.add_segment("Lesion")
    centre = geometry.index_to_lps(labels.affine, (15, 10, 3))
    edit = labels.brush(centre, 4.0, segment.number, plane_normal=(0, 0, 1))
    scene.undo.push(edit)
    painted = np.argwhere(labels.array == segment.number)
    assert set(painted[:, 0]) == {3}  # one slice
    # Round in millimetres: 8 mm wide = 16 columns of 0.5 mm, 8 rows of 1 mm.
    assert np.ptp(painted[:, 2]) == 16 and np.ptp(painted[:, 1]) == 8
    assert labels.volume_ml(segment.number) == pytest.approx(edit.voxel_count * 1.5 / 1000)
    scene.undo.undo()
    assert not labels.array.any()


def test_eraser_removes_only_its_segment_and_threshold_fill() -> None:
    labels = _labels()
    first = labels.add_segment("A")
    second = labels.add_segment("B")
    labels.array[3, 5:15, 5:25] = second.number
    image = np.zeros(labels.array.shape, np.int16)
    image[3, 8:12, 8:12] = 500
    fill = labels.threshold_fill(image, 400, 600, first.number, region=(slice(3, 4),))
    fill.apply()
    assert np.count_nonzero(labels.array == first.number) == 16
    centre = geometry.index_to_lps(labels.affine, (10, 10, 3))
    erase = labels.brush(centre, 100.0, first.number, plane_normal=(0, 0, 1), erase=True)
    erase.apply()
    assert np.count_nonzero(labels.array == first.number) == 0
    assert np.count_nonzero(labels.array == second.number) == 10 * 20 - 16
    erase.revert()
    assert np.count_nonzero(labels.array == first.number) == 16


def test_orthogonal_planes_match_reslicing() -> None:
    rng = np.random.default_rng(1)
    array = rng.integers(-1000, 1000, (7, 9, 11)).astype(np.int16)
    affine = geometry.plane_affine(
        (5, -3, 20), (0.8, 0.6, 0, -0.6, 0.8, 0), (1.5, 0.7), (0, 0, 2.5)
    )
    for orientation, index in (
        (Orientation.AXIAL, 3),
        (Orientation.CORONAL, 4),
        (Orientation.SAGITTAL, 6),
    ):
        plane = orthogonal_plane(affine, array.shape, orientation, index)
        np.testing.assert_array_equal(
            reslice(array, affine, plane), orthogonal_slice(array, orientation, index)
        )


def test_plane_copier_serves_sagittal_planes_from_a_slab_and_follows_changes() -> None:
    from workstation.core.planes import PlaneCopier

    array = np.arange(5 * 6 * 40, dtype=np.int16).reshape(5, 6, 40)
    copier = PlaneCopier(slab=8)
    out = np.empty((5, 6), np.int16)
    for index in (0, 7, 8, 39, 3):
        copier.copy(array, Orientation.SAGITTAL, index, out)
        np.testing.assert_array_equal(out, array[:, :, index])
    array[:, :, 3] = -1  # voxels changed: the caller invalidates
    copier.invalidate()
    copier.copy(array, Orientation.SAGITTAL, 3, out)
    assert (out == -1).all()
    coronal = np.empty((5, 40), np.int16)
    copier.copy(array, Orientation.CORONAL, 2, coronal)
    np.testing.assert_array_equal(coronal, array[:, 2, :])
