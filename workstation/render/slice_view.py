"""One layer on one plane: the 2D view adapter radiologists read with (no Qt).

:class:`SliceView` observes the scene and owns the VTK objects of one renderer: the image slice,
the label overlay, the annotations and the overlays. It works the same inside the Qt viewport
and in an offscreen render window (snapshots). It never renders by itself: it emits
``events.render_requested`` and its owner renders once per batch of changes.

Orthogonal slices are numpy views of the volume copied into a slice-sized buffer (a slice
change copies one slice, never the volume); oblique MPR planes are resampled by
``vtkImageReslice`` straight from the volume's memory. The image actor is placed with the
slice's pixel-to-LPS matrix, so every pixel sits at its true patient position.

While an oblique plane changes quickly (the crosshair being turned, a scroll through the
oblique stack) an interactive owner may ask for previews: half resolution, nearest neighbour,
about a tenth of the trilinear plane's time; :meth:`SliceView.refine` brings the trilinear
plane back once the motion stops. Snapshots always get the trilinear plane.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import numpy as np
import numpy.typing as npt
from psygnal import EmissionInfo, Signal, SignalGroup
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPolyData
from vtkmodules.vtkImagingCore import vtkImageReslice
from vtkmodules.vtkRenderingCore import vtkActor, vtkImageActor, vtkPolyDataMapper

from workstation.core import geometry
from workstation.core.planes import Orientation, Plane, PlaneCopier, orthogonal_slice
from workstation.core.presets import WindowPreset
from workstation.core.scene import ImageLayer, Scene
from workstation.core.segmentation import describe_ai
from workstation.core.volume import StackKind
from workstation.render import slice_geometry as sg
from workstation.render._vtk import fill_polydata, image_data_from, matrix4x4
from workstation.render.annotation_actors import AnnotationActors
from workstation.render.camera import CameraController, ScreenAxes
from workstation.render.labels import LabelOverlay
from workstation.render.mpr import Rotation, link_of, same_frame
from workstation.render.overlays import Overlays
from workstation.render.slice_geometry import ShownSlice
from workstation.render.window import initial_window

FloatArray = npt.NDArray[np.float64]

PLACEHOLDER_COLOUR = (0.09, 0.09, 0.1)
#: Oblique planes resampled within this many seconds of the last one are previews (when the
#: owner allows them): the plane is moving.
PREVIEW_WITHIN_S = 0.25
#: A preview samples every PREVIEW_STEP-th plane pixel in each direction.
PREVIEW_STEP = 2
#: Volumes of at least this many bytes are previewed from a half-resolution copy (an eighth
#: of their size, made once); smaller ones fit the caches as they are.
PREVIEW_COPY_BYTES = 16 << 20

#: Layers whose display was given its opening window by a view (done once per layer).
_WINDOWED: weakref.WeakSet[ImageLayer] = weakref.WeakSet()


def _ramp(name: str, inverted: bool) -> Any:
    """A 256-entry colour table for grey-scale display (``gray`` or ``hot``)."""
    table = vtkLookupTable()
    table.SetNumberOfTableValues(256)
    table.SetTableRange(0.0, 255.0)
    for index in range(256):
        t = index / 255.0
        if inverted:
            t = 1.0 - t
        if name == "hot":
            rgb = (min(1.0, 3 * t), min(1.0, max(0.0, 3 * t - 1)), min(1.0, max(0.0, 3 * t - 2)))
        else:
            rgb = (t, t, t)
        table.SetTableValue(index, *rgb, 1.0)
    table.Build()
    return table


#: Half-resolution copies by the id of the array they were made from, with a weak reference
#: to it: a copy lives as long as its volume and is shared by every view of it.
_PREVIEW_COPIES: dict[int, tuple[weakref.ref[Any], Any, Any]] = {}


def preview_copy(grid: npt.NDArray[np.generic]) -> tuple[npt.NDArray[np.generic], Any]:
    """Every second voxel of ``grid`` along each axis, and a ``vtkImageData`` of it in
    ``grid``'s index space (spacing 2); made once per array (~20 ms for 400 × 512²)."""
    key = id(grid)
    entry = _PREVIEW_COPIES.get(key)
    if entry is not None and entry[0]() is grid:
        return entry[1], entry[2]
    half = np.ascontiguousarray(grid[::2, ::2, ::2])
    image = image_data_from(half)
    image.SetSpacing(2.0, 2.0, 2.0)

    def forget(_dead: weakref.ref[Any]) -> None:
        _PREVIEW_COPIES.pop(key, None)

    _PREVIEW_COPIES[key] = (weakref.ref(grid, forget), half, image)
    return half, image


