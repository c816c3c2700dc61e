"""The 2D viewport: a VTK render window in a Qt widget, with the reading-room mouse map.

Mouse (as OHIF's default tool group): left drag window/level (horizontal: width, vertical:
level, scaled to the data range), middle drag pan, right drag zoom, wheel slices (Ctrl+wheel
zooms). With a measurement tool, the left button draws instead: length (press, drag, release),
angle (three clicks), ellipse (drag a box), polygon (clicks, double-click closes), point and
text (a click). In any mode a press on an annotation selects it and drags it (on a handle: that
point), and Delete deletes the selected one. Brush and eraser paint the active segment (one
undo step per stroke); the crosshair tool places the linked cursor (Shift-drag rotates the MPR).

Keyboard: Up/Down and PageUp/PageDown slice, Left/Right phase, I invert, R reset, Escape
cancels a drawing, Delete deletes.

The widget is thin: the picture is :class:`workstation.render.slice_view.SliceView`'s, and
every change goes to the scene (commands for what is undoable, display state for the window).
"""

from __future__ import annotations

import logging
import math
from enum import Enum, auto
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QInputDialog, QVBoxLayout, QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser
from vtkmodules.vtkRenderingCore import vtkRenderer

import workstation.render._vtk  # noqa: F401  (registers the OpenGL and text factories)
from workstation.core.annotations import Annotation, AnnotationKind, Point
from workstation.core.planes import Orientation, Plane
from workstation.core.presets import WindowPreset
from workstation.core.scene import Scene
from workstation.core.segmentation import LabelMap
from workstation.render.annotation_actors import Draft, annotation_text
from workstation.render.mpr import Rotation
from workstation.render.slice_geometry import ShownSlice, phase_grid
from workstation.render.slice_view import SliceView
from workstation.render.snapshot import window_to_array
from workstation.render.window import drag_scale
from workstation.ui import interaction
from workstation.ui.tools import Tool, ToolSettings

FloatArray = npt.NDArray[np.float64]
_log = logging.getLogger(__name__)

#: Pixels a press may move before it counts as a drag (a click otherwise).
CLICK_SLOP_PX = 3.0
#: Zoom factor per pixel of right-button drag (down zooms in, as Cornerstone/OHIF).
ZOOM_PER_PIXEL = 0.01
#: Zoom factor per wheel notch with Ctrl.
WHEEL_ZOOM = 1.15
#: A previewed oblique plane that has not moved for this long is resampled trilinearly.
REFINE_AFTER_MS = 150


class _Drag(Enum):
    NONE = auto()
    WINDOW = auto()
    PAN = auto()
    ZOOM = auto()
    DRAW = auto()  # length or ellipse: press-drag-release
    EDIT = auto()  # moving an annotation or one of its handles
    PAINT = auto()
    CURSOR = auto()
    ROTATE = auto()


