"""The 3D view: volume rendering of an image layer and surfaces of its segmentations.

:class:`VolumeView` draws one layer of the scene into a ``vtkRenderer`` in LPS millimetres — the
volume with its true geometry (spacing, origin, oblique or sheared direction from the layer's
affine), so that it lines up with the 2D views and annotations — plus one surface per visible
segment of the label maps bound to that layer. It observes the scene and keeps no copy of the
voxels: VTK reads the layer's numpy array in place, so progressively loaded slices appear as they
arrive.

Mapper: ``vtkSmartVolumeMapper`` (default mode: GPU ray casting) where a GPU OpenGL context is
present. On software OpenGL (Mesa llvmpipe/softpipe/swrast, read from GL_RENDERER at the first
frame) the CPU ray caster ``vtkFixedPointVolumeRayCastMapper``: Mesa's emulation of GPU ray
casting is 3–15× slower for the shaded presets and no faster for the MIP
(``tests/benchmarks/bench_volume.py``). ``WORKSTATION_CPU_RAYCAST=1`` forces the CPU ray caster,
``=0`` the smart mapper.

Quality follows VTK's interaction convention: a render whose window asks for at least
:data:`INTERACTIVE_UPDATE_RATE` frames per second (interactor styles ask 15 while the mouse drags,
0.0001 once it is released) is drawn with coarser ray and image sampling — the CPU ray caster then
adapts its image sampling to the frame time, the smart mapper its sample distances — and a still
render at full quality.

Scene events must arrive on the thread that owns the render window (the GUI thread).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (OpenGL implementations of the render classes)
from psygnal import SignalGroup
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPiecewiseFunction, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolume import vtkFixedPointVolumeRayCastMapper, vtkVolumeMapper
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from workstation.core.scene import ImageLayer, Scene
from workstation.core.segmentation import LabelMap
from workstation.core.volume import StackKind
from workstation.render.volume_presets import (
    Blend,
    Scale,
    VolumePreset,
    default_preset,
    preset,
    robust_range,
)

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
#: ``call_later(seconds, callback)``: run ``callback`` once on the GUI thread after a delay.
CallLater = Callable[[float, Callable[[], None]], object]

#: Desired frames per second at or above which a render counts as interactive (as
#: ``vtkSmartVolumeMapper.InteractiveUpdateRate``).
INTERACTIVE_UPDATE_RATE = 1.0
#: Environment switch: "1" forces the CPU ray caster, "0" the smart (GPU) mapper.
CPU_RAYCAST_ENV = "WORKSTATION_CPU_RAYCAST"
#: Substrings of GL_RENDERER naming a software rasteriser.
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "lavapipe")

#: numpy → vtkDataArray (untyped in VTK): ``deep=False`` shares the numpy buffer.
_numpy_to_vtk: Callable[..., Any] = numpy_support.numpy_to_vtk

#: Scalar types handed to VTK as they are (64-bit integers, float16, … are converted to float32).
_VOLUME_DTYPES = {np.dtype(t) for t in ("u1", "i1", "u2", "i2", "u4", "i4", "f4", "f8")}


@dataclass(frozen=True, slots=True)
class RenderQuality:
    """CPU ray caster sampling.

    ``sample_distance`` is the step along rays in units of the smallest voxel spacing; the image
    sample distance is pixels per ray (2 casts a quarter of the rays and interpolates). An
    interactive quality lets the ray caster pick the image sample distance within
    ``image_sample_distance`` .. ``max_image_sample_distance`` from the time the window allows
    a frame (1 / its desired update rate), so rotation stays fluid on slow and fast machines.
    """

    sample_distance: float
    image_sample_distance: float
    max_image_sample_distance: float
    adaptive: bool


#: Full quality once the mouse is released: half-voxel steps (3D Slicer's default oversampling
#: factor of 2), one ray per pixel.
STILL = RenderQuality(
    sample_distance=0.5, image_sample_distance=1.0, max_image_sample_distance=1.0, adaptive=False
)
#: While rotating: 1.5-voxel steps, 1.5 to 4 pixels per ray as the frame time requires.
INTERACTIVE = RenderQuality(
    sample_distance=1.5, image_sample_distance=1.5, max_image_sample_distance=4.0, adaptive=True
)


def software_renderer(gl_renderer: str) -> bool:
    """Whether an OpenGL renderer string names a software rasteriser (Mesa llvmpipe, …)."""
    text = gl_renderer.lower()
    return any(name in text for name in SOFTWARE_RENDERERS)


def _cpu_raycast_override() -> bool | None:
    value = os.environ.get(CPU_RAYCAST_ENV, "").strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    return None


def _gl_renderer(render_window: Any) -> str:
    """GL_RENDERER of an initialised window ("" before its context exists: asking then crashes
    OSMesa windows, so callers ask during a render)."""
    report = str(render_window.ReportCapabilities())
    for line in report.splitlines():
        if "renderer string" in line.lower():
            return line.split(":", 1)[1].strip()
    return ""


def _vtk_matrix(matrix: FloatArray) -> Any:
    out = vtkMatrix4x4()
    out.DeepCopy([float(v) for v in matrix.ravel()])
    return out


def _grid_placement(affine: FloatArray) -> tuple[tuple[float, float, float], FloatArray]:
    """Split an index→LPS affine into VTK image spacing and the prop's user matrix.

    The image carries the voxel spacing (so the ray caster's gradients, sample distances and
    surface smoothing see true millimetres); the user matrix ``affine · diag(1/spacing)`` then
    holds only the direction cosines (possibly sheared by gantry tilt, possibly left-handed) and
    the origin. Together they map ``(i, j, k)`` exactly as the affine does.
    """
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    if np.any(spacing <= 0) or not np.all(np.isfinite(affine)):
        raise ValueError(f"affine has a degenerate axis: {affine.tolist()}")
    scale = np.diag([*(1.0 / spacing), 1.0])
    return (float(spacing[0]), float(spacing[1]), float(spacing[2])), affine @ scale


def _image_from_array(
    array: npt.NDArray[np.generic], spacing: tuple[float, float, float]
) -> tuple[vtkImageData, bool]:
    """A ``vtkImageData`` of ``array`` (``[k, j, i]``), and whether it reads ``array`` in place.

    A C-contiguous array of a type VTK reads natively is shared (``numpy_to_vtk(deep=False)``):
    slices the loader writes later show once the image is marked modified. Other layouts and
    types are copied once, and must be copied again when the voxels change.
    """
    source = array
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    elif array.dtype not in _VOLUME_DTYPES:
        array = array.astype(np.float32)  # int64/float16/…: one converted copy
    flat = np.ascontiguousarray(array).reshape(-1)  # a view when already C-contiguous
    shared = np.shares_memory(flat, source)
    scalars = _numpy_to_vtk(flat, deep=False)  # keeps ``flat`` (and so ``source``) alive
    scalars.SetName("values")
    image = vtkImageData()
    n_k, n_j, n_i = array.shape
    image.SetDimensions(n_i, n_j, n_k)
    image.SetSpacing(*spacing)
    image.GetPointData().SetScalars(scalars)
    return image, shared


class _Throttle:
    """Runs ``action`` at most once per ``interval_s``.

    A request runs it at once when the last run is older than the interval; otherwise it is
    pending and runs when the interval is over, through ``call_later``. Without ``call_later`` a
    pending request waits for the next request after the interval, or for :meth:`satisfied`
    (a render that happened anyway).
    """

    def __init__(
        self, action: Callable[[], None], interval_s: float, call_later: CallLater | None
    ) -> None:
        self._action = action
        self.interval_s = interval_s
        self._call_later = call_later
        self._last = -float("inf")
        self._pending = False
        self._scheduled = False
        self._closed = False

    @property
    def pending(self) -> bool:
        return self._pending

    def request(self, *, now: bool = False) -> None:
        if self._closed:
            return
        elapsed = time.monotonic() - self._last
        if now or elapsed >= self.interval_s:
            self._run()
            return
        self._pending = True
        if self._call_later is not None and not self._scheduled:
            self._scheduled = True
            self._call_later(self.interval_s - elapsed, self._fire)

    def satisfied(self) -> None:
        self._pending = False

    def close(self) -> None:
        self._closed = True
        self._pending = False

    def _fire(self) -> None:
        self._scheduled = False
        if self._pending and not self._closed:
            self._run()

    def _run(self) -> None:
        self._pending = False
        try:
            self._action()
        finally:  # the interval counts from the end of a (possibly slow) frame
            self._last = time.monotonic()


@dataclass
class _Surface:
    label_id: str
    number: int
    actor: Any  # vtkActor


class VolumeView:
    """Volume rendering of one scene layer, with its segmentations as surfaces.

    Parameters
    ----------
    renderer:
        Where to draw; the view adds and removes only its own props.
    scene:
        The scene to observe.
    request_render:
        Called when the view needs a new frame (a Qt widget passes its ``update``); by default the
        renderer's window is rendered, once it has been rendered by its owner.
    call_later:
        ``call_later(seconds, callback)`` on the GUI thread (e.g. ``QTimer.singleShot``): lets
        throttled updates (progressive loading, segmentation edits) end with a final frame. Without
        it, the last update within ``throttle_s`` shows at the next render of the window.
    throttle_s:
        Least time between two frames the view asks for on its own.
    """

    def __init__(
        self,
        renderer: vtkRenderer,
        scene: Scene,
        *,
        request_render: Callable[[], None] | None = None,
        call_later: CallLater | None = None,
        throttle_s: float = 0.25,
    ) -> None:
        self._renderer = renderer
        self._scene = scene
        self._request_render = request_render
        self._throttle = _Throttle(self._render_now, throttle_s, call_later)

        self._volume = vtkVolume()
        self._property = vtkVolumeProperty()
        self._property.SetInterpolationTypeToLinear()
        self._property.SetScalarOpacityUnitDistance(1.0)  # opacities are per mm (volume_presets)
        self._colour = vtkColorTransferFunction()
        self._opacity = vtkPiecewiseFunction()
        self._property.SetColor(self._colour)
        self._property.SetScalarOpacity(self._opacity)
        self._volume.SetProperty(self._property)
        self._cpu_mapper: vtkFixedPointVolumeRayCastMapper | None = None
        self._smart_mapper: vtkSmartVolumeMapper | None = None
        self._cpu_override = _cpu_raycast_override()
        self._software_gl: bool | None = None  # known from the first frame's OpenGL context
        self._quality: RenderQuality | None = None

        self._layer: ImageLayer | None = None
        self._phase = 0
        #: Image of each phase shown so far, and whether it reads the layer's array in place.
        self._images: dict[int, tuple[vtkImageData, bool]] = {}
        self._spacing = (1.0, 1.0, 1.0)
        self._min_spacing = 1.0
        self._chosen_preset: str | None = None
        self._data_range: tuple[float, float] | None = None  # of "mr-default", None = stale
        self._transfer_stale = True
        self._data_stale = False

        self._surfaces_visible = True
        self._surfaces: dict[tuple[str, int], _Surface] = {}
        #: Surfaces by (label map id, phase, segment number); None where the segment is empty.
        self._surface_cache: dict[tuple[str, int, int], vtkPolyData | None] = {}
        self._stale_labels: set[str] = set()
        self._label_slots: dict[str, tuple[LabelMap, Callable[..., None], Callable[[], None]]] = {}
        self._display_slot: Callable[..., None] | None = None

        events = scene.events
        events.slices_loaded.connect(self._on_slices_loaded)
        events.layer_removed.connect(self._on_layer_removed)
        events.labels_added.connect(self._on_labels_added)
        events.labels_removed.connect(self._on_labels_removed)
        self._throttle_s = throttle_s
        self._frame_started = 0.0
        self._observers = [
            renderer.AddObserver(vtkCommand.StartEvent, self._on_start_render),
            renderer.AddObserver(vtkCommand.EndEvent, self._on_end_render),
        ]
        self._attached = True

    # --- what is shown ---------------------------------------------------------------------

    @property
    def layer_id(self) -> str | None:
        return self._layer.id if self._layer is not None else None

    @property
    def phase(self) -> int:
        return self._phase

    @property
    def preset(self) -> str:
        """The preset in effect (CT presets fall back to "mr-default" on other modalities)."""
        return self._effective_preset().name

    @property
    def volume(self) -> vtkVolume:
        """The volume prop (in the renderer while a layer is shown)."""
        return self._volume

    @property
    def mapper(self) -> Any:
        """The volume mapper in use (None before anything was shown)."""
        return self._volume.GetMapper()

    @property
    def uses_cpu_raycast(self) -> bool:
        """Whether the CPU ray caster draws the volume now (else the smart mapper)."""
        mapper = self._volume.GetMapper()
        return mapper is not None and mapper is self._cpu_mapper

    def surface_actors(self) -> dict[tuple[str, int], vtkActor]:
        """The segment surfaces drawn now, by (label map id, segment number)."""
        self._update_surfaces()
        return {key: s.actor for key, s in self._surfaces.items()}

    def show(self, layer_id: str | None) -> bool:
        """Show ``layer_id`` (None: show nothing); True when there is something to draw.

        Single images, colour and one-slice stacks have no volume to render: the view is then
        empty and this returns False.
        """
        if not self._attached:
            raise RuntimeError("the view is detached")
        self._hide()
        if layer_id is None:
            self._request()
            return False
        layer = self._scene.layers[layer_id]
        volume = layer.volume
        if volume.kind is StackKind.RGB or min(volume.grid_shape) < 2:
            log.info("layer %s (%s) has no volume to render in 3D", layer_id, volume.kind.value)
            self._request()
            return False
        self._layer = layer
        self._phase = 0
        spacing, placement = _grid_placement(volume.affine)
        self._min_spacing = min(spacing)
        self._volume.SetUserMatrix(_vtk_matrix(placement))
        self._spacing = spacing
        self._data_range = None
        self._transfer_stale = True
        self._ensure_mapper()
        self._set_input(self._image(0))
        self._display_slot = self._on_display_changed
        _display_events(layer).all.connect(self._display_slot)
        self._volume.SetVisibility(layer.display.visible)
        self._renderer.AddVolume(self._volume)
        for labels in list(self._scene.labels.values()):
            if labels.image_layer_id == layer_id:
                self._watch_labels(labels)
        self._apply_transfer()
        self.reset_camera()
        self._request()
        return True

    def set_preset(self, name: str) -> None:
        """Use a preset of :mod:`~workstation.render.volume_presets` ("ct-bone", "mip", …)."""
        preset(name)  # KeyError for unknown names
        self._chosen_preset = name
        self._transfer_stale = True
        self._ensure_mapper()
        self._apply_transfer()
        self._request()

    def set_phase(self, phase: int) -> None:
        """Show phase ``phase`` of a cine layer (0 for any other)."""
        if self._layer is None:
            raise RuntimeError("no layer is shown")
        n_phases = self._layer.volume.n_phases
        if not 0 <= phase < n_phases:
            raise IndexError(f"phase {phase} outside 0..{n_phases - 1}")
        if phase == self._phase:
            return
        self._phase = phase
        self._set_input(self._image(phase))
        self._stale_labels.update(
            label_id
            for label_id, (labels, *_) in self._label_slots.items()
            if labels.array.ndim == 4
        )
        self._request()

    def set_surfaces_visible(self, visible: bool) -> None:
        self._surfaces_visible = visible
        if visible:
            self._stale_labels.update(self._label_slots)
        else:
            self._clear_surfaces()
        self._request()

    def refresh_surfaces(self) -> None:
        """Redraw the surfaces after segment colour, opacity or visibility edits (Segment fields
        are plain attributes and emit nothing)."""
        self._stale_labels.update(self._label_slots)
        self._request()

    def reset_camera(self) -> None:
        """Anterior view, head up: the camera in front of the patient (−y, anterior in LPS),
        looking posterior, view-up +z; the patient's right is then on the screen's left."""
        camera = self._renderer.GetActiveCamera()
        if self._layer is None:
            return
        bounds = self._volume.GetBounds()
        centre = [(bounds[2 * a] + bounds[2 * a + 1]) / 2 for a in range(3)]
        half_x, half_y, half_z = ((bounds[2 * a + 1] - bounds[2 * a]) / 2 for a in range(3))
        camera.SetFocalPoint(*centre)
        camera.SetViewUp(0.0, 0.0, 1.0)
        camera.SetParallelProjection(False)
        # Fit the box as seen from the front (ResetCamera fits its bounding sphere, which leaves
        # a wide, flat torso small), with the near face inside the view and a 5 % margin.
        aspect = 1.0
        if self._renderer.GetRenderWindow() is not None:
            aspect = max(float(self._renderer.GetTiledAspectRatio()), 1e-3)
        tangent = float(np.tan(np.radians(camera.GetViewAngle()) / 2))
        distance = 1.05 * max(half_z, half_x / aspect) / tangent + half_y
        camera.SetPosition(centre[0], centre[1] - max(distance, 1.0), centre[2])
        self._renderer.ResetCameraClippingRange(bounds)

    def flush(self) -> None:
        """Bring the VTK objects up to date with the scene now (a render does it too)."""
        self._update()

    def detach(self) -> None:
        """Stop observing the scene and take every prop of this view out of the renderer."""
        if not self._attached:
            return
        self._hide()
        self._throttle.close()
        events = self._scene.events
        events.slices_loaded.disconnect(self._on_slices_loaded)
        events.layer_removed.disconnect(self._on_layer_removed)
        events.labels_added.disconnect(self._on_labels_added)
        events.labels_removed.disconnect(self._on_labels_removed)
        for observer in self._observers:
            self._renderer.RemoveObserver(observer)
        self._attached = False

    # --- scene events ----------------------------------------------------------------------

    def _on_slices_loaded(self, layer_id: str, first: int, last: int) -> None:
        layer = self._layer
        if layer is None or layer_id != layer.id:
            return
        self._data_stale = True
        if self._effective_preset().scale is Scale.DATA:
            self._data_range = None
            self._transfer_stale = True
        # The last slices always make a frame; the ones before at most one per throttle interval.
        self._request(now=layer.fully_loaded)

    def _on_layer_removed(self, layer_id: str) -> None:
        if self._layer is not None and layer_id == self._layer.id:
            self.show(None)

    def _on_labels_added(self, label_id: str) -> None:
        labels = self._scene.labels.get(label_id)
        if (
            labels is not None
            and self._layer is not None
            and labels.image_layer_id == self._layer.id
        ):
            self._watch_labels(labels)
            self._request()

    def _on_labels_removed(self, label_id: str) -> None:
        if label_id in self._label_slots:
            self._unwatch_labels(label_id)
            self._request()

    def _on_labels_changed(self, label_id: str, _index: object = None) -> None:
        self._drop_cache(label_id)
        self._stale_labels.add(label_id)
        self._request()

    def _on_segments_changed(self, label_id: str) -> None:
        self._stale_labels.add(label_id)
        self._request()

    def _on_display_changed(self, *_: object) -> None:
        layer = self._layer
        if layer is None:
            return
        changed = bool(self._volume.GetVisibility()) != layer.display.visible
        self._volume.SetVisibility(layer.display.visible)
        if self._effective_preset().scale is Scale.WINDOW:  # MIP follows the window/level
            self._transfer_stale = True
            self._apply_transfer()
            changed = True
        if changed:  # window/level drags in the 2D views leave the shaded presets alone
            self._request()

    # --- rendering -------------------------------------------------------------------------

    def _request(self, *, now: bool = False) -> None:
        """Ask for a frame: at once if none was asked for within the throttle interval, else
        once the interval is over (or with the next render of the window, whichever is first)."""
        self._throttle.request(now=now)

    def _render_now(self) -> None:
        if self._request_render is not None:
            self._request_render()
            return
        window = self._renderer.GetRenderWindow()
        if window is not None and not window.GetNeverRendered():
            window.Render()

    def _on_start_render(self, _caller: object, _event: str) -> None:
        """Just before the renderer draws: settle the mapper, data, surfaces and quality."""
        self._frame_started = time.perf_counter()
        self._throttle.satisfied()
        if self._layer is None:
            return
        window = self._renderer.GetRenderWindow()
        if self._software_gl is None and window is not None:
            gl_renderer = _gl_renderer(window)
            self._software_gl = software_renderer(gl_renderer)
            log.info("3D view on OpenGL %r (software: %s)", gl_renderer, self._software_gl)
            self._ensure_mapper()
        self._update()
        rate = window.GetDesiredUpdateRate() if window is not None else 0.0
        self._set_quality(INTERACTIVE if rate >= INTERACTIVE_UPDATE_RATE else STILL)

    def _on_end_render(self, _caller: object, _event: str) -> None:
        # Frames the view asks for itself (loading, edits) leave the GUI thread at least three
        # quarters of the time, however slow a frame is (CPU ray casting of a large volume).
        frame_s = time.perf_counter() - self._frame_started
        self._throttle.interval_s = max(self._throttle_s, 3.0 * frame_s)

    def _update(self) -> None:
        if self._layer is None:
            return
        if self._data_stale:
            self._data_stale = False
            for phase, (image, shared) in list(self._images.items()):
                if shared:
                    image.GetPointData().GetScalars().Modified()
                    image.Modified()
                else:  # a converted copy: take the new voxels again
                    del self._images[phase]
            self._set_input(self._image(self._phase))
        self._apply_transfer()
        self._update_surfaces()

    def _wants_cpu_raycast(self) -> bool:
        """CPU ray casting on software OpenGL, or when forced; until the first frame tells what
        OpenGL is there, the CPU ray caster stands in (it holds no GPU resources)."""
        if self._cpu_override is not None:
            return self._cpu_override
        return self._software_gl is None or self._software_gl

    def _ensure_mapper(self) -> None:
        """Put the mapper :meth:`_wants_cpu_raycast` chooses on the volume."""
        current: Any = self._volume.GetMapper()
        wanted: Any
        if not self._wants_cpu_raycast():
            if self._smart_mapper is None:
                self._smart_mapper = vtkSmartVolumeMapper()
                self._smart_mapper.SetRequestedRenderModeToDefault()
                self._smart_mapper.SetInteractiveUpdateRate(INTERACTIVE_UPDATE_RATE)
            wanted = self._smart_mapper
        else:
            if self._cpu_mapper is None:
                self._cpu_mapper = vtkFixedPointVolumeRayCastMapper()
                self._cpu_mapper.SetAutoAdjustSampleDistances(False)
                self._cpu_mapper.SetLockSampleDistanceToInputSpacing(False)
            wanted = self._cpu_mapper
        if current is wanted:
            return
        # The other mapper keeps its input and caches (gradients, textures) for a switch back.
        if self._layer is not None:
            wanted.SetInputData(self._image(self._phase))
        self._volume.SetMapper(wanted)
        self._quality = None
        self._transfer_stale = True  # sets the new mapper's blend mode

    def _set_quality(self, quality: RenderQuality) -> None:
        mapper = self._volume.GetMapper()
        if mapper is not self._cpu_mapper or mapper is None or quality == self._quality:
            return  # the smart mapper adjusts itself from the window's desired update rate
        self._quality = quality
        step = quality.sample_distance * self._min_spacing
        mapper.SetAutoAdjustSampleDistances(quality.adaptive)
        mapper.SetMinimumImageSampleDistance(quality.image_sample_distance)
        mapper.SetMaximumImageSampleDistance(quality.max_image_sample_distance)
        if quality.adaptive:
            mapper.SetInteractiveSampleDistance(step)
        else:
            mapper.SetSampleDistance(step)
            mapper.SetImageSampleDistance(quality.image_sample_distance)

    def _set_input(self, image: vtkImageData) -> None:
        mapper: Any = self._volume.GetMapper()
        if mapper is not None:
            mapper.SetInputData(image)

    def _image(self, phase: int) -> vtkImageData:
        if phase not in self._images:
            assert self._layer is not None
            self._images[phase] = _image_from_array(self._layer.volume.phase(phase), self._spacing)
        return self._images[phase][0]

    # --- transfer functions ----------------------------------------------------------------

    def _effective_preset(self) -> VolumePreset:
        modality = self._layer.info.modality if self._layer is not None else "CT"
        name = self._chosen_preset or default_preset(modality)
        chosen = preset(name)
        if chosen.ct_only and modality != "CT":
            return preset(default_preset(modality))
        return chosen

    def _apply_transfer(self) -> None:
        layer = self._layer
        if layer is None or not self._transfer_stale:
            return
        self._transfer_stale = False
        chosen = self._effective_preset()
        low, high = 0.0, 1.0
        if chosen.scale is Scale.WINDOW:
            half = max(layer.display.window, 1e-6) / 2
            low, high = layer.display.center - half, layer.display.center + half
        elif chosen.scale is Scale.DATA:
            if self._data_range is None:
                self._data_range = robust_range(layer.volume.array, layer.loaded)
            low, high = self._data_range
        colours = chosen.colour_points(low, high)
        if chosen.blend is Blend.MAXIMUM and layer.display.invert:
            colours = [
                (x, rgb) for (x, _), (_, rgb) in zip(colours, reversed(colours), strict=True)
            ]
        self._colour.RemoveAllPoints()
        for x, (r, g, b) in colours:
            self._colour.AddRGBPoint(x, r, g, b)
        self._opacity.RemoveAllPoints()
        for x, alpha in chosen.opacity_points(low, high):
            self._opacity.AddPoint(x, alpha)
        if chosen.shading is None:
            self._property.ShadeOff()
        else:
            self._property.ShadeOn()
            self._property.SetAmbient(chosen.shading.ambient)
            self._property.SetDiffuse(chosen.shading.diffuse)
            self._property.SetSpecular(chosen.shading.specular)
            self._property.SetSpecularPower(chosen.shading.specular_power)
        blend = (
            vtkVolumeMapper.MAXIMUM_INTENSITY_BLEND
            if chosen.blend is Blend.MAXIMUM
            else vtkVolumeMapper.COMPOSITE_BLEND
        )
        for mapper in (self._cpu_mapper, self._smart_mapper):
            if mapper is not None:
                mapper.SetBlendMode(blend)

    # --- segmentation surfaces -------------------------------------------------------------

    def _watch_labels(self, labels: LabelMap) -> None:
        if labels.id in self._label_slots:
            return
        on_changed = partial(self._on_labels_changed, labels.id)
        on_segments = partial(self._on_segments_changed, labels.id)
        labels.changed.connect(on_changed)
        labels.segments_changed.connect(on_segments)
        self._label_slots[labels.id] = (labels, on_changed, on_segments)
        self._stale_labels.add(labels.id)

    def _unwatch_labels(self, label_id: str) -> None:
        labels, on_changed, on_segments = self._label_slots.pop(label_id)
        labels.changed.disconnect(on_changed)
        labels.segments_changed.disconnect(on_segments)
        self._stale_labels.discard(label_id)
        self._drop_cache(label_id)
        for key in [k for k in self._surfaces if k[0] == label_id]:
            self._renderer.RemoveActor(self._surfaces.pop(key).actor)

    def _drop_cache(self, label_id: str) -> None:
        for key in [k for k in self._surface_cache if k[0] == label_id]:
            del self._surface_cache[key]

    def _clear_surfaces(self) -> None:
        for surface in self._surfaces.values():
            self._renderer.RemoveActor(surface.actor)
        self._surfaces.clear()

    def _update_surfaces(self) -> None:
        if not self._stale_labels:
            return
        stale, self._stale_labels = self._stale_labels, set()
        if not self._surfaces_visible:
            return
        for label_id in stale:
            if label_id in self._label_slots:
                self._draw_labels(self._label_slots[label_id][0])
        self._renderer.ResetCameraClippingRange()

    def _draw_labels(self, labels: LabelMap) -> None:
        """Put one actor per visible segment of ``labels`` (at the shown phase) in the renderer."""
        grid = labels.array
        phase = 0
        if grid.ndim == 4:
            phase = min(self._phase, grid.shape[0] - 1)
            grid = grid[phase]
        spacing, placement = _grid_placement(labels.affine)
        matrix = _vtk_matrix(placement)
        drawn: set[int] = set()
        for number, segment in sorted(labels.segments.items()):
            if not segment.visible or segment.opacity <= 0:
                continue
            key = (labels.id, phase, number)
            if key not in self._surface_cache:
                self._surface_cache[key] = _segment_surface(grid, number, spacing)
            poly = self._surface_cache[key]
            if poly is None:
                continue
            drawn.add(number)
            surface = self._surfaces.get((labels.id, number))
            if surface is None:
                mapper = vtkPolyDataMapper()
                mapper.ScalarVisibilityOff()
                actor = vtkActor()
                actor.SetMapper(mapper)
                surface = _Surface(labels.id, number, actor)
                self._surfaces[(labels.id, number)] = surface
                self._renderer.AddActor(actor)
            surface.actor.GetMapper().SetInputData(poly)
            surface.actor.SetUserMatrix(matrix)
            prop = surface.actor.GetProperty()
            prop.SetColor(*(c / 255.0 for c in segment.color))
            prop.SetOpacity(segment.opacity)
            prop.SetAmbient(0.1)
            prop.SetDiffuse(0.8)
            prop.SetSpecular(0.2)
            prop.SetSpecularPower(20.0)
        for gone in [k for k in self._surfaces if k[0] == labels.id and k[1] not in drawn]:
            self._renderer.RemoveActor(self._surfaces.pop(gone).actor)

    # --- teardown --------------------------------------------------------------------------

    def _hide(self) -> None:
        for label_id in list(self._label_slots):
            self._unwatch_labels(label_id)
        self._clear_surfaces()
        self._surface_cache.clear()
        self._stale_labels.clear()
        if self._layer is not None and self._display_slot is not None:
            _display_events(self._layer).all.disconnect(self._display_slot)
        self._display_slot = None
        self._renderer.RemoveVolume(self._volume)
        window = self._renderer.GetRenderWindow()
        for mapper in (self._cpu_mapper, self._smart_mapper):
            if mapper is not None:
                if window is not None and not window.GetNeverRendered():
                    mapper.ReleaseGraphicsResources(window)  # the 3D texture of the GPU mapper
                mapper.RemoveAllInputs()
        self._images.clear()
        self._layer = None
        self._data_stale = False


def _display_events(layer: ImageLayer) -> SignalGroup:
    """The psygnal signals of a layer's ``@evented`` display state (added at run time)."""
    events: SignalGroup = layer.display.events  # type: ignore[attr-defined]
    return events


