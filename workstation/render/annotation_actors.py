"""Measurements and notes drawn on the slice they were made on.

Every live annotation of the shown series whose points lie within half a slice of the plane is
drawn: its outline (projected onto the plane, just in front of the image), its handles, and its
value text (``annotation.values``: mm, degrees, mm², mean ± SD in the modality's unit). The
selected annotation uses the accent colour. A *draft* (a measurement being drawn or a handle
being dragged) is drawn the same way before it becomes an annotation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkCoordinate, vtkPolyDataMapper, vtkTextActor

from workstation.core.annotations import Annotation, AnnotationKind
from workstation.core.scene import Scene
from workstation.render._vtk import ACCENT_COLOUR, ANNOTATION_COLOUR, fill_polydata
from workstation.render.camera import CameraController
from workstation.render.slice_geometry import ShownSlice

FloatArray = npt.NDArray[np.float64]

#: Annotations are drawn this far in front of the image (mm), above the label overlay.
ANNOTATION_OFFSET_MM = 0.12
ELLIPSE_SEGMENTS = 72
TEXT_SIZE = 13
#: Pixels between a shape and its value text.
TEXT_GAP_PX = 10.0


def ellipse_outline(points: npt.ArrayLike, segments: int = ELLIPSE_SEGMENTS) -> FloatArray:
    """Points of the ellipse given by its centre and the ends of two semi-diameters."""
    centre, end_a, end_b = np.asarray(points, dtype=np.float64)
    a, b = end_a - centre, end_b - centre
    t = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    outline: FloatArray = centre + np.outer(np.cos(t), a) + np.outer(np.sin(t), b)
    return outline


def annotation_text(annotation: Annotation) -> str:
    """The value text shown next to an annotation."""
    values = annotation.values
    unit = annotation.value_unit
    lines: list[str] = []
    if annotation.label:
        lines.append(annotation.label)
    kind = annotation.kind
    if kind is AnnotationKind.LENGTH and "length_mm" in values:
        lines.append(f"{values['length_mm']:.1f} mm")
    elif kind is AnnotationKind.ANGLE and "angle_deg" in values:
        lines.append(f"{values['angle_deg']:.1f}°")
    elif kind in (AnnotationKind.ELLIPSE, AnnotationKind.POLYGON):
        if "area_mm2" in values:
            lines.append(f"Area {values['area_mm2']:.1f} mm²")
        if "mean" in values:
            sd = values.get("sd", 0.0)
            lines.append(f"Mean {values['mean']:.1f} ± {sd:.1f} {unit}".rstrip())
    elif kind is AnnotationKind.POINT and "value" in values:
        lines.append(f"{values['value']:g} {unit}".rstrip())
    elif kind is AnnotationKind.TEXT and annotation.text:
        lines.append(annotation.text)
    return "\n".join(lines)


@dataclass
class Draft:
    """A shape being drawn: points (LPS), whether it closes, and its text."""

    kind: AnnotationKind
    points: list[tuple[float, float, float]] = field(default_factory=list)
    closed: bool = False
    text: str = ""


@dataclass
class _Drawn:
    uuid: str
    kind: AnnotationKind
    points: FloatArray  # defining points, projected on the plane
    outline: FloatArray  # the drawn poly-line
    closed: bool
    actors: list[Any]


def _outline(kind: AnnotationKind, points: FloatArray) -> tuple[FloatArray, bool]:
    if kind is AnnotationKind.ELLIPSE and len(points) == 3:
        return ellipse_outline(points), True
    if kind is AnnotationKind.POLYGON:
        return points, len(points) >= 3
    return points, False


class AnnotationActors:
    """The annotations of the shown series near the current plane."""

    def __init__(
        self,
        renderer: Any,
        scene: Scene,
        camera: CameraController,
        request_render: Callable[[], None],
    ) -> None:
        self.renderer = renderer
        self.scene = scene
        self.camera = camera
        self._request_render = request_render
        self._shown: ShownSlice | None = None
        self._drawn: dict[str, _Drawn] = {}
        self._draft: Draft | None = None
        self._hidden: str = ""
        self._visible = True
        self._texts: list[tuple[Any, FloatArray, FloatArray]] = []
        self._observer = renderer.AddObserver("StartEvent", self._place_texts)
        scene.events.annotation_changed.connect(self._on_annotation_changed)
        scene.events.selection_changed.connect(self._on_selection_changed)

    def disconnect(self) -> None:
        self.scene.events.annotation_changed.disconnect(self._on_annotation_changed)
        self.scene.events.selection_changed.disconnect(self._on_selection_changed)
        self.renderer.RemoveObserver(self._observer)
        self._clear()

    def _on_annotation_changed(self, _annotation: Annotation) -> None:
        self.update(self._shown)
        self._request_render()

    def _on_selection_changed(self, _uuid: str) -> None:
        self.update(self._shown)
        self._request_render()

    # --- what is drawn ------------------------------------------------------------------------

    def visible_annotations(self, shown: ShownSlice | None = None) -> list[Annotation]:
        """Live annotations of the shown series within half a slice of the plane."""
        shown = shown or self._shown
        if shown is None:
            return []
        info = shown.layer.info
        result = []
        phase_uids: set[str] | None = None
        if shown.phase_count > 1 and info.sop_instance_uids:
            k_size = shown.layer.volume.grid_shape[0]
            phase_uids = set(
                info.sop_instance_uids[shown.phase * k_size : (shown.phase + 1) * k_size]
            )
        for annotation in self.scene.visible_annotations(info.series_instance_uid or None):
            if not annotation.points or annotation.kind is AnnotationKind.SEGMENTATION:
                continue
            if not shown.contains(annotation.points):
                continue
            uid = annotation.reference.sop_instance_uid
            if phase_uids is not None and uid and uid not in phase_uids:
                continue
            result.append(annotation)
        return result

    def set_visible(self, visible: bool) -> None:
        self._visible = visible
        self.update(self._shown)

    def set_draft(self, draft: Draft | None) -> None:
        """Show (or clear) a shape being drawn or edited."""
        self._draft = draft
        self.update(self._shown)

    def set_hidden(self, uuid: str) -> None:
        """Hide one annotation (while a draft stands in for it during an edit)."""
        self._hidden = uuid
        self.update(self._shown)

    def update(self, shown: ShownSlice | None) -> None:
        self._shown = shown
        self._clear()
        if shown is None or not self._visible:
            return
        selected = self.scene.selected_annotation
        for annotation in self.visible_annotations(shown):
            if annotation.uuid == self._hidden:
                continue
            colour = ACCENT_COLOUR if annotation.uuid == selected else ANNOTATION_COLOUR
            self._draw(
                annotation.uuid,
                annotation.kind,
                annotation.points,
                annotation_text(annotation),
                colour,
                selected=annotation.uuid == selected,
            )
        draft = self._draft
        if draft is not None and draft.points:
            self._draw(
                "",
                draft.kind,
                draft.points,
                draft.text,
                ACCENT_COLOUR,
                selected=True,
                closed=draft.closed,
            )

    def _clear(self) -> None:
        for drawn in self._drawn.values():
            for actor in drawn.actors:
                self.renderer.RemoveViewProp(actor)
        self._drawn.clear()
        self._texts.clear()

    def _draw(
        self,
        uuid: str,
        kind: AnnotationKind,
        points: Sequence[Sequence[float]],
        text: str,
        colour: tuple[float, float, float],
        *,
        selected: bool,
        closed: bool | None = None,
    ) -> None:
        shown = self._shown
        assert shown is not None
        projected = shown.project(np.asarray(points, dtype=np.float64).reshape(-1, 3))
        outline, is_closed = _outline(kind, projected)
        if closed is not None and kind is not AnnotationKind.ELLIPSE:
            is_closed = closed
        lift = -shown.axes.view_direction * ANNOTATION_OFFSET_MM
        actors: list[Any] = []

        line_points = outline + lift
        line_ids = list(range(len(line_points)))
        if is_closed:
            line_ids.append(0)
        if kind is AnnotationKind.POINT:
            size = 6.0 * self.camera.mm_per_pixel()
            right, up = np.asarray(shown.axes.right), np.asarray(shown.axes.up)
            centre = projected[0] + lift
            line_points = np.array(
                [
                    centre - right * size,
                    centre + right * size,
                    centre - up * size,
                    centre + up * size,
                ]
            )
            lines = [[0, 1], [2, 3]]
        elif kind is AnnotationKind.TEXT:
            lines = []
        else:
            lines = [line_ids]
        if lines:
            data = vtkPolyData()
            fill_polydata(data, line_points, lines)
            # A dark halo under the line keeps it readable over bright bone and label colours.
            halo = self._line_actor(data, (0.0, 0.0, 0.0), 4.5)
            halo.GetProperty().SetOpacity(0.55)
            halo.SetPosition(*(shown.axes.view_direction * ANNOTATION_OFFSET_MM / 2))
            actors.append(halo)
            actors.append(self._line_actor(data, colour, 2.0))
        handle_points = projected + lift * 1.2
        if kind is not AnnotationKind.TEXT:
            handles = vtkPolyData()
            fill_polydata(handles, handle_points, [], list(range(len(handle_points))))
            handle_actor = self._line_actor(handles, colour, 1.0)
            handle_actor.GetProperty().SetPointSize(7.0 if selected else 5.0)
            actors.append(handle_actor)
        if text:
            right_anchor, left_anchor = self._text_anchors(kind, outline)
            centred = kind is AnnotationKind.TEXT
            actor = self._text(text, right_anchor + lift, colour, centred)
            actors.append(actor)
            if not centred:
                self._texts.append((actor, right_anchor + lift, left_anchor + lift))
        for actor in actors:
            if isinstance(actor, vtkTextActor):
                self.renderer.AddViewProp(actor)
            else:
                self.renderer.AddActor(actor)
        self._drawn[uuid or "<draft>"] = _Drawn(uuid, kind, projected, outline, is_closed, actors)

    def _text_anchors(
        self, kind: AnnotationKind, outline: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Where the value text goes: (right of the shape, left of the shape)."""
        shown = self._shown
        assert shown is not None
        points = np.asarray(outline, dtype=np.float64)
        if kind is AnnotationKind.LENGTH:
            end = np.asarray(points[-1], dtype=np.float64)
            return end, end
        if kind is AnnotationKind.ANGLE and len(points) >= 2:
            vertex = np.asarray(points[1], dtype=np.float64)
            return vertex, vertex
        if kind in (AnnotationKind.POINT, AnnotationKind.TEXT, AnnotationKind.ANGLE):
            point = np.asarray(points[0], dtype=np.float64)
            return point, point
        # Regions: beside the right-most (left-most) point of the outline, level with its top.
        up = np.asarray(shown.axes.up)
        across = points @ np.asarray(shown.axes.right)
        top = float((points @ up).max())
        rightmost = np.asarray(points[int(np.argmax(across))])
        leftmost = np.asarray(points[int(np.argmin(across))])
        right_anchor: FloatArray = rightmost + up * (top - float(rightmost @ up))
        left_anchor: FloatArray = leftmost + up * (top - float(leftmost @ up))
        return right_anchor, left_anchor

    def _place_texts(self, _caller: Any = None, _event: str = "") -> None:
        """Put each value text on the side of its shape where it fits in the viewport."""
        renderer = self.renderer
        width, _ = renderer.GetSize()
        origin_x, _ = renderer.GetOrigin()
        box = [0.0, 0.0, 0.0, 0.0]
        for actor, right_anchor, left_anchor in self._texts:
            actor.GetBoundingBox(renderer, box)
            text_width = box[1] - box[0]
            x, _ = self.camera.world_to_display(right_anchor)
            fits_right = x + TEXT_GAP_PX + text_width <= origin_x + width - 2
            prop = actor.GetTextProperty()
            reference = actor.GetPositionCoordinate().GetReferenceCoordinate()
            if fits_right:
                prop.SetJustificationToLeft()
                reference.SetValue(*(float(v) for v in right_anchor))
                actor.GetPositionCoordinate().SetValue(TEXT_GAP_PX, 6.0)
            else:
                prop.SetJustificationToRight()
                reference.SetValue(*(float(v) for v in left_anchor))
                actor.GetPositionCoordinate().SetValue(-TEXT_GAP_PX, 6.0)

    @staticmethod
    def _line_actor(data: Any, colour: tuple[float, float, float], width: float) -> Any:
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(data)
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetColor(*colour)
        prop.SetLineWidth(width)
        prop.LightingOff()
        actor.SetPickable(False)
        return actor

    @staticmethod
    def _text(
        text: str, anchor: FloatArray, colour: tuple[float, float, float], centred: bool
    ) -> Any:
        actor = vtkTextActor()
        actor.SetInput(text)
        prop = actor.GetTextProperty()
        prop.SetFontFamilyToArial()
        prop.SetFontSize(TEXT_SIZE)
        prop.SetColor(*colour)
        prop.SetShadow(True)
        prop.SetShadowOffset(1, -1)
        prop.SetBold(True)
        if centred:
            prop.SetJustificationToCentered()
            prop.SetVerticalJustificationToCentered()
        else:
            prop.SetVerticalJustificationToBottom()
        coordinate = actor.GetPositionCoordinate()
        # Anchored in the patient (follows pan and zoom), shifted a few pixels off the shape.
        anchor_coordinate = vtkCoordinate()
        anchor_coordinate.SetCoordinateSystemToWorld()
        anchor_coordinate.SetValue(*(float(v) for v in anchor))
        coordinate.SetCoordinateSystemToDisplay()
        coordinate.SetReferenceCoordinate(anchor_coordinate)
        coordinate.SetValue(0.0 if centred else TEXT_GAP_PX, 0.0 if centred else 6.0)
        actor.SetPickable(False)
        return actor

    # --- picking --------------------------------------------------------------------------------

    def pick(self, x: float, y: float, tolerance: float = 7.0) -> tuple[str, int | None] | None:
        """The annotation under display point ``(x, y)``: (uuid, handle index or None)."""
        best: tuple[float, str, int | None] | None = None
        selected = self.scene.selected_annotation
        ordered = sorted(self._drawn.values(), key=lambda d: d.uuid != selected)
        for drawn in ordered:
            if not drawn.uuid:
                continue
            handles = np.array([self.camera.world_to_display(p) for p in drawn.points])
            distances = np.hypot(handles[:, 0] - x, handles[:, 1] - y)
            nearest = int(np.argmin(distances))
            if distances[nearest] <= tolerance and (best is None or distances[nearest] < best[0]):
                best = (float(distances[nearest]), drawn.uuid, nearest)
                continue
            if drawn.kind in (AnnotationKind.POINT, AnnotationKind.TEXT):
                continue
            outline = np.array([self.camera.world_to_display(p) for p in drawn.outline])
            if drawn.closed:
                outline = np.vstack([outline, outline[:1]])
            distance = _distance_to_polyline(outline, np.array([x, y]))
            if distance <= tolerance and (best is None or distance + 0.5 < best[0]):
                best = (distance + 0.5, drawn.uuid, None)
        if best is None:
            return None
        return best[1], best[2]


def _distance_to_polyline(points: FloatArray, p: FloatArray) -> float:
    if len(points) == 1:
        return float(np.linalg.norm(points[0] - p))
    a, b = points[:-1], points[1:]
    ab = b - a
    length2 = np.maximum((ab**2).sum(axis=1), 1e-12)
    t = np.clip(((p - a) * ab).sum(axis=1) / length2, 0.0, 1.0)
    closest = a + ab * t[:, None]
    return float(np.min(np.linalg.norm(closest - p, axis=1)))
