"""What a radiologist reads around the image: orientation letters, corner text, scale bar,
crosshair, messages.

Camera-dependent parts (scale bar, zoom, crosshair gap) are refreshed at the start of every
render of the renderer, so they always match the current zoom and window size without the
view having to tell them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkTextActor,
)

from workstation.core import geometry
from workstation.core.study import format_date, format_patient_name
from workstation.render._vtk import TEXT_COLOUR, WARNING_COLOUR, fill_polydata
from workstation.render.camera import CameraController
from workstation.render.slice_geometry import ShownSlice

FloatArray = npt.NDArray[np.float64]

CORNER_FONT_SIZE = 13
LETTER_FONT_SIZE = 17
#: Crosshair line colours by the patient plane a line stands for (Slicer's convention).
PLANE_COLOURS = {
    0: (0.93, 0.86, 0.3),  # sagittal (normal along x): yellow
    1: (0.4, 0.8, 0.4),  # coronal (normal along y): green
    2: (0.9, 0.35, 0.35),  # axial (normal along z): red
}
#: Height of the scale bar above the bottom edge (display pixels); the AI note sits above it.
SCALE_BAR_Y_PX = 32.0
#: Gap (display pixels) left open around the crosshair centre so the pixel stays readable.
CROSSHAIR_GAP_PX = 14.0


def nice_length_mm(max_mm: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ mm not longer than ``max_mm``."""
    if max_mm <= 0:
        return 0.0
    exponent = math.floor(math.log10(max_mm))
    for mantissa in (5.0, 2.0, 1.0):
        value = mantissa * 10.0**exponent
        if value <= max_mm:
            return value
    return 10.0 ** (exponent - 1) * 5.0


def format_length(mm: float) -> str:
    if mm >= 10 and abs(mm / 10 - round(mm / 10)) < 1e-9:
        return f"{mm / 10:g} cm"
    return f"{mm:g} mm"


def _text_actor(size: int, colour: tuple[float, float, float], bold: bool = False) -> Any:
    actor = vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontFamilyToArial()
    prop.SetFontSize(size)
    prop.SetColor(*colour)
    prop.SetBold(bold)
    prop.SetShadow(True)
    prop.SetShadowOffset(1, -1)
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.SetPickable(False)
    return actor


def _justify(actor: Any, horizontal: str, vertical: str) -> None:
    prop = actor.GetTextProperty()
    {"left": prop.SetJustificationToLeft, "center": prop.SetJustificationToCentered}.get(
        horizontal, prop.SetJustificationToRight
    )()
    {
        "bottom": prop.SetVerticalJustificationToBottom,
        "center": prop.SetVerticalJustificationToCentered,
    }.get(vertical, prop.SetVerticalJustificationToTop)()


