"""The 3D view renders layers and segment surfaces where they are in the patient (LPS mm).

Offscreen (``VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow``): pixels are read back with
``vtkWindowToImageFilter`` and compared with world points projected through the camera.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")

import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
from vtkmodules.util import numpy_support
from vtkmodules.vtkRenderingCore import (
    vtkCoordinate,
    vtkRenderer,
    vtkRenderWindow,
    vtkWindowToImageFilter,
)

from workstation.core.geometry import index_to_lps
from workstation.core.scene import ImageLayer, LayerInfo, Scene
from workstation.core.segmentation import LabelMap
from workstation.core.volume import StackKind, Volume
from workstation.render import volume as volume_module
from workstation.render.volume import VolumeView, software_renderer
from workstation.render.volume_presets import PRESETS, robust_range
from workstation.testing.phantoms import torso_ct

SIZE = 160
Image = npt.NDArray[np.uint8]


def rotation(axis: tuple[float, float, float], degrees: float) -> npt.NDArray[np.float64]:
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    t = np.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    matrix: npt.NDArray[np.float64] = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)
    return matrix


def make_affine(
    spacing: tuple[float, float, float] = (1.2, 0.9, 2.0),
    origin: tuple[float, float, float] = (-40.0, 25.0, 100.0),
    *,
    rotate: float = 0.0,
    shear: float = 0.0,
    left_handed: bool = False,
) -> npt.NDArray[np.float64]:
    """Columns i, j, k scaled by ``spacing``; ``shear`` tilts the slice step along j (gantry
    tilt); the whole grid is then rotated about an oblique axis."""
    columns = np.diag(spacing).astype(np.float64)
    columns[1, 2] = shear * spacing[2]
    if left_handed:
        columns[:, 2] *= -1
    affine = np.eye(4)
    affine[:3, :3] = rotation((1.0, 2.0, 0.5), rotate) @ columns
    affine[:3, 3] = origin
    return affine


OBLIQUE = make_affine(rotate=25.0)
SHEARED_LEFT_HANDED = make_affine(rotate=-15.0, shear=0.35, left_handed=True)


def lps_grid(shape: tuple[int, int, int], affine: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """LPS position of every voxel centre, ``[k, j, i, 3]``."""
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    ijk = np.stack([i, j, k], axis=-1).reshape(-1, 3)
    return index_to_lps(affine, ijk.astype(np.float64)).reshape(*shape, 3)


def spheres(
    shape: tuple[int, int, int],
    affine: npt.NDArray[np.float64],
    centres: list[npt.NDArray[np.float64]],
    radius: float = 6.0,
    value: int = 1500,
    background: int = -1000,
) -> npt.NDArray[np.int16]:
    positions = lps_grid(shape, affine)
    out = np.full(shape, background, dtype=np.int16)
    for centre in centres:
        out[np.linalg.norm(positions - centre, axis=-1) <= radius] = value
    return out


def ct_layer(
    array: npt.NDArray[Any],
    affine: npt.NDArray[np.float64],
    layer_id: str = "ct",
    modality: str = "CT",
    **kwargs: Any,
) -> ImageLayer:
    kind = StackKind.CINE if array.ndim == 4 else StackKind.VOLUME
    return ImageLayer(
        layer_id, Volume(array, affine, kind=kind), LayerInfo(modality=modality), **kwargs
    )


@pytest.fixture
def window() -> Iterator[tuple[vtkRenderWindow, vtkRenderer]]:
    renderer = vtkRenderer()
    win = vtkRenderWindow()
    win.SetOffScreenRendering(1)
    win.AddRenderer(renderer)
    win.SetSize(SIZE, SIZE)
    yield win, renderer
    win.Finalize()


def grab(win: vtkRenderWindow) -> Image:
    """The window's pixels, ``[y, x, rgb]`` with y = 0 at the bottom (display coordinates)."""
    win.Render()
    grabber = vtkWindowToImageFilter()
    grabber.SetInput(win)
    grabber.ReadFrontBufferOff()
    grabber.Update()
    image = grabber.GetOutput()
    width, height, _ = image.GetDimensions()
    scalars = image.GetPointData().GetScalars()
    pixels: Image = numpy_support.vtk_to_numpy(scalars).reshape(height, width, -1)  # type: ignore[no-untyped-call]
    return pixels[..., :3].copy()