def _segment_surface(
    grid: npt.NDArray[np.integer], number: int, spacing: tuple[float, float, float]
) -> vtkPolyData | None:
    """The smoothed surface of label ``number`` in ``grid`` (``[k, j, i]``), in the grid's
    millimetre index space (index × spacing); None when the label is absent.

    Only the label's bounding box, padded by one voxel so that surfaces touching the grid's edge
    close, is copied and contoured.
    """
    mask = grid == number
    present = [np.flatnonzero(mask.any(axis=other)) for other in ((1, 2), (0, 2), (0, 1))]
    if any(p.size == 0 for p in present):
        return None
    box = tuple(slice(int(p[0]), int(p[-1]) + 1) for p in present)
    crop = np.pad(mask[box], 1).view(np.uint8)
    k0, j0, i0 = (s.start - 1 for s in box)
    image = vtkImageData()
    image.SetDimensions(crop.shape[2], crop.shape[1], crop.shape[0])
    image.SetSpacing(*spacing)
    image.SetOrigin(i0 * spacing[0], j0 * spacing[1], k0 * spacing[2])
    image.GetPointData().SetScalars(_numpy_to_vtk(crop.reshape(-1), deep=True))

    contour = vtkDiscreteFlyingEdges3D()
    contour.SetInputData(image)
    contour.SetValue(0, 1)
    contour.ComputeNormalsOff()
    contour.ComputeGradientsOff()
    contour.ComputeScalarsOff()
    # Light smoothing: removes the voxel staircase but keeps the boundary within about half a
    # voxel (a pass band of 0.05 over 15 iterations; 3D Slicer's default is 10^(-4 · 0.5) = 0.01
    # over 20, a little stronger).
    smooth = vtkWindowedSincPolyDataFilter()
    smooth.SetInputConnection(contour.GetOutputPort())
    smooth.SetNumberOfIterations(15)
    smooth.SetPassBand(0.05)
    smooth.BoundarySmoothingOff()
    smooth.FeatureEdgeSmoothingOff()
    smooth.NonManifoldSmoothingOn()
    smooth.NormalizeCoordinatesOn()
    normals = vtkPolyDataNormals()
    normals.SetInputConnection(smooth.GetOutputPort())
    normals.SplittingOff()
    normals.ConsistencyOn()
    normals.Update()
    poly = vtkPolyData()
    poly.ShallowCopy(normals.GetOutput())
    return poly if poly.GetNumberOfPoints() else None