class Overlays:
    """The 2D overlays of one view."""

    def __init__(self, renderer: Any, camera: CameraController) -> None:
        self.renderer = renderer
        self.camera = camera
        self._shown: ShownSlice | None = None
        self._text_visible = True
        self._crosshair_visible = False
        self._cursor: FloatArray | None = None
        self._crosshair_axes: tuple[FloatArray, FloatArray] | None = None
        self._window_text = ""
        self._corner_lines: dict[str, list[str]] = {}

        margin = 0.008
        self.corners = {
            "upper_left": _text_actor(CORNER_FONT_SIZE, TEXT_COLOUR),
            "upper_right": _text_actor(CORNER_FONT_SIZE, TEXT_COLOUR),
            "lower_left": _text_actor(CORNER_FONT_SIZE, TEXT_COLOUR),
            "lower_right": _text_actor(CORNER_FONT_SIZE, TEXT_COLOUR),
        }
        places = {
            "upper_left": ((margin, 1 - margin), "left", "top"),
            "upper_right": ((1 - margin, 1 - margin), "right", "top"),
            "lower_left": ((margin, margin), "left", "bottom"),
            "lower_right": ((1 - margin, margin), "right", "bottom"),
        }
        for name, actor in self.corners.items():
            (x, y), horizontal, vertical = places[name]
            actor.SetPosition(x, y)
            _justify(actor, horizontal, vertical)
        self.letters = {
            "left": _text_actor(LETTER_FONT_SIZE, TEXT_COLOUR, bold=True),
            "right": _text_actor(LETTER_FONT_SIZE, TEXT_COLOUR, bold=True),
            "top": _text_actor(LETTER_FONT_SIZE, TEXT_COLOUR, bold=True),
            "bottom": _text_actor(LETTER_FONT_SIZE, TEXT_COLOUR, bold=True),
        }
        letter_places = {
            "left": ((margin, 0.5), "left", "center"),
            "right": ((1 - margin, 0.5), "right", "center"),
            "top": ((0.5, 1 - margin), "center", "top"),
            "bottom": ((0.5, margin), "center", "bottom"),
        }
        for name, actor in self.letters.items():
            (x, y), horizontal, vertical = letter_places[name]
            actor.SetPosition(x, y)
            _justify(actor, horizontal, vertical)
        self.message = _text_actor(CORNER_FONT_SIZE + 1, WARNING_COLOUR, bold=True)
        self.message.SetPosition(0.5, 0.93)
        _justify(self.message, "center", "top")
        self.loading = _text_actor(CORNER_FONT_SIZE + 3, TEXT_COLOUR)
        self.loading.SetPosition(0.5, 0.5)
        _justify(self.loading, "center", "center")
        self.loading.SetVisibility(False)
        #: Marks algorithm output (amber, above the scale bar) so it is never taken for a
        #: reader's drawing; ``ai_source`` gives the text at each render.
        self.ai_note = _text_actor(CORNER_FONT_SIZE, WARNING_COLOUR, bold=True)
        self.ai_note.GetPositionCoordinate().SetCoordinateSystemToViewport()
        _justify(self.ai_note, "center", "bottom")
        self.ai_note.SetVisibility(False)
        self.ai_source: Callable[[], str] | None = None

        self._scale_data = vtkPolyData()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self._scale_data)
        self.scale_bar = vtkActor2D()
        self.scale_bar.SetMapper(mapper)
        self.scale_bar.GetProperty().SetColor(*TEXT_COLOUR)
        self.scale_bar.GetProperty().SetLineWidth(1.5)
        self.scale_bar.SetPickable(False)
        self.scale_label = _text_actor(CORNER_FONT_SIZE - 1, TEXT_COLOUR)
        self.scale_label.GetPositionCoordinate().SetCoordinateSystemToViewport()
        _justify(self.scale_label, "left", "center")

        self._crosshair_data: list[Any] = []
        self.crosshair: list[Any] = []
        for _ in range(2):
            data = vtkPolyData()
            mapper3d = vtkPolyDataMapper()
            mapper3d.SetInputData(data)
            actor = vtkActor()
            actor.SetMapper(mapper3d)
            actor.GetProperty().SetLineWidth(1.2)
            actor.GetProperty().SetOpacity(0.85)
            actor.GetProperty().LightingOff()
            actor.SetPickable(False)
            actor.SetVisibility(False)
            self._crosshair_data.append(data)
            self.crosshair.append(actor)

        self._brush_data = vtkPolyData()
        brush_mapper = vtkPolyDataMapper()
        brush_mapper.SetInputData(self._brush_data)
        self.brush = vtkActor()
        self.brush.SetMapper(brush_mapper)
        self.brush.GetProperty().SetColor(*TEXT_COLOUR)
        self.brush.GetProperty().SetLineWidth(1.0)
        self.brush.GetProperty().LightingOff()
        self.brush.SetPickable(False)
        self.brush.SetVisibility(False)

        for actor in [
            *self.corners.values(),
            *self.letters.values(),
            self.message,
            self.loading,
            self.ai_note,
            self.scale_bar,
            self.scale_label,
        ]:
            renderer.AddViewProp(actor)
        for actor in [*self.crosshair, self.brush]:
            renderer.AddActor(actor)
        self._observer = renderer.AddObserver("StartEvent", self._before_render)

    def remove(self) -> None:
        """Take every actor out of the renderer."""
        self.renderer.RemoveObserver(self._observer)
        for actor in [
            *self.corners.values(),
            *self.letters.values(),
            self.message,
            self.loading,
            self.ai_note,
            self.scale_bar,
            self.scale_label,
        ]:
            self.renderer.RemoveViewProp(actor)
        for actor in [*self.crosshair, self.brush]:
            self.renderer.RemoveActor(actor)

    # --- state from the view ----------------------------------------------------------------

    def set_text_visible(self, visible: bool) -> None:
        """Show or hide the corner text and the scale bar (orientation letters stay)."""
        self._text_visible = visible
        self._apply_visibility()

    @property
    def text_visible(self) -> bool:
        return self._text_visible

    def set_crosshair_visible(self, visible: bool) -> None:
        self._crosshair_visible = visible
        self._update_crosshair()

    @property
    def crosshair_visible(self) -> bool:
        return self._crosshair_visible

    def set_cursor(self, lps: npt.ArrayLike | None) -> None:
        self._cursor = None if lps is None else np.asarray(lps, dtype=np.float64)
        self._update_crosshair()

    def set_crosshair_axes(self, axes: tuple[FloatArray, FloatArray] | None) -> None:
        """LPS directions of the two crosshair lines (the other planes of an MPR)."""
        self._crosshair_axes = axes
        self._update_crosshair()

    def set_brush(self, centre: npt.ArrayLike | None, radius_mm: float = 0.0) -> None:
        """Outline of the brush at ``centre`` (LPS, on the slice); None hides it."""
        shown = self._shown
        if centre is None or shown is None or radius_mm <= 0:
            self.brush.SetVisibility(False)
            return
        right = np.asarray(shown.axes.right)
        up = np.asarray(shown.axes.up)
        middle = shown.project(np.asarray(centre, dtype=np.float64))
        middle = middle - shown.axes.view_direction * 0.2
        angles = np.linspace(0.0, 2.0 * math.pi, 49)
        points = middle + radius_mm * (
            np.outer(np.cos(angles), right) + np.outer(np.sin(angles), up)
        )
        fill_polydata(self._brush_data, points, [list(range(len(points)))])
        self.brush.SetVisibility(True)

    def set_message(self, text: str) -> None:
        self.message.SetInput(text)
        self.message.SetVisibility(bool(text))

    def set_loading(self, text: str) -> None:
        self.loading.SetInput(text)
        self.loading.SetVisibility(bool(text))

    def update(self, shown: ShownSlice | None) -> None:
        """Refresh the text and letters for the slice now shown (None: nothing shown)."""
        self._shown = shown
        if shown is None:
            self._corner_lines.clear()
            for actor in [*self.corners.values(), *self.letters.values()]:
                actor.SetInput("")
            self._update_crosshair()
            self._apply_visibility()
            return
        layer = shown.layer
        info = layer.info
        self._set_corner(
            "upper_left",
            [
                format_patient_name(info.patient_name),
                f"ID: {info.patient_id}" if info.patient_id else "",
                format_date(info.study_date),
                info.study_description,
            ],
        )
        series = info.series_description
        number = f"Se: {info.series_number}" if info.series_number is not None else ""
        # Named by anatomy, not by the grid: a sagittal acquisition's own slices are sagittal.
        plane_name = geometry.plane_name(shown.normal)
        if shown.orientation is None:
            plane_name = f"{plane_name} MPR"
        self._set_corner(
            "upper_right", [series, " ".join(filter(None, [info.modality, number])), plane_name]
        )
        lower_left = [f"Im: {shown.index + 1}/{shown.count}", f"Pos: {shown.position_mm:.1f} mm"]
        if shown.phase_count > 1:
            times = layer.volume.phase_times_ms
            when = f"  {times[shown.phase]:.0f} ms" if times else ""
            lower_left.append(f"Ph: {shown.phase + 1}/{shown.phase_count}{when}")
        self._set_corner("lower_left", lower_left)
        self._refresh_lower_right()
        axes = shown.axes
        right = np.asarray(axes.right)
        up = np.asarray(axes.up)
        self.letters["right"].SetInput(geometry.orientation_label(right, 2))
        self.letters["left"].SetInput(geometry.orientation_label(-right, 2))
        self.letters["top"].SetInput(geometry.orientation_label(up, 2))
        self.letters["bottom"].SetInput(geometry.orientation_label(-up, 2))
        self._update_crosshair()
        self._apply_visibility()

    def set_window(self, width: float, centre: float, inverted: bool) -> None:
        """The window/level the image is shown with."""
        self._window_text = f"W: {width:.0f} L: {centre:.0f}" + ("  inv" if inverted else "")
        self._refresh_lower_right()

    def _refresh_lower_right(self) -> None:
        shown = self._shown
        if shown is None:
            self.corners["lower_right"].SetInput("")
            return
        zoom = shown.min_pixel_mm / self.camera.mm_per_pixel()
        self._set_corner("lower_right", [self._window_text, f"Zoom: {zoom:.2f}×"])

    def _set_corner(self, name: str, lines: list[str]) -> None:
        """Corner text, each line shortened with an ellipsis to leave the edge letters free."""
        self._corner_lines[name] = [line for line in lines if line]
        self._fit_corner(name)

    def _fit_corner(self, name: str) -> None:
        width, _ = self.camera.viewport_size()
        window = self.renderer.GetRenderWindow()
        dpi = float(window.GetDPI()) if window is not None else 72.0
        char_px = 0.55 * CORNER_FONT_SIZE * dpi / 72.0
        room = max(8, int(0.42 * width / char_px))
        lines = [
            line if len(line) <= room else line[: room - 1].rstrip() + "…"
            for line in self._corner_lines.get(name, [])
        ]
        text = "\n".join(lines)
        actor = self.corners[name]
        if actor.GetInput() != text:
            actor.SetInput(text)

    def _apply_visibility(self) -> None:
        shown = self._shown is not None
        for actor in self.corners.values():
            actor.SetVisibility(self._text_visible and shown)
        for actor in self.letters.values():
            actor.SetVisibility(shown)
        self.scale_bar.SetVisibility(self._text_visible and shown)
        self.scale_label.SetVisibility(self._text_visible and shown)

    # --- camera-dependent parts ---------------------------------------------------------------

    def _before_render(self, _caller: Any = None, _event: str = "") -> None:
        note = self.ai_source() if self.ai_source is not None and self._shown is not None else ""
        self.ai_note.SetInput(note)
        self.ai_note.SetVisibility(bool(note))
        if note:
            width, _height = self.camera.viewport_size()
            self.ai_note.SetPosition(width / 2, SCALE_BAR_Y_PX + 16)
        if self._shown is None:
            return
        for name in ("upper_left", "upper_right", "lower_left"):
            self._fit_corner(name)
        self._refresh_lower_right()
        self._update_scale_bar()
        self._update_crosshair()

    def _update_scale_bar(self) -> None:
        width, _height = self.camera.viewport_size()
        mm_per_pixel = self.camera.mm_per_pixel()
        length_mm = nice_length_mm(0.2 * width * mm_per_pixel)
        if length_mm <= 0 or not self._text_visible:
            self.scale_bar.SetVisibility(False)
            self.scale_label.SetVisibility(False)
            return
        length_px = length_mm / mm_per_pixel
        x0 = width / 2 - length_px / 2
        x1 = x0 + length_px
        y = SCALE_BAR_Y_PX
        tick = 5.0
        points = [(x0, y + tick, 0), (x0, y, 0), (x1, y, 0), (x1, y + tick, 0)]
        fill_polydata(self._scale_data, points, [[0, 1, 2, 3]])
        self.scale_label.SetInput(format_length(length_mm))
        self.scale_label.SetPosition(x1 + 6, y + 2)
        self.scale_bar.SetVisibility(True)
        self.scale_label.SetVisibility(True)

    def _update_crosshair(self) -> None:
        shown = self._shown
        show = self._crosshair_visible and shown is not None and self._cursor is not None
        for actor in self.crosshair:
            actor.SetVisibility(show)
        if not show or shown is None or self._cursor is None:
            return
        centre = shown.project(self._cursor)
        towards_camera = -shown.axes.view_direction * 0.2
        extent = float(np.linalg.norm(np.ptp(shown.corners(), axis=0))) + 1.0
        gap = CROSSHAIR_GAP_PX * self.camera.mm_per_pixel()
        axes = self._crosshair_axes or (np.asarray(shown.plane.right), np.asarray(shown.plane.down))
        normal = shown.normal
        for data, actor, direction in zip(self._crosshair_data, self.crosshair, axes, strict=True):
            d = np.asarray(direction, dtype=np.float64)
            d = d - (d @ normal) * normal
            if np.linalg.norm(d) < 1e-6:
                actor.SetVisibility(False)
                continue
            d = geometry.unit_vector(d)
            base = centre + towards_camera
            points = [base - d * extent, base - d * gap, base + d * gap, base + d * extent]
            fill_polydata(data, points, [[0, 1], [2, 3]])
            plane_normal = np.cross(d, normal)
            actor.GetProperty().SetColor(*PLANE_COLOURS[int(np.argmax(np.abs(plane_normal)))])