def project(renderer: vtkRenderer, lps: npt.ArrayLike) -> tuple[float, float]:
    coordinate = vtkCoordinate()
    coordinate.SetCoordinateSystemToWorld()
    coordinate.SetValue(*(float(v) for v in np.asarray(lps)))
    x, y = coordinate.GetComputedDoubleDisplayValue(renderer)
    return float(x), float(y)


def brightness(pixels: Image) -> npt.NDArray[np.float64]:
    mean: npt.NDArray[np.float64] = pixels.astype(np.float64).mean(axis=-1)
    return mean


def bright_centroid(pixels: Image, threshold: float = 60.0) -> tuple[float, float]:
    ys, xs = np.nonzero(brightness(pixels) > threshold)
    assert xs.size > 10, "nothing bright on screen"
    return float(xs.mean()), float(ys.mean())


def probe(pixels: Image, xy: tuple[float, float]) -> float:
    x, y = round(xy[0]), round(xy[1])
    return float(brightness(pixels)[y - 1 : y + 2, x - 1 : x + 2].mean())


def no_render() -> None:
    """A ``request_render`` for tests that render themselves."""


# --- geometry --------------------------------------------------------------------------------


@pytest.mark.parametrize("affine", [OBLIQUE, SHEARED_LEFT_HANDED], ids=["oblique", "sheared"])
def test_sphere_renders_at_its_lps_position(
    window: tuple[vtkRenderWindow, vtkRenderer], affine: npt.NDArray[np.float64]
) -> None:
    win, renderer = window
    shape = (24, 40, 36)
    centre = index_to_lps(affine, np.array([[20.0, 15.0, 10.0]]))[0]
    scene = Scene()
    scene.add_layer(ct_layer(spheres(shape, affine, [centre]), affine))
    view = VolumeView(renderer, scene, request_render=no_render)
    assert view.show("ct")
    view.set_preset("ct-bone")

    pixels = grab(win)
    expected = project(renderer, centre)
    got = bright_centroid(pixels)
    assert np.hypot(got[0] - expected[0], got[1] - expected[1]) < 2.5, (got, expected)
    assert probe(pixels, expected) > 100
    # 15 mm to the patient's left of the sphere, still inside the volume: nothing there.
    assert probe(pixels, project(renderer, centre + np.array([15.0, 0.0, 0.0]))) < 20


def test_anterior_view_with_head_up_and_patient_right_on_screen_left(
    window: tuple[vtkRenderWindow, vtkRenderer],
) -> None:
    win, renderer = window
    affine = make_affine(spacing=(2.0, 2.0, 2.0), origin=(-40.0, -40.0, -40.0))
    centre = np.array([0.0, 0.0, 0.0])
    right = centre + np.array([-22.0, 0.0, 0.0])  # −x: the patient's right
    head = centre + np.array([0.0, 0.0, 22.0])  # +z: towards the head
    scene = Scene()
    scene.add_layer(ct_layer(spheres((41, 41, 41), affine, [right, head]), affine))
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")

    camera = renderer.GetActiveCamera()
    np.testing.assert_allclose(camera.GetDirectionOfProjection(), (0, 1, 0), atol=1e-9)
    np.testing.assert_allclose(camera.GetViewUp(), (0, 0, 1), atol=1e-9)
    assert camera.GetPosition()[1] < centre[1]  # in front of the patient (anterior = −y)

    pixels = grab(win)
    right_xy, head_xy = project(renderer, right), project(renderer, head)
    assert right_xy[0] < SIZE / 2 - 10  # screen left
    assert head_xy[1] > SIZE / 2 + 10  # screen top (display y grows upwards)
    assert probe(pixels, right_xy) > 100
    assert probe(pixels, head_xy) > 100


