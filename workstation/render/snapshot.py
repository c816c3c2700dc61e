"""Rendering views offscreen to pixels: one view, or a layout of views in one window.

Used by ``workstation snapshot`` and by tests; the same :class:`SliceView` adapters as the
interactive viewport draw the pictures, in an offscreen ``vtkRenderWindow``. Arrays are
``[row, column, rgb]`` uint8 with the top screen row first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkIOImage import vtkPNGWriter
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkWindowToImageFilter

from workstation.core.planes import Orientation, Plane
from workstation.core.presets import WindowPreset
from workstation.core.scene import Scene
from workstation.render._vtk import to_numpy, to_vtk_array
from workstation.render.slice_view import SliceView

RGBArray = npt.NDArray[np.uint8]

#: (rows, columns) of each layout; "mpr" is axial, coronal, sagittal and a 3D cell.
LAYOUTS: dict[str, tuple[int, int]] = {"1x1": (1, 1), "1x2": (1, 2), "2x2": (2, 2), "mpr": (2, 2)}
_MPR = (Orientation.AXIAL, Orientation.CORONAL, Orientation.SAGITTAL)
GAP_COLOUR = (0.16, 0.16, 0.17)

#: Fills the renderer of the 3D cell of the MPR layout (called with the renderer and scene).
ExtraRenderer = Callable[[Any, Scene], None]


@dataclass(frozen=True)
class ViewSpec:
    """What one cell of a snapshot shows."""

    layer_id: str
    orientation: Orientation = Orientation.AXIAL
    #: Slice index (None: the middle slice, or the one through the cursor).
    index: int | None = None
    phase: int = 0
    preset: WindowPreset | None = None
    #: An oblique plane instead of ``orientation``.
    plane: Plane | None = None


def offscreen_window(size: tuple[int, int]) -> Any:
    """An offscreen render window of ``size`` = (width, height) pixels."""
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(int(size[0]), int(size[1]))
    window.SetMultiSamples(0)
    return window


def window_to_array(window: Any) -> RGBArray:
    """The pixels of a render window (render it first), top row first."""
    grabber = vtkWindowToImageFilter()
    grabber.SetInput(window)
    grabber.SetInputBufferTypeToRGB()
    grabber.ReadFrontBufferOff()
    grabber.ShouldRerenderOff()
    grabber.Update()
    image = grabber.GetOutput()
    width, height, _ = image.GetDimensions()
    pixels = to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3]).astype(np.uint8, copy=False)


def save_png(array: npt.NDArray[np.generic], path: str | Path) -> None:
    """Write an ``[row, column, rgb]`` (or grey ``[row, column]``) uint8 array as PNG."""
    pixels = np.asarray(array)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.dtype != np.uint8:
        raise ValueError(f"save_png needs uint8 pixels, got {pixels.dtype}")
    height, width, components = pixels.shape
    flipped = np.ascontiguousarray(pixels[::-1])  # VTK images start at the bottom row
    image = vtkImageData()
    image.SetDimensions(width, height, 1)
    image.GetPointData().SetScalars(to_vtk_array(flipped.reshape(-1, components), deep=True))
    writer = vtkPNGWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(image)
    writer.Write()


def _prepare_view(
    renderer: Any, scene: Scene, spec: ViewSpec, overlays: bool, crosshair: bool
) -> SliceView:
    view = SliceView(renderer, scene, orientation=spec.orientation)
    view.show_layer(spec.layer_id)
    if spec.plane is not None:
        view.set_oblique(spec.plane)
    if spec.phase:
        view.set_phase(spec.phase)
    if spec.index is not None:
        view.set_slice(spec.index)
    view.overlays.set_text_visible(overlays)
    view.overlays.set_crosshair_visible(crosshair)
    return view


def _render_cells(
    scene: Scene,
    rows: int,
    columns: int,
    cells: Sequence[ViewSpec | None],
    size: tuple[int, int],
    *,
    overlays: bool,
    crosshair: bool,
    extra_renderer: ExtraRenderer | None = None,
    extra_cell: int | None = None,
) -> RGBArray:
    window = offscreen_window(size)
    background = vtkRenderer()
    background.SetBackground(*GAP_COLOUR)
    background.SetViewport(0.0, 0.0, 1.0, 1.0)
    window.AddRenderer(background)
    width, height = size
    views: list[SliceView] = []
    gap_x = 1.0 / width if columns > 1 else 0.0
    gap_y = 1.0 / height if rows > 1 else 0.0
    try:
        for position in range(rows * columns):
            row, column = divmod(position, columns)
            renderer = vtkRenderer()
            renderer.SetBackground(0.0, 0.0, 0.0)
            renderer.SetViewport(
                column / columns + (gap_x if column else 0.0),
                1.0 - (row + 1) / rows + (gap_y if row < rows - 1 else 0.0),
                (column + 1) / columns,
                1.0 - row / rows,
            )
            window.AddRenderer(renderer)
            spec = cells[position] if position < len(cells) else None
            if position == extra_cell:
                if extra_renderer is not None:
                    extra_renderer(renderer, scene)
                continue
            if spec is None or spec.layer_id not in scene.layers:
                continue
            view = _prepare_view(renderer, scene, spec, overlays, crosshair)
            if spec.preset is not None:
                view.set_window_override(spec.preset)  # this cell only; the scene is untouched
            views.append(view)
        for view in views:  # the window has its size now: fit each view to its cell
            view.reset_camera()
        window.Render()
        return window_to_array(window)
    finally:
        for view in views:
            view.disconnect()
        window.Finalize()


def render_view_to_array(  # noqa: PLR0917 - the order callers know: what, where, how big
    scene: Scene,
    layer_id: str,
    orientation: Orientation = Orientation.AXIAL,
    index: int | None = None,
    size: tuple[int, int] = (512, 512),
    preset: WindowPreset | None = None,
    *,
    phase: int = 0,
    plane: Plane | None = None,
    overlays: bool = True,
    crosshair: bool = False,
) -> RGBArray:
    """One view of a layer rendered offscreen: ``[height, width, 3]`` uint8, top row first.

    ``preset`` applies only to this picture (the layer's display state is not changed).
    """
    spec = ViewSpec(layer_id, orientation, index, phase, preset, plane)
    return _render_cells(scene, 1, 1, [spec], size, overlays=overlays, crosshair=crosshair)


def default_cells(scene: Scene, layout: str, layer_id: str | None = None) -> list[ViewSpec | None]:
    """What each cell of ``layout`` shows by default.

    MPR: the layer in axial, coronal and sagittal (the fourth cell is the 3D view). Grids: the
    scene's layers in order; cells left over show the first layer's other orientations.
    """
    rows, columns = LAYOUTS[layout]
    ids = list(scene.layers)
    first = layer_id or scene.active_layer_id or (ids[0] if ids else None)
    if first is None:
        return [None] * (rows * columns)
    if layout == "mpr":
        return [ViewSpec(first, orientation) for orientation in _MPR] + [None]
    ordered = [first] + [i for i in ids if i != first]
    cells: list[ViewSpec | None] = [ViewSpec(i) for i in ordered[: rows * columns]]
    for orientation in _MPR[1:]:
        if len(cells) < rows * columns:
            cells.append(ViewSpec(first, orientation))
    cells.extend([None] * (rows * columns - len(cells)))
    return cells


def snapshot(
    scene: Scene,
    layout: str = "1x1",
    size: tuple[int, int] = (1024, 1024),
    *,
    views: Sequence[ViewSpec | None] | None = None,
    layer_id: str | None = None,
    preset: WindowPreset | None = None,
    overlays: bool = True,
    crosshair: bool = False,
    extra_renderer: ExtraRenderer | None = None,
) -> RGBArray:
    """A layout of views (``1x1``, ``1x2``, ``2x2``, ``mpr``) rendered into one picture.

    ``views`` gives each cell (reading order; None leaves a cell black); by default see
    :func:`default_cells`. ``preset`` applies to every cell without one. In the ``mpr``
    layout the fourth cell is handed to ``extra_renderer`` (the 3D view), else left black.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    rows, columns = LAYOUTS[layout]
    cells = list(views) if views is not None else default_cells(scene, layout, layer_id)
    if preset is not None:
        cells = [
            ViewSpec(c.layer_id, c.orientation, c.index, c.phase, c.preset or preset, c.plane)
            if c is not None
            else None
            for c in cells
        ]
    return _render_cells(
        scene,
        rows,
        columns,
        cells,
        size,
        overlays=overlays,
        crosshair=crosshair,
        extra_renderer=extra_renderer,
        extra_cell=3 if layout == "mpr" else None,
    )