class Viewport(QWidget):
    """One 2D view of the scene (see the module docstring for the mouse and keyboard)."""

    #: (LPS tuple or None, voxel value or None, unit, (i, j, k) or None) under the mouse.
    cursor_moved = Signal(object)
    #: The user clicked into the viewport (the shell makes it the active one).
    activated = Signal()
    slice_changed = Signal(int)
    phase_changed = Signal(int)

    def __init__(self, scene: Scene, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._vtk_widget = QVTKRenderWindowInteractor(self)  # type: ignore[no-untyped-call]
        layout.addWidget(self._vtk_widget)
        self.render_window = self._vtk_widget.GetRenderWindow()  # type: ignore[no-untyped-call]
        self.renderer = vtkRenderer()
        self.render_window.AddRenderer(self.renderer)
        interactor = self.render_window.GetInteractor()
        if interactor is not None:
            interactor.SetInteractorStyle(vtkInteractorStyleUser())
        self._vtk_widget.setMouseTracking(True)
        self._vtk_widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._vtk_widget.installEventFilter(self)

        self.view = SliceView(self.renderer, scene)
        # Moving oblique planes are previewed, and refined once they rest for REFINE_AFTER_MS.
        self.view.preview_oblique = True
        self._refine_timer = QTimer(self)
        self._refine_timer.setSingleShot(True)
        self._refine_timer.setInterval(REFINE_AFTER_MS)
        self._refine_timer.timeout.connect(self._refine)
        self.view.events.render_requested.connect(self._schedule_render)
        self.view.events.slice_changed.connect(self.slice_changed.emit)
        self.view.events.phase_changed.connect(self.phase_changed.emit)

        self.tool = Tool.NAVIGATE
        self.tool_settings = ToolSettings()
        #: Scrolling moves the linked cursor, so views of the same frame of reference follow.
        self.link_scroll = True
        self._render_pending = False
        self._drag = _Drag.NONE
        self._press_display = (0.0, 0.0)
        self._last_display = (0.0, 0.0)
        self._press_window = (0.0, 0.0)
        self._window_scale = 1.0
        self._moved = False
        self._draft: Draft | None = None
        self._edit: tuple[str, int | None, FloatArray] | None = None
        self._stroke: interaction.Stroke | None = None
        self._stroke_labels: LabelMap | None = None
        self._last_dab: FloatArray | None = None
        self._rotate_angle = 0.0

    # --- public API ---------------------------------------------------------------------------

    @property
    def view_widget(self) -> QWidget:
        """The child widget that receives the mouse and keyboard."""
        widget: QWidget = self._vtk_widget
        return widget

    @property
    def layer_id(self) -> str | None:
        return self.view.layer_id

    @property
    def orientation(self) -> Orientation | None:
        return self.view.orientation

    def show_layer(self, layer_id: str | None) -> None:
        self.cancel_drawing()
        self.view.show_layer(layer_id)

    def set_orientation(self, orientation: Orientation) -> None:
        self.cancel_drawing()
        self.view.set_orientation(orientation)

    def set_oblique(self, plane: Plane) -> None:
        """Show an oblique (MPR) plane of the layer."""
        self.cancel_drawing()
        self.view.set_oblique(plane)

    @property
    def slice_index(self) -> int:
        return self.view.slice_index

    @property
    def slice_count(self) -> int:
        return self.view.slice_count

    def set_slice(self, index: int) -> None:
        self.view.set_slice(index)

    def scroll(self, delta: int) -> None:  # type: ignore[override]  # not QWidget.scroll(dx, dy)
        """Step ``delta`` slices (the user scrolling: linked views follow)."""
        before = self.view.slice_index
        self.view.scroll(delta)
        if self.link_scroll and self.view.slice_index != before:
            self._move_cursor_onto_plane()

    @property
    def phase(self) -> int:
        return self.view.phase

    @property
    def phase_count(self) -> int:
        return self.view.phase_count

    def set_phase(self, phase: int) -> None:
        self.view.set_phase(phase)

    def slice_region(self) -> tuple[slice, ...] | None:
        """numpy slices of the ``[k, j, i]`` grid holding the shown slice (None when oblique)."""
        shown = self.view.shown
        return interaction.segment_region(shown) if shown is not None else None

    def frame_index(self) -> int:
        """Index (phase-major, as ``LayerInfo.sop_instance_uids``) of the acquired image shown,
        or for a reformat the one through the plane's centre."""
        shown = self.view.shown
        if shown is None:
            return 0
        volume = shown.layer.volume
        k_size = volume.grid_shape[0]
        if shown.orientation is Orientation.AXIAL:
            k = shown.index
        else:
            continuous = float(volume.lps_to_index(shown.center)[2])
            k = min(max(round(continuous), 0), k_size - 1)
        return shown.phase * k_size + k

    def reset_view(self) -> None:
        """Fit the slice and return to the series' own window (not inverted)."""
        self.view.reset_window()
        self.view.reset_camera()

    def apply_preset(self, preset: WindowPreset) -> None:
        self.view.apply_preset(preset)

    def toggle_invert(self) -> None:
        layer = self.view.layer
        if layer is not None:
            layer.display.invert = not layer.display.invert

    def set_overlays_visible(self, visible: bool) -> None:
        self.view.overlays.set_text_visible(visible)
        self._schedule_render()

    def set_crosshair_visible(self, visible: bool) -> None:
        self.view.overlays.set_crosshair_visible(visible)
        self._schedule_render()

    def set_message(self, text: str) -> None:
        self.view.set_message(text)

    def set_tool(self, tool: Tool) -> None:
        self.cancel_drawing()
        self.tool = Tool(tool)
        self._show_brush(None)
        if self.tool is Tool.CROSSHAIR:
            self.set_crosshair_visible(True)

    def rotate_mpr(self, angle_degrees: float) -> None:
        """Turn the crosshair of this view counter-clockwise: the other MPR planes tilt about
        the cursor."""
        layer = self.view.layer
        axis = self.view.rotation_axis()
        if layer is None or axis is None:
            return
        rotation = Rotation(
            center=self.scene.cursor,
            axis=(float(axis[0]), float(axis[1]), float(axis[2])),
            angle_deg=float(angle_degrees),
            frame_of_reference_uid=layer.info.frame_of_reference_uid,
        )
        self.view.link.rotate(rotation)

    def reset_mpr(self) -> None:
        """Back to orthogonal planes in every linked view."""
        layer = self.view.layer
        if layer is not None:
            self.view.link.reset_rotation(layer.info.frame_of_reference_uid)

    def render(self) -> None:  # type: ignore[override]  # QWidget.render paints into a device
        """Render now."""
        self._render_pending = False
        # Text sizes are in points: keep them readable on high-density screens.
        dpi = round(72 * self._vtk_widget.devicePixelRatioF())
        if self.render_window.GetDPI() != dpi:
            self.render_window.SetDPI(dpi)
        self.render_window.Render()
        if self.view.previewing:
            self._refine_timer.start()  # restarted by every frame of a continuing motion

    def render_to_array(self) -> npt.NDArray[np.uint8]:
        """The viewport's pixels ``[row, column, rgb]``, top row first (rendered now)."""
        self.render()
        return window_to_array(self.render_window)

    def cancel_drawing(self) -> None:
        """Drop a drawing in progress (Escape)."""
        if self._stroke is not None:
            self._finish_stroke()
        self._draft = None
        self._edit = None
        self._drag = _Drag.NONE
        self.view.annotations.set_hidden("")
        self.view.annotations.set_draft(None)
        self._schedule_render()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self.view.disconnect()
        self._vtk_widget.Finalize()  # type: ignore[no-untyped-call]
        super().closeEvent(event)

    # --- rendering ------------------------------------------------------------------------------

    def _schedule_render(self) -> None:
        if not self._render_pending:
            self._render_pending = True
            QTimer.singleShot(0, self._render_if_pending)

    def _render_if_pending(self) -> None:
        if self._render_pending and self.isVisible():
            self.render()

    def _refine(self) -> None:
        if self.view.refine():
            self._schedule_render()

    # --- coordinates ----------------------------------------------------------------------------

    def _display(self, position: QPointF) -> tuple[float, float]:
        """VTK display coordinates (device pixels, origin bottom left) of a widget position."""
        ratio = self._vtk_widget.devicePixelRatioF()
        height = self.render_window.GetSize()[1]
        return position.x() * ratio, height - position.y() * ratio - 1.0

    def _lps(self, display: tuple[float, float]) -> FloatArray | None:
        return self.view.display_to_lps(*display)

    # --- events -----------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is not self._vtk_widget:
            return False
        try:
            return self._handle(event)
        except Exception:  # noqa: BLE001 - an error escaping into Qt aborts the whole app
            _log.exception("viewport event %s failed", event.type())
            self.cancel_drawing()
            return True

    def _handle(self, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            self._mouse_press(event)
            return True
        if kind == QEvent.Type.MouseButtonDblClick and isinstance(event, QMouseEvent):
            self._mouse_double_click(event)
            return True
        if kind == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
            self._mouse_move(event)
            return True
        if kind == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            self._mouse_release(event)
            return True
        if kind == QEvent.Type.Wheel and isinstance(event, QWheelEvent):
            self._wheel(event)
            return True
        if kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            return self._key(event)
        if kind in (QEvent.Type.KeyRelease, QEvent.Type.Enter):
            return True
        if kind == QEvent.Type.Leave:
            self.cursor_moved.emit((None, None, "", None))
            self._show_brush(None)
            return True
        return False

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if not self._key(event):
            super().keyPressEvent(event)

    def _key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.scroll(-1)
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.scroll(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            count = self.phase_count
            if count > 1:
                step = -1 if key == Qt.Key.Key_Left else 1
                self.set_phase((self.phase + step) % count)
        elif key == Qt.Key.Key_I:
            self.toggle_invert()
        elif key == Qt.Key.Key_R:
            self.reset_view()
        elif key == Qt.Key.Key_Escape:
            self.cancel_drawing()
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selected()
        else:
            return False
        return True

    def delete_selected(self) -> None:
        uuid = self.scene.selected_annotation
        annotation = self.scene.annotations.get(uuid)
        if annotation is not None and not annotation.deleted:
            self.scene.delete_annotation(annotation)
            self.scene.select("")

    def _wheel(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = WHEEL_ZOOM ** (delta / 120.0)
            self.view.zoom(factor, self._display(event.position()))
            return
        # Wheel towards the reader (negative delta) goes to the next slice, as Cornerstone does.
        self.scroll(1 if delta < 0 else -1)

    def _mouse_press(self, event: QMouseEvent) -> None:
        self.activated.emit()
        self._vtk_widget.setFocus()
        display = self._display(event.position())
        self._press_display = self._last_display = display
        self._moved = False
        button = event.button()
        if button == Qt.MouseButton.MiddleButton:
            self._drag = _Drag.PAN
            return
        if button == Qt.MouseButton.RightButton:
            self._drag = _Drag.ZOOM
            return
        if button != Qt.MouseButton.LeftButton or self.view.shown is None:
            return
        lps = self._lps(display)
        if lps is None:
            return
        if self._draft is None and self._begin_edit(display, lps):
            return
        tool = self.tool
        kind = tool.annotation_kind
        if kind is not None:
            self._press_drawing(kind, lps)
        elif tool in (Tool.BRUSH, Tool.ERASER):
            self._begin_stroke(lps)
        elif tool is Tool.THRESHOLD:
            self._threshold()
        elif tool is Tool.CROSSHAIR:
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self._drag = _Drag.ROTATE
                self._rotate_angle = self._screen_angle(display)
            else:
                self._drag = _Drag.CURSOR
                self._set_cursor(lps)
        else:
            layer = self.view.layer
            if layer is None:
                return
            self.scene.select("")
            self._drag = _Drag.WINDOW
            self._press_window = (layer.display.window, layer.display.center)
            self._window_scale = drag_scale(layer)

    def _mouse_move(self, event: QMouseEvent) -> None:
        display = self._display(event.position())
        last = self._last_display
        self._last_display = display
        dx, dy = display[0] - last[0], display[1] - last[1]
        if (
            math.hypot(display[0] - self._press_display[0], display[1] - self._press_display[1])
            > CLICK_SLOP_PX
        ):
            self._moved = True
        drag = self._drag
        if drag is _Drag.NONE:
            self._hover(display)
            return
        if drag is _Drag.WINDOW:
            layer = self.view.layer
            if layer is not None:
                total_x = display[0] - self._press_display[0]
                total_y = display[1] - self._press_display[1]  # up is positive in display
                window0, centre0 = self._press_window
                layer.display.window = max(1e-3, window0 + total_x * self._window_scale)
                layer.display.center = centre0 - total_y * self._window_scale
        elif drag is _Drag.PAN:
            self.view.pan(dx, dy)
        elif drag is _Drag.ZOOM:
            self.view.zoom(math.exp(-dy * ZOOM_PER_PIXEL))
        elif drag is _Drag.DRAW:
            self._drag_drawing(display)
        elif drag is _Drag.EDIT:
            self._drag_edit(display)
        elif drag is _Drag.PAINT:
            lps = self._lps(display)
            if lps is not None:
                self._paint_to(lps)
                self._show_brush(lps)
        elif drag is _Drag.CURSOR:
            lps = self._lps(display)
            if lps is not None:
                self._set_cursor(lps)
        elif drag is _Drag.ROTATE:
            angle = self._screen_angle(display)
            delta = math.degrees(angle - self._rotate_angle)
            delta = (delta + 180.0) % 360.0 - 180.0
            if abs(delta) > 0.05:
                self._rotate_angle = angle
                self.rotate_mpr(delta)

    def _mouse_release(self, event: QMouseEvent) -> None:
        drag = self._drag
        self._drag = _Drag.NONE
        if drag is _Drag.DRAW:
            self._release_drawing(self._display(event.position()))
        elif drag is _Drag.EDIT:
            self._release_edit(self._display(event.position()))
        elif drag is _Drag.PAINT:
            self._finish_stroke()

    def _mouse_double_click(self, event: QMouseEvent) -> None:
        draft = self._draft
        if draft is not None and draft.kind is AnnotationKind.POLYGON:
            points = draft.points[:-1]  # drop the rubber-band point under the mouse
            if len(points) >= 3:
                self._create(AnnotationKind.POLYGON, points)
            return
        self._mouse_press(event)

    # --- hover and status -------------------------------------------------------------------------

    def _hover(self, display: tuple[float, float]) -> None:
        lps = self._lps(display)
        layer = self.view.layer
        if lps is None or layer is None:
            self.cursor_moved.emit((None, None, "", None))
            return
        value, ijk = self.view.voxel_at(lps)
        point = (float(lps[0]), float(lps[1]), float(lps[2]))
        self.cursor_moved.emit((point, value, layer.info.value_unit, ijk))
        self._show_brush(lps)
        draft = self._draft
        if draft is not None and draft.kind in (AnnotationKind.ANGLE, AnnotationKind.POLYGON):
            draft.points[-1] = point
            self._update_draft_text()
            self.view.annotations.set_draft(draft)

    # --- measurements -----------------------------------------------------------------------------

    def _press_drawing(self, kind: AnnotationKind, lps: FloatArray) -> None:
        point = _point(lps)
        shown = self.view.shown
        assert shown is not None
        if kind in (AnnotationKind.LENGTH, AnnotationKind.ELLIPSE):
            self._draft = Draft(kind, [point, point], closed=kind is AnnotationKind.ELLIPSE)
            self._drag = _Drag.DRAW
            return
        if kind is AnnotationKind.POINT:
            self._create(kind, [point])
            return
        if kind is AnnotationKind.TEXT:
            text = self._ask_text()
            if text:
                self._create(kind, [point], text=text)
            return
        # Angle and polygon: clicks; the last draft point follows the mouse.
        if self._draft is None or self._draft.kind is not kind:
            self._draft = Draft(kind, [point, point])
        else:
            self._draft.points[-1] = point
            if kind is AnnotationKind.ANGLE and len(self._draft.points) == 3:
                self._create(kind, self._draft.points)
                return
            self._draft.points.append(point)
        self._update_draft_text()
        self.view.annotations.set_draft(self._draft)

    def _drag_drawing(self, display: tuple[float, float]) -> None:
        draft = self._draft
        lps = self._lps(display)
        if draft is None or lps is None:
            return
        if draft.kind is AnnotationKind.ELLIPSE:
            start = np.asarray(self._lps(self._press_display))
            axes = self.view.screen_axes
            assert axes is not None
            draft.points = interaction.ellipse_points(start, lps, axes)
        else:
            draft.points[-1] = _point(lps)
        self._update_draft_text()
        self.view.annotations.set_draft(draft)

    def _release_drawing(self, display: tuple[float, float]) -> None:
        draft = self._draft
        if draft is None:
            return
        if not self._moved:  # a click without a drag draws nothing
            self.cancel_drawing()
            return
        self._drag_drawing(display)
        self._create(draft.kind, draft.points)

    def _update_draft_text(self) -> None:
        draft = self._draft
        shown = self.view.shown
        if draft is None or shown is None:
            return
        low, high = draft.kind.point_count
        draft.text = ""
        if low <= len(draft.points) <= high:
            annotation = _measure_or_none(draft.kind, draft.points, shown)
            if annotation is not None:
                draft.text = annotation_text(annotation)

    def _create(self, kind: AnnotationKind, points: list[Point], text: str = "") -> None:
        shown = self.view.shown
        self._draft = None
        self.view.annotations.set_draft(None)
        if shown is None:
            return
        annotation = _measure_or_none(kind, points, shown, text)
        if annotation is None:  # degenerate (an angle arm of no length, a flat ellipse)
            self._schedule_render()
            return
        self.scene.add_annotation(annotation)
        self.scene.select(annotation.uuid)

    def _ask_text(self) -> str:
        text, ok = QInputDialog.getText(self, "Note", "Text of the note:")
        return str(text).strip() if ok else ""

    # --- selecting and editing annotations ------------------------------------------------------

    def _begin_edit(self, display: tuple[float, float], lps: FloatArray) -> bool:
        hit = self.view.annotations.pick(*display)
        if hit is None:
            return False
        uuid, handle = hit
        self.scene.select(uuid)
        self._edit = (uuid, handle, lps)
        self._drag = _Drag.EDIT
        return True

    def _edited_points(self, display: tuple[float, float]) -> list[Point] | None:
        if self._edit is None:
            return None
        uuid, handle, start = self._edit
        annotation = self.scene.annotations.get(uuid)
        lps = self._lps(display)
        if annotation is None or lps is None:
            return None
        return interaction.moved_points(annotation, handle, start, lps)

    def _drag_edit(self, display: tuple[float, float]) -> None:
        points = self._edited_points(display)
        if points is None or self._edit is None or not self._moved:
            return
        annotation = self.scene.annotations[self._edit[0]]
        shown = self.view.shown
        assert shown is not None
        moved = interaction.measured(annotation.edited(points=tuple(points)), shown)
        closed = annotation.kind in (AnnotationKind.ELLIPSE, AnnotationKind.POLYGON)
        self.view.annotations.set_hidden(annotation.uuid)
        self.view.annotations.set_draft(
            Draft(annotation.kind, points, closed, annotation_text(moved))
        )

    def _release_edit(self, display: tuple[float, float]) -> None:
        points = self._edited_points(display)
        edit = self._edit
        self._edit = None
        self.view.annotations.set_draft(None)
        self.view.annotations.set_hidden("")
        if points is None or edit is None or not self._moved:
            return
        annotation = self.scene.annotations[edit[0]]
        shown = self.view.shown
        assert shown is not None
        values = interaction.measured(annotation.edited(points=tuple(points)), shown).values
        self.scene.edit_annotation(annotation, points=tuple(points), values=values)

    # --- segmentation ---------------------------------------------------------------------------

    def active_labels(self, create: bool = True) -> LabelMap | None:
        """The label map the segmentation tools paint into (created for the layer if none)."""
        layer = self.view.layer
        if layer is None:
            return None
        chosen = self.scene.labels.get(self.tool_settings.label_map_id or "")
        if chosen is not None and chosen.image_layer_id == layer.id:
            return chosen
        for labels in self.scene.labels.values():
            if labels.image_layer_id == layer.id:
                return labels
        if not create:
            return None
        volume = layer.volume
        shape: tuple[int, ...] = volume.grid_shape
        if volume.n_phases > 1:
            shape = (volume.n_phases, *shape)
        labels = LabelMap.empty_like(f"{layer.id}:labels", layer.id, shape, volume.affine)
        labels.add_segment("Segment 1")
        self.scene.add_labels(labels)
        self.tool_settings.label_map_id = labels.id
        return labels

    def _show_brush(self, lps: FloatArray | None) -> None:
        """The brush outline follows the mouse while a painting tool is chosen."""
        painting = self.tool in (Tool.BRUSH, Tool.ERASER)
        visible = self.view.overlays.brush.GetVisibility()
        if not painting and not visible:
            return
        radius = float(self.tool_settings.brush_radius_mm)
        self.view.overlays.set_brush(lps if painting else None, radius)
        self._schedule_render()

    def _begin_stroke(self, lps: FloatArray) -> None:
        labels = self.active_labels()
        if labels is None:
            return
        self._stroke_labels = labels
        text = "Erase" if self.tool is Tool.ERASER else "Paint"
        self._stroke = interaction.Stroke(text=text)
        self._drag = _Drag.PAINT
        self._last_dab = None
        self._paint_to(lps)

    def _paint_to(self, lps: FloatArray) -> None:
        labels = self._stroke_labels
        stroke = self._stroke
        shown = self.view.shown
        if labels is None or stroke is None or shown is None:
            return
        radius = float(self.tool_settings.brush_radius_mm)
        centres = (
            [lps]
            if self._last_dab is None
            else interaction.dab_centres(self._last_dab, lps, radius)
        )
        for centre in centres:
            edit = labels.brush(
                centre,
                radius,
                int(self.tool_settings.segment),
                plane_normal=shown.normal,
                erase=self.tool is Tool.ERASER,
                phase=interaction.label_phase(labels, shown),
            )
            edit.apply()
            stroke.edits.append(edit)
        self._last_dab = lps

    def _finish_stroke(self) -> None:
        stroke = self._stroke
        self._stroke = None
        self._stroke_labels = None
        self._last_dab = None
        if stroke is not None and stroke.voxel_count:
            self.scene.undo.push(stroke)

    def _threshold(self) -> None:
        labels = self.active_labels()
        shown = self.view.shown
        if labels is None or shown is None:
            return
        settings = self.tool_settings
        phase = interaction.label_phase(labels, shown)
        image = phase_grid(shown.layer.volume, shown.phase)
        region = interaction.segment_region(shown) if settings.threshold_slice_only else None
        edit = labels.threshold_fill(
            image,  # type: ignore[arg-type]  # grey-scale grids hold numbers
            settings.threshold_low,
            settings.threshold_high,
            int(settings.segment),
            region=region,
            phase=phase,
        )
        edit.text = "Threshold fill"
        if edit.voxel_count:
            self.scene.undo.push(edit)

    # --- crosshair ------------------------------------------------------------------------------

    def _set_cursor(self, lps: FloatArray) -> None:
        layer = self.view.layer
        frame = layer.info.frame_of_reference_uid if layer is not None else ""
        self.view.link.set_cursor(self.scene, lps, frame)

    def _move_cursor_onto_plane(self) -> None:
        shown = self.view.shown
        if shown is None:
            return
        cursor = np.asarray(self.scene.cursor, dtype=np.float64)
        self._set_cursor(shown.project(cursor))

    def _screen_angle(self, display: tuple[float, float]) -> float:
        x, y = self.view.lps_to_display(self.scene.cursor)
        return math.atan2(display[1] - y, display[0] - x)


def _measure_or_none(
    kind: AnnotationKind, points: list[Point], shown: ShownSlice, text: str = ""
) -> Annotation | None:
    """The measured annotation, or None when its shape is degenerate."""
    try:
        with np.errstate(all="raise"):
            return interaction.new_annotation(kind, points, shown, text=text)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError, FloatingPointError):
        return None


def _point(lps: npt.ArrayLike) -> Point:
    x, y, z = (float(v) for v in np.asarray(lps, dtype=np.float64))
    return (x, y, z)