def effective_invert(layer: ImageLayer) -> bool:
    """Whether low values show white: MONOCHROME1 images are inverted unless the user flips them."""
    monochrome1 = layer.info.photometric.upper() == "MONOCHROME1"
    return layer.display.invert != monochrome1


def _display_events(layer: ImageLayer) -> Any:
    """The psygnal signal group ``@evented`` gives a layer's display state."""
    return layer.display.events  # type: ignore[attr-defined]


class SliceViewEvents(SignalGroup):
    #: Something visible changed; the owner should render (once per batch).
    render_requested = Signal()
    slice_changed = Signal(int)
    phase_changed = Signal(int)
    #: Layer, orientation or plane changed.
    view_changed = Signal()


class SliceView:
    """Shows one layer of ``scene`` on one plane in ``renderer``."""

    def __init__(
        self,
        renderer: Any,
        scene: Scene,
        layer_id: str | None = None,
        orientation: Orientation = Orientation.AXIAL,
    ) -> None:
        self.renderer = renderer
        self.scene = scene
        self.events = SliceViewEvents()
        self.link = link_of(scene)
        renderer.SetBackground(0.0, 0.0, 0.0)
        self.camera = CameraController(renderer)
        #: Move to the slice through the scene's cursor when it leaves this plane.
        self.follow_cursor = True
        #: Take part in MPR crosshair rotations.
        self.mpr_linked = True
        self._layer: ImageLayer | None = None
        self._orientation: Orientation = orientation
        self._oblique_base: Plane | None = None
        self._mpr_home: Orientation | None = None
        self._index = 0
        self._phase = 0
        self._axes_key: tuple[float, ...] | None = None
        self._crosshair_axes: tuple[FloatArray, FloatArray] | None = None
        self._message = ""
        self._window_override: tuple[float, float] | None = None
        self.shown: ShownSlice | None = None
        self._partial = False

        self.actor = vtkImageActor()
        self.actor.SetPickable(False)
        # An input from the start: VTK complains about an image actor without one when an
        # empty viewport renders before a layer is shown.
        self.actor.GetMapper().SetInputData(vtkImageData())
        self.actor.SetVisibility(False)
        self.property = self.actor.GetProperty()
        self.property.SetInterpolationTypeToLinear()
        self.property.UseLookupTableScalarRangeOff()
        self._tables: dict[tuple[str, bool], Any] = {}
        self._buffer: npt.NDArray[np.generic] | None = None
        self._planes = PlaneCopier()
        self._image: Any = None
        self._reslice: Any = None
        #: Preview oblique planes that follow one another within PREVIEW_WITHIN_S (see the
        #: module's note); the Qt viewport turns this on and calls :meth:`refine`.
        self.preview_oblique = False
        self._last_reslice = -float("inf")
        self._previewed = False
        self._volume_key: tuple[int, int] | None = None
        self._volume_image: Any = None
        self._volume_holder: npt.NDArray[np.generic] | None = None
        #: The half-resolution copy previews sample (see PREVIEW_COPY_BYTES), when in use, and
        #: the array holding its voxels (kept here too: VTK does not own numpy's memory).
        self._preview_image: Any = None
        self._preview_holder: npt.NDArray[np.generic] | None = None

        self._placeholder_data = vtkPolyData()
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self._placeholder_data)
        self._placeholder = vtkActor()
        self._placeholder.SetMapper(mapper)
        self._placeholder.GetProperty().SetColor(*PLACEHOLDER_COLOUR)
        self._placeholder.GetProperty().LightingOff()
        self._placeholder.SetVisibility(False)
        self._placeholder.SetPickable(False)
        renderer.AddActor(self._placeholder)
        renderer.AddActor(self.actor)

        self.labels = LabelOverlay(renderer, scene, self.request_render)
        self.annotations = AnnotationActors(renderer, scene, self.camera, self.request_render)
        self.overlays = Overlays(renderer, self.camera)
        self.overlays.set_cursor(scene.cursor)
        self.overlays.ai_source = self._ai_note

        events = scene.events
        events.layer_removed.connect(self._on_layer_removed)
        events.slices_loaded.connect(self._on_slices_loaded)
        events.cursor_changed.connect(self._on_cursor_changed)
        self.link.rotated.connect(self._on_rotated)
        self.link.reset.connect(self._on_rotation_reset)
        if layer_id is not None:
            self.show_layer(layer_id)

    def disconnect(self) -> None:
        """Stop observing the scene (the renderer keeps its actors)."""
        events = self.scene.events
        events.layer_removed.disconnect(self._on_layer_removed)
        events.slices_loaded.disconnect(self._on_slices_loaded)
        events.cursor_changed.disconnect(self._on_cursor_changed)
        self.link.rotated.disconnect(self._on_rotated)
        self.link.reset.disconnect(self._on_rotation_reset)
        self._watch_display(None)
        self.labels.disconnect()
        self.annotations.disconnect()

    def request_render(self) -> None:
        self.events.render_requested.emit()

    def _ai_note(self) -> str:
        layer = self._layer
        if layer is None or not self.labels.visible:
            return ""
        return describe_ai(m for m in self.scene.labels.values() if m.image_layer_id == layer.id)

    # --- what is shown ------------------------------------------------------------------------

    @property
    def layer(self) -> ImageLayer | None:
        return self._layer

    @property
    def layer_id(self) -> str | None:
        return self._layer.id if self._layer is not None else None

    @property
    def orientation(self) -> Orientation | None:
        """The grid orientation shown, or None for an oblique (MPR) plane."""
        return None if self._oblique_base is not None else self._orientation

    @property
    def slice_index(self) -> int:
        return self.shown.index if self.shown is not None else 0

    @property
    def slice_count(self) -> int:
        return self.shown.count if self.shown is not None else 0

    @property
    def phase(self) -> int:
        return self._phase

    @property
    def phase_count(self) -> int:
        return self._layer.volume.n_phases if self._layer is not None else 0

    @property
    def plane(self) -> Plane | None:
        return self.shown.plane if self.shown is not None else None

    def show_layer(self, layer_id: str | None) -> None:
        """Show a layer (None: nothing) on the current orientation, fitted."""
        layer = self.scene.layers.get(layer_id or "")
        self._layer = layer
        self._watch_display(layer)
        self._oblique_base = None
        self._mpr_home = None
        self._crosshair_axes = None
        self._phase = 0
        if layer is not None:
            if layer not in _WINDOWED:
                _WINDOWED.add(layer)
                display = layer.display
                if (display.window, display.center) == (400.0, 40.0):
                    display.window, display.center = initial_window(layer)
            if layer.volume.kind in (StackKind.MULTIFRAME, StackKind.IMAGE2D, StackKind.RGB):
                self._orientation = Orientation.AXIAL
            self._index = self._opening_index(self._orientation)
        self._rebuild(fit=True)
        self.events.view_changed.emit()

    def set_orientation(self, orientation: Orientation) -> None:
        """Show one of the grid's own planes (ends any oblique MPR of this view).

        Frames without slice geometry (multi-frame, single images, colour) have only their
        own plane: they stay axial.
        """
        if not self._reformattable():
            orientation = Orientation.AXIAL
        self._orientation = Orientation(orientation)
        self._oblique_base = None
        self._mpr_home = None
        self._crosshair_axes = None
        self.overlays.set_crosshair_axes(None)
        if self._layer is not None:
            self._index = self._opening_index(self._orientation)
        self._rebuild(fit=True)
        self.events.view_changed.emit()

    def set_oblique(self, plane: Plane, *, fit: bool = True) -> None:
        """Show an oblique plane (MPR), resampled from the volume; scrolling moves it along
        its normal. Ignored for frames without slice geometry."""
        if not self._reformattable():
            return
        self._oblique_base = plane
        if self._layer is not None:
            self._index = sg.oblique_base_index(self._layer.volume, plane)
        self._rebuild(fit=fit)
        self.events.view_changed.emit()

    @property
    def previewing(self) -> bool:
        """The plane shown is a preview that :meth:`refine` would replace."""
        return self._previewed and bool(self.actor.GetVisibility())

    def refine(self) -> bool:
        """Replace a preview with the trilinear plane; whether there was one (render then)."""
        if not self._previewed or self.shown is None or self._layer is None:
            return False
        self._last_reslice = -float("inf")  # the next resample is the full one
        self._update_pixels()
        return True

    def _reformattable(self) -> bool:
        layer = self._layer
        return layer is None or layer.volume.kind in (StackKind.VOLUME, StackKind.CINE)

    def set_slice(self, index: int) -> None:
        if self.shown is None:
            return
        index = int(min(max(index, 0), self.shown.count - 1))
        if index == self.shown.index:
            return
        self._index = index
        self._rebuild(fit=False)
        self.events.slice_changed.emit(index)

    def scroll(self, delta: int) -> None:
        self.set_slice(self.slice_index + int(delta))

    def set_phase(self, phase: int) -> None:
        if self._layer is None:
            return
        phase = int(min(max(phase, 0), self.phase_count - 1))
        if phase == self._phase:
            return
        self._phase = phase
        self._rebuild(fit=False)
        self.events.phase_changed.emit(phase)

    def set_message(self, text: str) -> None:
        """A problem to show the reader over the image ("" clears it)."""
        self._message = text
        self._show_message()
        self.request_render()

    def _show_message(self) -> None:
        notes = "; ".join(self._layer.notes) if self._layer is not None else ""
        self.overlays.set_message(self._message or notes)

    def _opening_index(self, orientation: Orientation) -> int:
        """The middle slice, or the one through the cursor when the cursor is in the volume."""
        layer = self._layer
        assert layer is not None
        shown = sg.orthogonal(layer, orientation, 0, self._phase)
        middle = shown.count // 2
        if not (
            self.link.cursor_seen
            and same_frame(self.link.cursor_frame, layer.info.frame_of_reference_uid)
        ):
            return middle
        ijk = layer.volume.lps_to_index(self.scene.cursor)
        k_size, j_size, i_size = layer.volume.grid_shape
        if all(-0.5 <= v <= n - 0.5 for v, n in zip(ijk, (i_size, j_size, k_size), strict=True)):
            return sg.nearest_index(shown, None, self.scene.cursor)
        return middle

    # --- building the slice ----------------------------------------------------------------------

    def _compute(self) -> ShownSlice | None:
        layer = self._layer
        if layer is None:
            return None
        if self._oblique_base is not None:
            return sg.oblique(layer, self._oblique_base, self._index, self._phase)
        return sg.orthogonal(layer, self._orientation, self._index, self._phase)

    def _rebuild(self, *, fit: bool, keep_zoom: bool = False) -> None:
        """Recompute the slice and everything drawn on it."""
        shown = self._compute()
        self.shown = shown
        if shown is None:
            self.actor.SetVisibility(False)
            self._placeholder.SetVisibility(False)
            self.overlays.set_loading("")
            self._axes_key = None
        else:
            self._index = shown.index
            self._update_pixels()
            self._update_property()
            self._place_camera(shown, fit=fit, keep_zoom=keep_zoom)
        self.labels.update(shown)
        self.annotations.update(shown)
        self.overlays.update(shown)
        self._show_message()
        self.request_render()

    def _place_camera(self, shown: ShownSlice, *, fit: bool, keep_zoom: bool) -> None:
        axes = shown.axes
        key = (*axes.right, *axes.up)
        changed = self._axes_key is None or not np.allclose(key, self._axes_key, atol=1e-6)
        self._axes_key = key
        if changed and keep_zoom:
            focal = shown.project(self.camera.focal_point)
            self.camera.look(axes, focal)
        elif fit or changed:
            self.camera.look(axes, shown.center)
            self.camera.fit(shown.corners())
        else:
            self.camera.move_onto_plane(shown.center, shown.normal)

    def _dark_value(self, dtype: np.dtype[Any]) -> float:
        """A value that shows black with the current window (for pixels without data)."""
        layer = self._layer
        assert layer is not None
        width, centre = self.window
        value = centre + (1 if effective_invert(layer) else -1) * (width / 2 + 1)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            value = min(max(value, info.min), info.max)
        return float(value)

    def _update_pixels(self) -> None:
        shown = self.shown
        layer = self._layer
        assert shown is not None and layer is not None
        grid = sg.phase_grid(layer.volume, shown.phase)
        flags = sg.loaded_slices(layer, shown.phase)
        self._partial = False
        nothing = not flags.any() or (
            shown.orientation is Orientation.AXIAL and not flags[shown.index]
        )
        if nothing:
            self._show_placeholder(shown)
            return
        self._placeholder.SetVisibility(False)
        self.actor.SetVisibility(layer.display.visible)
        if shown.orientation is not None:
            self._previewed = False
            view = orthogonal_slice(grid, shown.orientation, shown.index)
            buffer = self._buffer
            if buffer is None or buffer.shape != view.shape or buffer.dtype != view.dtype:
                buffer = self._buffer = np.empty(view.shape, dtype=view.dtype)
                self._image = image_data_from(buffer)
            self._planes.copy(grid, shown.orientation, shown.index, buffer)
            if not flags.all():
                self._planes.invalidate()  # voxels still arriving: keep no slab of them
            if shown.orientation is not Orientation.AXIAL and not flags.all():
                self._partial = True
                buffer[~flags] = self._dark_value(buffer.dtype)
            self._image.GetPointData().GetScalars().Modified()
            self._image.Modified()
            self.actor.GetMapper().SetInputData(self._image)
        else:
            self._partial = not flags.all()
            self._reslice_to(grid, shown)
        self.actor.SetUserMatrix(matrix4x4(shown.matrix))
        loaded = float(flags.mean())
        self.overlays.set_loading(f"loading… {loaded:.0%}" if self._partial else "")

    def _show_placeholder(self, shown: ShownSlice) -> None:
        self.actor.SetVisibility(False)
        corners = shown.corners() + shown.axes.view_direction * 0.01
        fill_polydata(self._placeholder_data, corners, [])
        polys = vtkCellArray()
        polys.InsertNextCell(4)
        for point_id in range(4):
            polys.InsertCellPoint(point_id)
        self._placeholder_data.SetPolys(polys)
        self._placeholder.SetVisibility(True)
        self.overlays.set_loading("loading…")

    def _reslice_to(self, grid: npt.NDArray[np.generic], shown: ShownSlice) -> None:
        key = (id(grid), grid.__array_interface__["data"][0])
        if self._volume_key != key:
            holder = grid if grid.flags.c_contiguous else np.ascontiguousarray(grid)
            self._volume_holder = holder
            self._volume_image = image_data_from(holder)
            self._volume_key = key
        if self._reslice is None:
            self._reslice = vtkImageReslice()
        reslice = self._reslice
        inverse = np.linalg.inv(shown.layer.volume.affine)
        reslice.SetResliceAxes(matrix4x4(inverse @ shown.matrix))
        rows, columns = shown.plane.shape
        now = time.perf_counter()
        preview = self.preview_oblique and now - self._last_reslice < PREVIEW_WITHIN_S
        self._last_reslice, self._previewed = now, preview
        reslice.SetInputData((preview and self._preview_source(grid, key)) or self._volume_image)
        # The output's spacing is in plane pixels, so the actor's matrix places either alike.
        step = PREVIEW_STEP if preview else 1
        if preview:
            reslice.SetInterpolationModeToNearestNeighbor()
        else:
            reslice.SetInterpolationModeToLinear()
        reslice.SetOutputSpacing(float(step), float(step), 1.0)
        reslice.SetOutputOrigin(0.0, 0.0, 0.0)
        reslice.SetOutputExtent(0, (columns - 1) // step, 0, (rows - 1) // step, 0, 0)
        reslice.SetBackgroundLevel(self._dark_value(grid.dtype))
        reslice.Modified()
        self.actor.GetMapper().SetInputConnection(reslice.GetOutputPort())

    def _preview_source(self, grid: npt.NDArray[np.generic], key: tuple[int, int]) -> Any:
        """The half-resolution copy of a large, fully loaded grey volume (None otherwise):
        one sample in eight, so a moving plane's samples stay in the caches (three times
        faster than sampling the full volume at 512²). Views of one volume share it."""
        if self._partial or grid.ndim != 3 or grid.nbytes < PREVIEW_COPY_BYTES:
            return None
        self._preview_holder, self._preview_image = preview_copy(grid)
        return self._preview_image

    def _update_property(self) -> None:
        layer = self._layer
        if layer is None:
            return
        display = layer.display
        prop = self.property
        if layer.volume.kind is StackKind.RGB:
            prop.SetLookupTable(None)
            prop.SetColorWindow(255.0)
            prop.SetColorLevel(127.5)
        else:
            key = (
                display.colormap if display.colormap == "hot" else "gray",
                effective_invert(layer),
            )
            table = self._tables.get(key)
            if table is None:
                table = self._tables[key] = _ramp(*key)
            prop.SetLookupTable(table)
            width, centre = self.window
            prop.SetColorWindow(max(width, 1e-6))
            prop.SetColorLevel(centre)
        prop.SetOpacity(float(display.opacity))
        width, centre = self.window
        self.overlays.set_window(width, centre, effective_invert(layer))
        if self.shown is not None and not self._placeholder.GetVisibility():
            self.actor.SetVisibility(bool(display.visible))

    # --- scene events ---------------------------------------------------------------------------

    def _watch_display(self, layer: ImageLayer | None) -> None:
        previous: ImageLayer | None = getattr(self, "_watched", None)
        if previous is not None:
            _display_events(previous).all.disconnect(self._on_display_changed)
        self._watched = layer
        if layer is not None:
            _display_events(layer).all.connect(self._on_display_changed)

    def _on_display_changed(self, _info: EmissionInfo | None = None) -> None:
        layer = self._layer
        if layer is None or self.shown is None:
            return
        self._update_property()
        if self._partial or self.shown.orientation is None:
            self._update_pixels()  # "no data" pixels follow the window to stay black
        self.request_render()

    def _on_layer_removed(self, layer_id: str) -> None:
        if self._layer is not None and self._layer.id == layer_id:
            self.show_layer(None)

    def _on_slices_loaded(self, layer_id: str, first: int, last: int) -> None:
        shown = self.shown
        if shown is None or self._layer is None or self._layer.id != layer_id:
            return
        k_size = self._layer.volume.grid_shape[0]
        if shown.orientation is Orientation.AXIAL:
            flat = shown.phase * k_size + shown.index
            if not first <= flat <= last:
                return
        elif not (first <= (shown.phase + 1) * k_size - 1 and last >= shown.phase * k_size):
            return
        self._update_pixels()
        self._update_property()
        self.request_render()

    def _on_cursor_changed(self, lps: tuple[float, float, float]) -> None:
        self.link.cursor_seen = True
        self.overlays.set_cursor(lps)
        shown = self.shown
        layer = self._layer
        if (
            self.follow_cursor
            and shown is not None
            and layer is not None
            and same_frame(self.link.cursor_frame, layer.info.frame_of_reference_uid)
            and not shown.contains(lps)
        ):
            index = sg.nearest_index(shown, self._oblique_base, lps)
            if index != shown.index:
                self.set_slice(index)
                return
        self.request_render()

    # --- MPR rotation -----------------------------------------------------------------------------

    def rotation_axis(self) -> FloatArray | None:
        """Axis (LPS) for a counter-clockwise on-screen rotation of this view's crosshair."""
        if self.shown is None:
            return None
        direction: FloatArray = -self.shown.axes.view_direction
        return direction

    def _on_rotated(self, rotation: Rotation) -> None:
        shown = self.shown
        layer = self._layer
        if shown is None or layer is None or not self.mpr_linked or not self._reformattable():
            return
        if not same_frame(rotation.frame_of_reference_uid, layer.info.frame_of_reference_uid):
            return
        matrix = rotation.matrix()
        plane = shown.plane
        first, second = self._crosshair_axes or (np.asarray(plane.right), np.asarray(plane.down))
        self._crosshair_axes = (matrix @ first, matrix @ second)
        self.overlays.set_crosshair_axes(self._crosshair_axes)
        axis = geometry.unit_vector(rotation.axis)
        if abs(float(shown.normal @ axis)) > 1.0 - 1e-6:
            self.request_render()  # the rotation turns within this plane: only the crosshair moves
            return
        if self._mpr_home is None and shown.orientation is not None:
            self._mpr_home = shown.orientation
        right = matrix @ np.asarray(plane.right)
        down = matrix @ np.asarray(plane.down)
        point = rotation.apply(plane.center)
        base = sg.covering_plane(layer.volume, point, right, down)
        self._oblique_base = base
        self._index = sg.oblique_base_index(layer.volume, base)
        self._rebuild(fit=False, keep_zoom=True)
        self.events.view_changed.emit()

    def _on_rotation_reset(self, frame_of_reference_uid: str) -> None:
        layer = self._layer
        if layer is None or not same_frame(
            frame_of_reference_uid, layer.info.frame_of_reference_uid
        ):
            return
        home = self._mpr_home
        self._crosshair_axes = None
        self.overlays.set_crosshair_axes(None)
        if home is not None:
            self.set_orientation(home)
        else:
            self.request_render()

    # --- camera and picking ---------------------------------------------------------------------

    def reset_camera(self) -> None:
        """Fit the slice to the view."""
        if self.shown is not None:
            self.camera.look(self.shown.axes, self.shown.center)
            self.camera.fit(self.shown.corners())
            self.request_render()

    def zoom(self, factor: float, anchor: tuple[float, float] | None = None) -> None:
        self.camera.zoom(factor, anchor)
        self.annotations.update(self.shown)
        self.request_render()

    def pan(self, dx: float, dy: float) -> None:
        self.camera.pan(dx, dy)
        self.request_render()

    @property
    def zoom_factor(self) -> float:
        """Screen pixels per image pixel (of the finer in-plane spacing)."""
        if self.shown is None:
            return 1.0
        return self.shown.min_pixel_mm / self.camera.mm_per_pixel()

    @property
    def screen_axes(self) -> ScreenAxes | None:
        return self.shown.axes if self.shown is not None else None

    def display_to_lps(self, x: float, y: float) -> FloatArray | None:
        """LPS point of the slice under display pixel ``(x, y)`` (origin bottom left)."""
        if self.shown is None:
            return None
        point = self.camera.display_to_world(x, y)
        projected: FloatArray = self.shown.project(point)
        return projected

    def lps_to_display(self, lps: npt.ArrayLike) -> tuple[float, float]:
        return self.camera.world_to_display(lps)

    def voxel_at(self, lps: npt.ArrayLike) -> tuple[float | None, tuple[int, int, int] | None]:
        """Value and ``(i, j, k)`` of the voxel at ``lps`` in the shown phase (None outside)."""
        layer = self._layer
        if layer is None:
            return None, None
        volume = layer.volume
        ijk = np.rint(volume.lps_to_index(lps)).astype(int)
        k_size, j_size, i_size = volume.grid_shape
        i, j, k = (int(v) for v in ijk)
        if not (0 <= i < i_size and 0 <= j < j_size and 0 <= k < k_size):
            return None, None
        if not sg.loaded_slices(layer, self._phase)[k]:
            return None, (i, j, k)
        grid = sg.phase_grid(volume, self._phase)
        if volume.kind is StackKind.RGB:
            return None, (i, j, k)
        return float(grid[k, j, i]), (i, j, k)

    @property
    def window(self) -> tuple[float, float]:
        """(width, centre) the image is shown with: this view's override, else the layer's."""
        if self._window_override is not None:
            return self._window_override
        if self._layer is None:
            return 1.0, 0.5
        display = self._layer.display
        return float(display.window), float(display.center)

    def set_window_override(self, preset: WindowPreset | None) -> None:
        """Show this view with its own window (snapshots of one layer in several windows);
        None follows the layer's display again."""
        self._window_override = (
            None if preset is None else (float(preset.width), float(preset.center))
        )
        self._on_display_changed()

    def apply_preset(self, preset: WindowPreset) -> None:
        if self._layer is not None:
            display = self._layer.display
            display.window, display.center = float(preset.width), float(preset.center)

    def reset_window(self) -> None:
        """The series' own window (or the range-based one), not inverted."""
        if self._layer is not None:
            display = self._layer.display
            display.window, display.center = initial_window(self._layer)
            display.invert = False