def test_software_opengl_uses_cpu_raycast(window: tuple[vtkRenderWindow, vtkRenderer]) -> None:
    win, renderer = window
    affine = make_affine()
    scene = Scene()
    scene.add_layer(ct_layer(spheres((8, 8, 8), affine, []), affine))
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    for name in ("ct-bone", "mip"):
        view.set_preset(name)
        win.Render()  # this machine renders with Mesa llvmpipe
        assert view.uses_cpu_raycast
        assert view.mapper.IsA("vtkFixedPointVolumeRayCastMapper")
    assert software_renderer("llvmpipe (LLVM 15.0.6, 256 bits)")
    assert not software_renderer("NVIDIA H200/PCIe/SSE2")


@pytest.mark.parametrize("forced", ["1", "0"])
def test_environment_forces_the_mapper(
    window: tuple[vtkRenderWindow, vtkRenderer], monkeypatch: pytest.MonkeyPatch, forced: str
) -> None:
    monkeypatch.setenv(volume_module.CPU_RAYCAST_ENV, forced)
    win, renderer = window
    affine = make_affine()
    scene = Scene()
    scene.add_layer(ct_layer(spheres((8, 8, 8), affine, []), affine))
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    for name in ("ct-bone", "mip"):
        view.set_preset(name)
        win.Render()
        assert view.uses_cpu_raycast == (forced == "1")


@pytest.mark.parametrize("sheared", [False, True], ids=["oblique", "sheared"])
def test_smart_mapper_when_forced_renders_the_same_place(
    window: tuple[vtkRenderWindow, vtkRenderer], monkeypatch: pytest.MonkeyPatch, sheared: bool
) -> None:
    monkeypatch.setenv(volume_module.CPU_RAYCAST_ENV, "0")
    win, renderer = window
    shape = (16, 20, 18)
    affine = make_affine(
        spacing=(2.0, 1.8, 2.5), rotate=25.0, shear=0.35 * sheared, left_handed=sheared
    )
    centre = index_to_lps(affine, np.array([[9.0, 8.0, 9.0]]))[0]
    scene = Scene()
    scene.add_layer(ct_layer(spheres(shape, affine, [centre]), affine))
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    pixels = grab(win)
    assert view.mapper.IsA("vtkSmartVolumeMapper")
    expected = project(renderer, centre)
    got = bright_centroid(pixels)
    assert np.hypot(got[0] - expected[0], got[1] - expected[1]) < 3.0, (got, expected)


def test_interactive_renders_sample_coarser(window: tuple[vtkRenderWindow, vtkRenderer]) -> None:
    win, renderer = window
    affine = make_affine()
    scene = Scene()
    scene.add_layer(ct_layer(spheres((10, 10, 10), affine, []), affine))
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    mapper = view.mapper
    win.SetDesiredUpdateRate(15.0)  # what interactor styles ask while the mouse drags
    win.Render()
    assert mapper.GetAutoAdjustSampleDistances()  # image sampling follows the frame time …
    assert mapper.GetImageSampleDistance() >= 1.5  # … never finer than 1.5 pixels per ray
    assert mapper.GetInteractiveSampleDistance() == pytest.approx(1.5 * 0.9)  # 1.5 voxels
    win.SetDesiredUpdateRate(0.0001)  # and once it is released
    win.Render()
    assert not mapper.GetAutoAdjustSampleDistances()
    assert mapper.GetImageSampleDistance() == 1.0
    assert mapper.GetSampleDistance() == pytest.approx(0.5 * 0.9)  # half the smallest spacing


