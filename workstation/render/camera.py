"""The 2D camera: which patient directions point right and up on screen, zoom, pan, picking.

Views use a parallel projection looking along the plane normal, so one screen pixel covers the
same millimetres everywhere and the scale bar is exact. Two conventions decide the screen axes:

- the acquired plane of a stack is shown as stored: columns run to the right, rows run down
  (view-up = −``down``), as every PACS shows the modality's images;
- reformats (coronal, sagittal, oblique MPR) follow the radiological convention of the patient
  plane nearest to them: the patient's right on screen left and the head up for coronal, the
  front on the left and the head up for sagittal, the front up for axial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.core import geometry

FloatArray = npt.NDArray[np.float64]

#: Distance of the camera from its focal point (mm); any value works with parallel projection.
CAMERA_DISTANCE = 1000.0
#: Depth kept in front of and behind the focal plane (mm).
DEPTH_MM = 50.0

# Conventional (right, up) screen directions in LPS for planes nearest to each patient axis.
_CONVENTION = {
    0: ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),  # sagittal: posterior to the right, head up
    1: ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),  # coronal: patient left to the right, head up
    2: ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),  # axial: patient left to the right, anterior up
}


@dataclass(frozen=True)
class ScreenAxes:
    """LPS unit vectors that point to the screen's right and up."""

    right: tuple[float, float, float]
    up: tuple[float, float, float]

    @property
    def view_direction(self) -> FloatArray:
        """Direction the camera looks along (into the screen): up × right."""
        return geometry.unit_vector(np.cross(self.up, self.right))


def _tuple(vector: FloatArray) -> tuple[float, float, float]:
    return (float(vector[0]), float(vector[1]), float(vector[2]))


def native_axes(right: npt.ArrayLike, down: npt.ArrayLike) -> ScreenAxes:
    """Columns to the right and rows down, as the image was stored."""
    r = geometry.unit_vector(np.asarray(right, dtype=np.float64))
    d = np.asarray(down, dtype=np.float64)
    d = geometry.unit_vector(d - (d @ r) * r)  # a sheared (tilted) grid still gets square axes
    return ScreenAxes(_tuple(r), _tuple(-d))


def conventional_axes(normal: npt.ArrayLike) -> ScreenAxes:
    """Radiological screen axes for a plane with ``normal``, by its nearest patient plane."""
    n = geometry.unit_vector(np.asarray(normal, dtype=np.float64))
    right0, up0 = (np.asarray(v) for v in _CONVENTION[int(np.argmax(np.abs(n)))])
    up = geometry.unit_vector(up0 - (up0 @ n) * n)
    right = geometry.unit_vector(np.cross(up, n))
    if right @ right0 < 0:
        right = -right
    return ScreenAxes(_tuple(right), _tuple(up))


class CameraController:
    """Parallel-projection camera of one renderer, in LPS millimetres."""

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer
        self.camera = renderer.GetActiveCamera()
        self.camera.ParallelProjectionOn()
        self.axes = ScreenAxes((1.0, 0.0, 0.0), (0.0, -1.0, 0.0))

    # --- orientation ------------------------------------------------------------------------

    @property
    def focal_point(self) -> FloatArray:
        return np.asarray(self.camera.GetFocalPoint(), dtype=np.float64)

    def look(self, axes: ScreenAxes, focal_point: npt.ArrayLike) -> None:
        """Point the camera along ``axes`` at ``focal_point``, keeping the zoom."""
        self.axes = axes
        focal = np.asarray(focal_point, dtype=np.float64)
        position = focal - axes.view_direction * CAMERA_DISTANCE
        self.camera.SetFocalPoint(*focal)
        self.camera.SetPosition(*position)
        self.camera.SetViewUp(*axes.up)
        # Everything a 2D view shows lies within millimetres of the focal plane.
        self.camera.SetClippingRange(CAMERA_DISTANCE - DEPTH_MM, CAMERA_DISTANCE + DEPTH_MM)

    def move_onto_plane(self, point: npt.ArrayLike, normal: npt.ArrayLike) -> None:
        """Slide the camera along the view direction onto a parallel plane (pan and zoom kept)."""
        n = geometry.unit_vector(np.asarray(normal, dtype=np.float64))
        focal = self.focal_point
        focal = focal - n * float((focal - np.asarray(point, dtype=np.float64)) @ n)
        self.look(self.axes, focal)

    # --- size and scale ---------------------------------------------------------------------

    def viewport_size(self) -> tuple[int, int]:
        """The renderer's size in display pixels (1 × 1 before it has a window)."""
        width, height = self.renderer.GetSize()
        return max(int(width), 1), max(int(height), 1)

    @property
    def parallel_scale(self) -> float:
        """Half the viewport height in mm."""
        return float(self.camera.GetParallelScale())

    def mm_per_pixel(self) -> float:
        return 2.0 * self.parallel_scale / self.viewport_size()[1]

    def fit(self, corners: npt.ArrayLike, margin: float = 1.02) -> None:
        """Centre and scale so that all ``corners`` (LPS) are visible."""
        points = np.asarray(corners, dtype=np.float64).reshape(-1, 3)
        right = np.asarray(self.axes.right)
        up = np.asarray(self.axes.up)
        x, y = points @ right, points @ up
        centre_2d = ((x.min() + x.max()) / 2, (y.min() + y.max()) / 2)
        width, height = self.viewport_size()
        half_height = max((y.max() - y.min()) / 2, (x.max() - x.min()) / 2 * height / width)
        focal = self.focal_point
        focal = focal + right * (centre_2d[0] - focal @ right) + up * (centre_2d[1] - focal @ up)
        self.camera.SetParallelScale(max(float(half_height) * margin, 1e-3))
        self.look(self.axes, focal)

    def zoom(self, factor: float, anchor: tuple[float, float] | None = None) -> None:
        """Magnify by ``factor`` (> 1 zooms in), keeping the display point ``anchor`` fixed."""
        if factor <= 0:
            return
        before = self.display_to_world(*anchor) if anchor is not None else None
        self.camera.SetParallelScale(self.parallel_scale / factor)
        if before is not None and anchor is not None:
            after = self.display_to_world(*anchor)
            self.look(self.axes, self.focal_point + (before - after))

    def pan(self, dx: float, dy: float) -> None:
        """Move the picture by ``dx`` pixels to the right and ``dy`` pixels up."""
        scale = self.mm_per_pixel()
        shift = np.asarray(self.axes.right) * dx * scale + np.asarray(self.axes.up) * dy * scale
        self.look(self.axes, self.focal_point - shift)

    # --- picking ----------------------------------------------------------------------------

    def display_to_world(self, x: float, y: float) -> FloatArray:
        """World point on the focal plane under display pixel ``(x, y)`` (origin bottom left)."""
        renderer = self.renderer
        renderer.SetDisplayPoint(float(x), float(y), 0.0)
        renderer.DisplayToWorld()
        wx, wy, wz, w = renderer.GetWorldPoint()
        point = np.array([wx, wy, wz], dtype=np.float64) / (w if w else 1.0)
        direction = self.axes.view_direction
        return point - direction * float((point - self.focal_point) @ direction)

    def world_to_display(self, point: npt.ArrayLike) -> tuple[float, float]:
        renderer = self.renderer
        x, y, z = (float(v) for v in np.asarray(point, dtype=np.float64))
        renderer.SetWorldPoint(x, y, z, 1.0)
        renderer.WorldToDisplay()
        dx, dy, _ = renderer.GetDisplayPoint()
        return float(dx), float(dy)
