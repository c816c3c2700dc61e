"""Pieces of mouse interaction that need no widget: brush strokes as one undo step, shapes from
mouse points, annotation references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from workstation.core.annotations import Annotation, AnnotationKind, ImageReference, Point
from workstation.core.measure import measure
from workstation.core.planes import Orientation
from workstation.core.segmentation import LabelEdit, LabelMap
from workstation.core.volume import StackKind
from workstation.render.camera import ScreenAxes
from workstation.render.slice_geometry import ShownSlice, phase_grid

FloatArray = npt.NDArray[np.float64]


@dataclass
class Stroke:
    """The dabs of one brush (eraser) drag as one undoable command.

    The dabs are applied while the mouse moves (the reader sees the paint at once); pushing
    the stroke on the undo stack applies them again in order, which changes nothing, and
    undo reverts them newest first, so overlapping dabs restore the original labels exactly.
    """

    edits: list[LabelEdit] = field(default_factory=list)
    text: str = "Paint"

    def apply(self) -> None:
        for edit in self.edits:
            edit.apply()

    def revert(self) -> None:
        for edit in reversed(self.edits):
            edit.revert()

    @property
    def voxel_count(self) -> int:
        return sum(edit.voxel_count for edit in self.edits)


def dab_centres(start: FloatArray, end: FloatArray, radius_mm: float) -> list[FloatArray]:
    """Centres from ``start`` (excluded) to ``end`` (included) no more than half a radius apart,
    so that a fast drag paints a continuous band."""
    distance = float(np.linalg.norm(end - start))
    steps = max(1, math.ceil(distance / max(radius_mm / 2, 1e-3)))
    return [start + (end - start) * (n / steps) for n in range(1, steps + 1)]


def ellipse_points(corner_a: FloatArray, corner_b: FloatArray, axes: ScreenAxes) -> list[Point]:
    """Centre and semi-axis ends of the ellipse inscribed in the screen box between two corners."""
    right = np.asarray(axes.right)
    up = np.asarray(axes.up)
    centre = (corner_a + corner_b) / 2
    half = (corner_b - corner_a) / 2
    end_a = centre + right * abs(float(half @ right))
    end_b = centre + up * abs(float(half @ up))
    return [_point(centre), _point(end_a), _point(end_b)]


def _point(vector: npt.ArrayLike) -> Point:
    x, y, z = (float(v) for v in np.asarray(vector, dtype=np.float64))
    return (x, y, z)


def slice_reference(shown: ShownSlice) -> ImageReference:
    """The reference of an annotation drawn on ``shown``: the image under it when the view
    shows one acquired slice, the series otherwise (reformats span many images)."""
    info = shown.layer.info
    sop = ""
    frame: int | None = None
    if shown.orientation is Orientation.AXIAL:
        k_size = shown.layer.volume.grid_shape[0]
        flat = shown.phase * k_size + shown.index
        if flat < len(info.sop_instance_uids):
            sop = info.sop_instance_uids[flat]
        if flat < len(info.frame_numbers):
            frame = info.frame_numbers[flat]
    return ImageReference(
        study_instance_uid=info.study_instance_uid,
        series_instance_uid=info.series_instance_uid,
        frame_of_reference_uid=info.frame_of_reference_uid,
        sop_instance_uid=sop,
        frame_number=frame,
    )


def measured(annotation: Annotation, shown: ShownSlice) -> Annotation:
    """``annotation`` with its values computed on the shown phase of the layer."""
    volume = shown.layer.volume
    if volume.kind is StackKind.RGB:
        values = measure(annotation)
    else:
        values = measure(annotation, phase_grid(volume, shown.phase), volume.affine)
    return replace(annotation, values=values)


def new_annotation(
    kind: AnnotationKind, points: Sequence[Point], shown: ShownSlice, text: str = ""
) -> Annotation:
    """A measured annotation of ``kind`` drawn on the shown slice."""
    normal = shown.normal
    plane_normal = None if kind in (AnnotationKind.POINT, AnnotationKind.TEXT) else _point(normal)
    annotation = Annotation(
        kind,
        slice_reference(shown),
        points=tuple(points),
        plane_normal=plane_normal,
        text=text,
        value_unit=shown.layer.info.value_unit,
    )
    return measured(annotation, shown)


def moved_points(
    annotation: Annotation, handle: int | None, start: FloatArray, now: FloatArray
) -> list[Point]:
    """The points of ``annotation`` after dragging one handle (or the whole shape, for None)."""
    points = np.asarray(annotation.points, dtype=np.float64)
    delta = now - start
    if handle is None or (annotation.kind is AnnotationKind.ELLIPSE and handle == 0):
        points = points + delta
    else:
        points[handle] = points[handle] + delta
    return [_point(p) for p in points]


def segment_region(shown: ShownSlice) -> tuple[slice, ...] | None:
    """numpy slices of the ``[k, j, i]`` grid covering the shown slice (None for oblique)."""
    if shown.orientation is None:
        return None
    everything = slice(None)
    this = slice(shown.index, shown.index + 1)
    return {
        Orientation.AXIAL: (this, everything, everything),
        Orientation.CORONAL: (everything, this, everything),
        Orientation.SAGITTAL: (everything, everything, this),
    }[shown.orientation]


def label_phase(labels: LabelMap, shown: ShownSlice) -> int | None:
    return shown.phase if labels.array.ndim == 4 else None