# --- presets and display ---------------------------------------------------------------------


@pytest.mark.parametrize("cpu", ["1", "0"], ids=["cpu", "smart"])
def test_mip_shows_the_maximum_on_the_layer_window(
    window: tuple[vtkRenderWindow, vtkRenderer], monkeypatch: pytest.MonkeyPatch, cpu: str
) -> None:
    monkeypatch.setenv(volume_module.CPU_RAYCAST_ENV, cpu)
    win, renderer = window
    rng = np.random.default_rng(1)
    affine = make_affine(spacing=(1.5, 1.5, 1.5), rotate=10.0)
    array = rng.uniform(0, 100, size=(30, 30, 30)).astype(np.float32)
    array[13:17, 13:17, 13:17] = 1000.0
    layer = ct_layer(array, affine)
    layer.display.window, layer.display.center = 1000.0, 500.0
    scene = Scene()
    scene.add_layer(layer)
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    view.set_preset("mip")

    target = project(renderer, index_to_lps(affine, np.array([[14.5, 14.5, 14.5]]))[0])
    corner = project(renderer, index_to_lps(affine, np.array([[4.0, 4.0, 15.0]]))[0])
    pixels = grab(win)
    assert probe(pixels, target) > 240  # the maximum is at the window's top: white
    assert probe(pixels, corner) < 40  # ≤ 100 on a 0..1000 window: dark grey

    layer.display.window, layer.display.center = 4000.0, 0.0  # 1000 now at 3/4 of the window
    assert probe(grab(win), target) == pytest.approx(0.75 * 255, abs=12)
    layer.display.invert = True
    assert probe(grab(win), target) == pytest.approx(0.25 * 255, abs=12)


def test_presets_change_the_image(window: tuple[vtkRenderWindow, vtkRenderer]) -> None:
    win, renderer = window
    spacing = (6.0, 5.6, 5.6)
    array = torso_ct(shape=(30, 64, 64), spacing=spacing)
    affine = make_affine(spacing=(spacing[2], spacing[1], spacing[0]), origin=(-180, -180, 0))
    scene = Scene()
    scene.add_layer(ct_layer(array, affine))
    scene.add_layer(ct_layer(array, affine, "mr", modality="MR"))
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    images: dict[str, npt.NDArray[np.float64]] = {}
    for name in ("ct-bone", "ct-soft-tissue", "mip"):
        view.set_preset(name)
        assert view.preset == name
        images[name] = grab(win).astype(np.float64)
    view.set_preset("ct-bone")
    view.show("mr")
    assert view.preset == "mr-default"  # a CT preset on MR data falls back
    images["mr-default"] = grab(win).astype(np.float64)

    names = list(images)
    for a, first in enumerate(names):
        assert images[first].mean() > 2, f"{first} is black"
        for second in names[a + 1 :]:
            assert np.abs(images[first] - images[second]).mean() > 2, (first, second)
    with pytest.raises(KeyError, match="known"):
        view.set_preset("ct-lung")


def test_window_level_drags_redraw_only_the_mip(
    window: tuple[vtkRenderWindow, vtkRenderer],
) -> None:
    _, renderer = window
    affine = make_affine(spacing=(2.0, 2.0, 2.0))
    layer = ct_layer(np.zeros((8, 8, 8), dtype=np.int16), affine)
    scene = Scene()
    scene.add_layer(layer)
    renders: list[int] = []
    view = VolumeView(renderer, scene, request_render=lambda: renders.append(1), throttle_s=0)
    view.show("ct")
    renders.clear()
    layer.display.window = 100.0  # a drag in a 2D view: the bone rendering does not change
    assert renders == []
    view.set_preset("mip")
    renders.clear()
    layer.display.window = 200.0
    assert renders == [1]
    layer.display.visible = False
    assert renders == [1, 1]
    assert not view.volume.GetVisibility()


def test_robust_range_ignores_background_and_unloaded_slices() -> None:
    array = np.zeros((10, 20, 20), dtype=np.float32)
    array[:, 5:15, 5:15] = np.linspace(100, 200, 100).reshape(10, 10)
    array[8:] = 5000  # not loaded yet: garbage
    loaded = np.ones(10, dtype=bool)
    loaded[8:] = False
    low, high = robust_range(array, loaded)
    assert 100 <= low < 130
    assert 190 < high <= 200
    assert set(PRESETS) == {"ct-bone", "ct-soft-tissue", "mip", "mr-default"}


# --- time: cine and progressive loading ------------------------------------------------------


def test_cine_phase_switch_changes_the_render(
    window: tuple[vtkRenderWindow, vtkRenderer],
) -> None:
    win, renderer = window
    shape = (16, 24, 24)
    affine = make_affine(spacing=(2.0, 2.0, 2.0), rotate=20.0)
    centres = [index_to_lps(affine, np.array([[i, 12.0, 8.0]]))[0] for i in (6.0, 17.0)]
    array = np.stack([spheres(shape, affine, [c], radius=5.0) for c in centres])
    scene = Scene()
    scene.add_layer(ct_layer(array, affine))
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    first = grab(win)
    view.set_phase(1)
    second = grab(win)
    assert view.phase == 1
    for pixels, centre in ((first, centres[0]), (second, centres[1])):
        expected = project(renderer, centre)
        got = bright_centroid(pixels)
        assert np.hypot(got[0] - expected[0], got[1] - expected[1]) < 3.0
    with pytest.raises(IndexError):
        view.set_phase(2)


@pytest.mark.parametrize("dtype", [np.int16, np.int64], ids=["shared", "converted"])
def test_progressive_loading_renders_what_arrives(
    window: tuple[vtkRenderWindow, vtkRenderer], dtype: type[np.integer[Any]]
) -> None:
    win, renderer = window
    shape = (20, 24, 24)
    affine = make_affine(spacing=(2.0, 2.0, 2.0))
    centre = index_to_lps(affine, np.array([[12.0, 12.0, 14.0]]))[0]
    full = spheres(shape, affine, [centre], radius=5.0)
    array = np.full(shape, -1000, dtype=dtype)
    layer = ct_layer(array, affine, loaded=np.zeros(shape[0], dtype=bool))
    scene = Scene()
    scene.add_layer(layer)
    renders: list[int] = []
    view = VolumeView(renderer, scene, request_render=lambda: renders.append(1))
    view.show("ct")
    win.Render()
    target = project(renderer, centre)
    assert probe(grab(win), target) < 20
    scalars = view.mapper.GetInput().GetPointData().GetScalars()
    vtk_voxels = numpy_support.vtk_to_numpy(scalars)  # type: ignore[no-untyped-call]
    # int16 is handed to VTK without a copy; int64 is converted (to float32) and re-read.
    assert np.shares_memory(vtk_voxels, array) == (dtype is np.int16)

    before = len(renders)
    array[:10] = full[:10]  # the loader writes in place, then tells the scene
    scene.mark_loaded("ct", 0, 9)
    array[10:] = full[10:]
    scene.mark_loaded("ct", 10, shape[0] - 1)
    assert len(renders) > before  # the last slices always make a frame
    assert probe(grab(win), target) > 100


def test_render_requests_are_throttled_then_flushed(
    window: tuple[vtkRenderWindow, vtkRenderer],
) -> None:
    _, renderer = window
    affine = make_affine(spacing=(2.0, 2.0, 2.0))
    scene = Scene()
    scene.add_layer(ct_layer(np.zeros((12, 12, 12), dtype=np.int16), affine))
    labels = LabelMap("seg", "ct", np.zeros((12, 12, 12), dtype=np.uint8), affine)
    labels.add_segment("Lesion")
    scene.add_labels(labels)
    renders: list[int] = []
    later: list[Callable[[], None]] = []
    view = VolumeView(
        renderer,
        scene,
        request_render=lambda: renders.append(1),
        call_later=lambda _s, callback: later.append(callback),
        throttle_s=60.0,
    )
    view.show("ct")
    renders.clear()
    for n in range(5):
        labels.array[2 + n, 5, 5] = 1
        labels.changed.emit(None)
    assert renders == []  # within the interval: coalesced
    assert len(later) == 1  # one deferred frame for all five edits
    later[0]()
    assert renders == [1]
    assert set(view.surface_actors()) == {("seg", 1)}


# --- segmentation surfaces -------------------------------------------------------------------


@pytest.mark.parametrize("affine", [OBLIQUE, SHEARED_LEFT_HANDED], ids=["oblique", "sheared"])
def test_segment_surface_colour_and_bounds(
    window: tuple[vtkRenderWindow, vtkRenderer], affine: npt.NDArray[np.float64]
) -> None:
    win, renderer = window
    shape = (24, 40, 36)
    scene = Scene()
    scene.add_layer(ct_layer(np.zeros(shape, dtype=np.int16), affine))
    labels = LabelMap("seg", "ct", np.zeros(shape, dtype=np.uint8), affine)
    liver = labels.add_segment("Liver", opacity=0.8)
    hidden = labels.add_segment("Hidden", visible=False)
    labels.array[5:13, 8:21, 10:26] = liver.number
    labels.array[15:18, 30:33, 2:5] = hidden.number
    scene.add_labels(labels)
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")

    actors = view.surface_actors()
    assert set(actors) == {("seg", liver.number)}
    actor = actors[("seg", liver.number)]
    np.testing.assert_allclose(actor.GetProperty().GetColor(), np.array(liver.color) / 255)
    assert actor.GetProperty().GetOpacity() == pytest.approx(0.8)

    # The labelled block's outer corners (voxel centres ± half a voxel) in LPS.
    corners = np.array(
        [[i, j, k] for i in (9.5, 25.5) for j in (7.5, 20.5) for k in (4.5, 12.5)], dtype=float
    )
    lps = index_to_lps(affine, corners)
    expected = np.ravel(np.column_stack([lps.min(axis=0), lps.max(axis=0)]))
    tolerance = float(np.linalg.norm(affine[:3, :3], axis=0).max())
    np.testing.assert_allclose(actor.GetBounds(), expected, atol=tolerance)

    # An edit grows the surface; the view follows the label map.
    far_corner = index_to_lps(affine, np.array([[30.0, 30.0, 18.0]]))[0]
    scene.undo.push(labels.brush(far_corner, 3.0, liver.number))
    bounds = view.surface_actors()[("seg", liver.number)].GetBounds()
    for axis in range(3):
        assert bounds[2 * axis] - 1e-6 <= far_corner[axis] <= bounds[2 * axis + 1] + 1e-6

    hidden.visible, liver.visible = True, False
    view.refresh_surfaces()
    assert set(view.surface_actors()) == {("seg", hidden.number)}
    view.set_surfaces_visible(False)
    assert view.surface_actors() == {}
    view.set_surfaces_visible(True)
    assert set(view.surface_actors()) == {("seg", hidden.number)}
    assert grab(win).any()


def test_segment_surface_renders_in_its_colour(
    window: tuple[vtkRenderWindow, vtkRenderer],
) -> None:
    win, renderer = window
    affine = make_affine(spacing=(2.0, 2.0, 2.0), rotate=30.0)
    shape = (20, 20, 20)
    scene = Scene()
    scene.add_layer(ct_layer(np.full(shape, -1000, dtype=np.int16), affine))
    labels = LabelMap("seg", "ct", np.zeros(shape, dtype=np.uint8), affine)
    segment = labels.add_segment("Kidney", opacity=1.0, color=(0, 200, 0))
    centre = index_to_lps(affine, np.array([[10.0, 10.0, 10.0]]))[0]
    labels.array[np.linalg.norm(lps_grid(shape, affine) - centre, axis=-1) <= 8.0] = 1
    scene.add_labels(labels)
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    pixels = grab(win)
    r, g, b = pixels[round(project(renderer, centre)[1]), round(project(renderer, centre)[0])]
    assert g > 100 and r < 40 and b < 40, (r, g, b, segment.color)


def test_labels_added_later_and_cine_labels_follow_the_phase(
    window: tuple[vtkRenderWindow, vtkRenderer],
) -> None:
    _, renderer = window
    affine = make_affine(spacing=(2.0, 2.0, 2.0))
    shape = (12, 12, 12)
    scene = Scene()
    scene.add_layer(ct_layer(np.zeros((2, *shape), dtype=np.int16), affine))
    view = VolumeView(renderer, scene, request_render=no_render)
    view.show("ct")
    labels = LabelMap("seg", "ct", np.zeros((2, *shape), dtype=np.uint8), affine)
    labels.add_segment("LV")
    labels.array[0, 2:5, 2:5, 2:5] = 1
    labels.array[1, 6:10, 6:10, 6:10] = 1
    scene.add_labels(labels)
    first = view.surface_actors()[("seg", 1)].GetBounds()
    view.set_phase(1)
    second = view.surface_actors()[("seg", 1)].GetBounds()
    assert second[0] > first[1]  # the phase-1 cube lies beyond the phase-0 one along x
    scene.remove_labels("seg")
    assert view.surface_actors() == {}


# --- lifecycle -------------------------------------------------------------------------------


def test_detach_removes_everything_and_stops_listening(
    window: tuple[vtkRenderWindow, vtkRenderer],
) -> None:
    win, renderer = window
    affine = make_affine(spacing=(2.0, 2.0, 2.0))
    shape = (12, 12, 12)
    scene = Scene()
    scene.add_layer(ct_layer(np.zeros(shape, dtype=np.int16), affine))
    labels = LabelMap("seg", "ct", np.zeros(shape, dtype=np.uint8), affine)
    labels.add_segment("Lesion")
    labels.array[3:8, 3:8, 3:8] = 1
    scene.add_labels(labels)
    renders: list[int] = []
    view = VolumeView(renderer, scene, request_render=lambda: renders.append(1))
    view.show("ct")
    win.Render()
    assert renderer.GetVolumes().GetNumberOfItems() == 1
    assert renderer.GetActors().GetNumberOfItems() == 1

    view.detach()
    assert renderer.GetVolumes().GetNumberOfItems() == 0
    assert renderer.GetActors().GetNumberOfItems() == 0
    renders.clear()
    labels.array[1, 1, 1] = 1
    labels.changed.emit(None)
    scene.mark_loaded("ct", 0, 11)
    scene.layers["ct"].display.window = 10.0
    win.Render()
    assert renders == []
    assert renderer.GetActors().GetNumberOfItems() == 0
    with pytest.raises(RuntimeError, match="detached"):
        view.show("ct")


def test_layers_without_a_volume_and_removed_layers_show_nothing(
    window: tuple[vtkRenderWindow, vtkRenderer],
) -> None:
    _, renderer = window
    affine = make_affine(spacing=(1.0, 1.0, 1.0))
    scene = Scene()
    scene.add_layer(ct_layer(np.zeros((1, 16, 16), dtype=np.int16), affine, "single"))
    scene.add_layer(ct_layer(np.zeros((6, 16, 16), dtype=np.int16), affine, "ct"))
    view = VolumeView(renderer, scene, request_render=no_render)
    assert not view.show("single")
    assert renderer.GetVolumes().GetNumberOfItems() == 0
    assert view.show("ct")
    scene.remove_layer("ct")
    assert view.layer_id is None
    assert renderer.GetVolumes().GetNumberOfItems() == 0
