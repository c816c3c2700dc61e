"""The 2D slice view shows every pixel where it is in the patient, with the reader's window.

Rendered offscreen; pixels are read back with ``vtkWindowToImageFilter`` and probed at the
screen position of known LPS points (``SliceView.lps_to_display``).
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")

from vtkmodules.vtkRenderingCore import vtkRenderer

from workstation.core import geometry
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.planes import Orientation, Plane, oblique_plane
from workstation.core.scene import ImageLayer, LayerInfo, Scene
from workstation.core.segmentation import LabelMap
from workstation.core.study import format_patient_name
from workstation.core.volume import StackKind, Volume
from workstation.render import slice_geometry as sg
from workstation.render.annotation_actors import annotation_text, ellipse_outline
from workstation.render.camera import conventional_axes
from workstation.render.mpr import Rotation, link_of
from workstation.render.overlays import format_length, nice_length_mm
from workstation.render.slice_view import SliceView
from workstation.render.snapshot import offscreen_window, window_to_array

SERIES = "1.2.3.4"
Image = npt.NDArray[np.uint8]


def axial_affine(spacing=(1.0, 1.0, 2.0), origin=(-32.0, -32.0, 0.0)) -> npt.NDArray[np.float64]:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    return affine


def make_scene(
    array: npt.NDArray[np.generic],
    affine: npt.NDArray[np.float64] | None = None,
    *,
    kind: StackKind = StackKind.VOLUME,
    modality: str = "CT",
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] = (200.0, 100.0),
    loaded: npt.NDArray[np.bool_] | None = None,
) -> Scene:
    scene = Scene()
    info = LayerInfo(
        patient_name="TEST^PATIENT",
        patient_id="P1",
        study_instance_uid="1.2.3",
        series_instance_uid=SERIES,
        modality=modality,
        frame_of_reference_uid="1.2.3.9",
        photometric=photometric,
        default_window=window,
    )
    layer = ImageLayer(
        "img", Volume(array, affine if affine is not None else axial_affine(), kind), info
    )
    if loaded is not None:
        layer.loaded = loaded
    layer.display.window, layer.display.center = window
    scene.add_layer(layer)
    return scene


class Offscreen:
    """One SliceView in an offscreen window; probes pixels at LPS points."""

    def __init__(
        self, scene: Scene, size: tuple[int, int] = (240, 240), layer_id: str = "img"
    ) -> None:
        self.window = offscreen_window(size)
        self.renderer = vtkRenderer()
        self.window.AddRenderer(self.renderer)
        self.view = SliceView(self.renderer, scene)
        self.view.overlays.set_text_visible(False)
        self.view.show_layer(layer_id)

    def pixels(self) -> Image:
        self.window.Render()
        return window_to_array(self.window)

    def screen(self, lps) -> tuple[int, int]:
        """(row, column) of the array where ``lps`` is drawn."""
        x, y = self.view.lps_to_display(lps)
        height = self.window.GetSize()[1]
        return height - 1 - round(y), round(x)

    def at(self, lps, image: Image | None = None) -> npt.NDArray[np.int64]:
        image = self.pixels() if image is None else image
        row, column = self.screen(lps)
        return image[row, column].astype(np.int64)


def lps_of(scene: Scene, ijk) -> npt.NDArray[np.float64]:
    return geometry.index_to_lps(scene.layers["img"].volume.affine, np.asarray(ijk, dtype=float))


@pytest.fixture
def uniform() -> Scene:
    return make_scene(np.full((8, 64, 64), 100, dtype=np.int16))


# --- window / level, inversion, photometric ---------------------------------------------------


def test_window_level_maps_level_to_mid_grey_and_above_to_white(uniform: Scene) -> None:
    off = Offscreen(uniform)
    centre = lps_of(uniform, (32, 32, 4))
    grey = off.at(centre)
    assert abs(int(grey[0]) - 128) <= 2 and grey[0] == grey[1] == grey[2]
    display = uniform.layers["img"].display
    display.center = -10.0  # 100 is now above centre + width / 2 = 90
    assert tuple(off.at(centre)) == (255, 255, 255)
    display.center = 210.0  # below centre - width / 2 = 110
    assert tuple(off.at(centre)) == (0, 0, 0)


def test_invert_and_monochrome1_flip_the_grey_scale() -> None:
    array = np.full((4, 32, 32), 10, dtype=np.int16)
    scene = make_scene(array, window=(100.0, 50.0))  # 10 → 40 % grey
    off = Offscreen(scene)
    centre = lps_of(scene, (16, 16, 2))
    normal = int(off.at(centre)[0])
    scene.layers["img"].display.invert = True
    inverted = int(off.at(centre)[0])
    assert normal < 110 and inverted > 145 and abs(normal + inverted - 255) <= 3

    mono1 = make_scene(array, window=(100.0, 50.0), photometric="MONOCHROME1")
    assert abs(int(Offscreen(mono1).at(centre)[0]) - inverted) <= 2  # inverted by default


def test_rgb_stack_is_shown_in_colour() -> None:
    array = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    array[..., 0] = 200
    array[..., 2] = 40
    affine = axial_affine((1.0, 1.0, 1.0))
    scene = make_scene(array, affine, kind=StackKind.RGB, modality="XC")
    off = Offscreen(scene)
    r, g, b = off.at(lps_of(scene, (16, 16, 0)))
    assert abs(r - 200) <= 3 and g <= 3 and abs(b - 40) <= 3


# --- geometry: orientation, non-square pixels, tilt, MPR -----------------------------------------


def marker_volume() -> npt.NDArray[np.int16]:
    """Markers at the patient's left (high i), front (low j) and head (high k)."""
    array = np.zeros((16, 48, 48), dtype=np.int16)
    array[:, 20:28, 40:46] = 1000  # left
    array[:, 2:8, 20:28] = 500  # anterior
    array[13:16, 20:28, 20:28] = 300  # superior
    return array


def test_axial_shows_patient_left_on_screen_right_and_anterior_up() -> None:
    scene = make_scene(marker_volume(), window=(1000.0, 500.0))
    off = Offscreen(scene)
    image = off.pixels()
    left = off.screen(lps_of(scene, (43, 24, 8)))
    front = off.screen(lps_of(scene, (24, 5, 8)))
    centre = off.screen(lps_of(scene, (24, 24, 8)))
    assert left[1] > centre[1] + 40  # patient's left on the screen's right
    assert front[0] < centre[0] - 40  # anterior up
    assert image[left][0] > 240 and image[front][0] > 100
    letters = {k: a.GetInput() for k, a in off.view.overlays.letters.items()}
    assert letters == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


def test_coronal_and_sagittal_follow_the_radiological_convention() -> None:
    scene = make_scene(marker_volume(), window=(1000.0, 500.0))
    off = Offscreen(scene)
    off.view.set_orientation(Orientation.CORONAL)
    letters = {k: a.GetInput() for k, a in off.view.overlays.letters.items()}
    assert letters == {"left": "R", "right": "L", "top": "H", "bottom": "F"}
    head = off.screen(lps_of(scene, (24, 24, 14)))
    feet = off.screen(lps_of(scene, (24, 24, 1)))
    assert head[0] < feet[0]  # head up
    off.view.set_orientation(Orientation.SAGITTAL)
    letters = {k: a.GetInput() for k, a in off.view.overlays.letters.items()}
    assert letters == {"left": "A", "right": "P", "top": "H", "bottom": "F"}
    off.view.set_slice(24)
    image = off.pixels()
    front = off.screen(lps_of(scene, (24, 5, 8)))
    back = off.screen(lps_of(scene, (24, 40, 8)))
    assert front[1] < back[1]  # anterior on the left
    assert 60 < image[off.screen(lps_of(scene, (24, 24, 14)))][0] < 90  # the head marker (300)


def _bright_extent(image: Image, threshold: int = 240) -> tuple[int, int]:
    rows, columns = np.nonzero(image[..., 0] > threshold)
    return int(np.ptp(columns)) + 1, int(np.ptp(rows)) + 1


def test_non_square_pixels_keep_a_square_square() -> None:
    # 0.5 mm columns, 1.0 mm rows: a 10 mm square is 20 columns × 10 rows of voxels.
    array = np.zeros((2, 40, 80), dtype=np.int16)
    array[:, 15:25, 30:50] = 1000
    scene = make_scene(array, axial_affine((0.5, 1.0, 2.0)), window=(1000.0, 500.0))
    off = Offscreen(scene)
    width, height = _bright_extent(off.pixels())
    assert abs(width - height) <= 2
    mm_per_pixel = off.view.camera.mm_per_pixel()
    assert abs(width * mm_per_pixel - 10.0) < 1.5


def test_tilted_stack_places_pixels_at_their_true_position() -> None:
    tilt = np.radians(20.0)
    affine = axial_affine((1.0, 1.0, 2.0))
    affine[:3, 2] = (0.0, 2.0 * np.sin(tilt), 2.0 * np.cos(tilt))  # slices step along y too
    array = np.zeros((20, 48, 48), dtype=np.int16)
    array[15, 10:14, 22:26] = 1000
    scene = make_scene(array, affine, window=(1000.0, 500.0))
    off = Offscreen(scene)
    off.view.set_orientation(Orientation.CORONAL)
    off.view.set_slice(12)
    image = off.pixels()
    rows, columns = np.nonzero(image[..., 0] > 240)  # the marker, not the (grey) letters
    found = np.array([rows.mean(), columns.mean()])
    expected = np.array(off.screen(lps_of(scene, (23.5, 12, 15))))
    assert np.all(np.abs(found - expected) <= 2.5)


def test_oblique_plane_resamples_the_volume() -> None:
    scene = make_scene(marker_volume(), window=(1000.0, 500.0))
    off = Offscreen(scene)
    base = off.view.plane
    assert base is not None
    # The axial plane given as an oblique one, turned 90° in-plane, shows the same anatomy.
    plane = oblique_plane(
        base.center, base.down, tuple(-np.asarray(base.right)), base.spacing, base.shape[::-1]
    )
    off.view.set_oblique(plane)
    assert off.view.orientation is None and off.view.slice_count > 1
    left = lps_of(scene, (43, 24, 8))
    assert off.at(left)[0] > 240
    assert off.at(lps_of(scene, (10, 24, 8)))[0] < 10
    axes = off.view.screen_axes
    assert (axes is not None and axes == conventional_axes((0.0, 0.0, -1.0))) or axes.up == (
        0.0,
        -1.0,
        0.0,
    )


def test_slice_change_copies_one_slice_and_keeps_zoom() -> None:
    array = np.arange(8, dtype=np.int16)[:, None, None] * 50 + np.zeros((8, 32, 32), np.int16)
    scene = make_scene(array, window=(400.0, 200.0))
    off = Offscreen(scene)
    off.view.zoom(2.0)
    scale = off.view.camera.parallel_scale
    seen = []
    off.view.events.slice_changed.connect(seen.append)
    off.view.set_slice(7)
    assert seen == [7] and off.view.camera.parallel_scale == pytest.approx(scale)
    assert abs(off.at(lps_of(scene, (16, 16, 7)))[0] - 223) <= 2  # 350 in 0..400
    assert off.view._buffer is not None and not np.shares_memory(off.view._buffer, array)


def test_cine_phase_shows_that_phase() -> None:
    array = np.zeros((3, 2, 16, 16), dtype=np.int16)
    array[1] = 200
    scene = make_scene(array, window=(200.0, 100.0), kind=StackKind.CINE, modality="MR")
    off = Offscreen(scene)
    centre = lps_of(scene, (8, 8, 1))
    assert off.view.phase_count == 3 and off.at(centre)[0] == 0
    off.view.set_phase(1)
    assert off.at(centre)[0] == 255


def test_unloaded_slice_shows_a_placeholder_until_it_arrives() -> None:
    array = np.full((4, 32, 32), 200, dtype=np.int16)
    loaded = np.array([True, True, False, False])
    scene = make_scene(array, window=(200.0, 100.0), loaded=loaded)
    off = Offscreen(scene)
    off.view.set_slice(2)
    centre = lps_of(scene, (16, 16, 2))
    dark = off.at(centre)
    assert 10 <= dark[0] <= 40  # the dark grey placeholder, not the image's white
    assert (
        off.view.overlays.loading.GetVisibility()
        and "loading" in off.view.overlays.loading.GetInput()
    )
    scene.mark_loaded("img", 2, 3)
    assert tuple(off.at(centre)) == (255, 255, 255)
    assert not off.view.overlays.loading.GetVisibility()


# --- labels, annotations, overlays ----------------------------------------------------------


def test_label_overlay_colours_a_painted_voxel(uniform: Scene) -> None:
    layer = uniform.layers["img"]
    labels = LabelMap.empty_like("seg", "img", layer.volume.grid_shape, layer.volume.affine)
    segment = labels.add_segment("lesion")
    segment.opacity = 1.0
    labels.array[4, 30:36, 30:36] = segment.number
    uniform.add_labels(labels)
    off = Offscreen(uniform)
    assert off.view.labels.label_ids == ["seg"]
    painted = off.at(lps_of(uniform, (33, 33, 4)))
    assert np.all(np.abs(painted - np.array(segment.color)) <= 3)
    unpainted = off.at(lps_of(uniform, (10, 10, 4)))
    assert abs(int(unpainted[0]) - 128) <= 2
    segment.visible = False
    labels.segments_changed.emit()
    assert abs(int(off.at(lps_of(uniform, (33, 33, 4)))[0]) - 128) <= 2
    # Edits show at once.
    uniform.undo.push(labels.brush(lps_of(uniform, (10, 10, 4)), 2.0, 1, plane_normal=(0, 0, 1)))
    segment.visible = True
    labels.segments_changed.emit()
    assert np.all(np.abs(off.at(lps_of(uniform, (10, 10, 4))) - np.array(segment.color)) <= 3)


def _ref() -> ImageReference:
    return ImageReference("1.2.3", SERIES, "1.2.3.9")


def test_annotations_near_the_plane_are_drawn_and_others_not(uniform: Scene) -> None:
    z = float(lps_of(uniform, (0, 0, 4))[2])
    near = Annotation(
        AnnotationKind.LENGTH,
        _ref(),
        points=((-20.0, 0.0, z + 0.5), (20.0, 0.0, z + 0.5)),
        values={"length_mm": 40.0},
    )
    far = Annotation(
        AnnotationKind.LENGTH, _ref(), points=((-20.0, 5.0, z + 3.0), (20.0, 5.0, z + 3.0))
    )
    other_series = replace(near, uuid="x", reference=ImageReference("1.2.3", "9.9"))
    for annotation in (near, far, other_series):
        uniform.add_annotation(annotation)
    off = Offscreen(uniform)
    visible = off.view.annotations.visible_annotations()
    assert [a.uuid for a in visible] == [near.uuid]
    image = off.pixels()
    row, column = off.screen((0.0, 0.0, z))
    colour = image[row - 1 : row + 2, column].astype(int)
    assert np.any((colour[:, 1] > 180) & (colour[:, 0] < 150))  # the green line over grey
    uniform.select(near.uuid)
    colour = off.pixels()[row - 1 : row + 2, column].astype(int)
    assert np.any((colour[:, 0] > 200) & (colour[:, 2] < 100))  # selected: amber
    x, y = off.view.lps_to_display((20.0, 0.0, z))
    assert off.view.annotations.pick(x + 2, y + 1) == (near.uuid, 1)
    x, y = off.view.lps_to_display((0.0, 0.0, z))
    assert off.view.annotations.pick(x, y + 3) == (near.uuid, None)
    assert off.view.annotations.pick(x, y + 30) is None


def test_annotation_texts() -> None:
    ref = _ref()
    roi = Annotation(
        AnnotationKind.ELLIPSE,
        ref,
        points=((0, 0, 0), (5, 0, 0), (0, 3, 0)),
        values={"area_mm2": 47.12, "mean": 41.26, "sd": 7.9},
        value_unit="HU",
    )
    assert annotation_text(roi) == "Area 47.1 mm²\nMean 41.3 ± 7.9 HU"
    angle = Annotation(
        AnnotationKind.ANGLE,
        ref,
        points=((1, 0, 0), (0, 0, 0), (0, 1, 0)),
        values={"angle_deg": 90},
    )
    assert annotation_text(angle) == "90.0°"
    note = Annotation(AnnotationKind.TEXT, ref, points=((0, 0, 0),), text="cyst?", label="L1")
    assert annotation_text(note) == "L1\ncyst?"
    outline = ellipse_outline(roi.points)
    assert np.allclose(np.ptp(outline, axis=0)[:2], [10, 6], atol=0.1)


def test_overlay_text_and_scale_bar_follow_the_view(uniform: Scene) -> None:
    off = Offscreen(uniform, size=(400, 400))
    overlays = off.view.overlays
    overlays.set_text_visible(True)
    off.pixels()
    assert "TEST, PATIENT" in overlays.corners["upper_left"].GetInput()
    small = Offscreen(uniform, size=(160, 160))
    small.view.overlays.set_text_visible(True)
    small.pixels()  # long lines are shortened so that the edge letters stay free
    corner = small.view.overlays.corners["upper_left"].GetInput()
    assert corner.startswith("TEST, P") and corner.split("\n")[0].endswith("…")
    assert overlays.corners["lower_left"].GetInput().startswith("Im: 5/8")
    assert "W: 200 L: 100" in overlays.corners["lower_right"].GetInput()
    before = overlays.scale_label.GetInput()
    off.view.zoom(4.0)
    off.pixels()
    assert overlays.scale_label.GetInput() != before
    assert "Zoom: " in overlays.corners["lower_right"].GetInput()
    uniform.layers["img"].display.window = 350.0
    assert "W: 350" in overlays.corners["lower_right"].GetInput()
    off.view.set_message("2 files could not be read")
    assert (
        overlays.message.GetInput() == "2 files could not be read"
        and overlays.message.GetVisibility()
    )


def test_scale_bar_helpers() -> None:
    assert (
        nice_length_mm(73.0) == 50.0 and nice_length_mm(19.0) == 10.0 and nice_length_mm(2.2) == 2.0
    )
    assert (
        format_length(50.0) == "5 cm"
        and format_length(5.0) == "5 mm"
        and format_length(2.0) == "2 mm"
    )
    assert format_patient_name("DOE^JOHN^Q") == "DOE, JOHN Q"


# --- linking: cursor, synchronised slices, MPR rotation -----------------------------------------


def test_views_follow_the_cursor_to_the_slice_through_it() -> None:
    scene = make_scene(marker_volume(), window=(1000.0, 500.0))
    window = offscreen_window((300, 100))
    views = []
    for n, orientation in enumerate(Orientation):
        renderer = vtkRenderer()
        renderer.SetViewport(n / 3, 0, (n + 1) / 3, 1)
        window.AddRenderer(renderer)
        view = SliceView(renderer, scene, orientation=orientation)
        view.show_layer("img")
        views.append(view)
    axial, coronal, sagittal = views
    point = lps_of(scene, (10, 30, 3))
    link_of(scene).set_cursor(scene, point, "1.2.3.9")
    assert (axial.slice_index, coronal.slice_index, sagittal.slice_index) == (3, 30, 10)
    # A cursor of another frame of reference moves nothing.
    link_of(scene).set_cursor(scene, lps_of(scene, (20, 20, 9)), "9.9.9")
    assert axial.slice_index == 3
    window.Render()


def test_rotating_the_crosshair_tilts_the_other_planes() -> None:
    scene = make_scene(marker_volume(), window=(1000.0, 500.0))
    window = offscreen_window((200, 100))
    views = []
    for n, orientation in enumerate((Orientation.AXIAL, Orientation.CORONAL)):
        renderer = vtkRenderer()
        renderer.SetViewport(n / 2, 0, (n + 1) / 2, 1)
        window.AddRenderer(renderer)
        views.append(SliceView(renderer, scene, "img", orientation))
    axial, coronal = views
    centre = lps_of(scene, (24, 24, 8))
    link_of(scene).set_cursor(scene, centre, "1.2.3.9")
    axis = axial.rotation_axis()
    assert axis is not None
    link_of(scene).rotate(Rotation(tuple(centre), tuple(axis), 30.0, "1.2.3.9"))
    assert axial.orientation is Orientation.AXIAL  # the plane of the rotation stays
    assert coronal.orientation is None  # now an oblique MPR through the cursor
    normal = coronal.shown.normal
    assert abs(normal[2]) < 1e-9 and abs(abs(normal[1]) - np.cos(np.radians(30))) < 1e-6
    assert abs(coronal.shown.distance(centre)) < 1e-6
    window.Render()
    link_of(scene).reset_rotation("1.2.3.9")
    assert coronal.orientation is Orientation.CORONAL


def test_oblique_ladder_covers_the_volume() -> None:
    volume = Volume(np.zeros((10, 20, 30), np.int16), axial_affine())
    plane = sg.covering_plane(volume, (0, 0, 9), (1, 0, 0), (0, 1, 0))
    low, high, step = sg.oblique_ladder(volume, plane)
    assert step == 1.0 and high - low + 1 == 19  # 20 mm of slices at 1 mm steps, inset
    assert plane.shape == (20, 30)
    assert isinstance(plane, Plane)


def _resliced(view: SliceView) -> npt.NDArray[np.generic]:
    """The plane the view last resampled, as an array ``[row, column]``."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    view._reslice.Update()
    output = view._reslice.GetOutput()
    columns, rows, _ = output.GetDimensions()
    return vtk_to_numpy(output.GetPointData().GetScalars()).reshape(rows, columns)


def test_moving_oblique_planes_are_previewed_and_refined_when_they_rest() -> None:
    rng = np.random.default_rng(7)
    scene = make_scene(rng.integers(0, 1000, (16, 48, 48)).astype(np.int16))
    off = Offscreen(scene)
    base = off.view.plane
    assert base is not None
    tilted = oblique_plane(base.center, (0.9, 0.3, 0.3), (-0.3, 0.95, 0.0), (1.0, 1.0), (48, 48))
    off.view.preview_oblique = True
    off.view.set_oblique(tilted)  # a plane on its own: trilinear at once
    assert not off.view.previewing
    full = _resliced(off.view).copy()
    assert full.shape == (48, 48)
    off.view.set_slice(off.view.slice_index + 1)  # follows at once: the plane is moving
    off.view.set_slice(off.view.slice_index - 1)
    assert off.view.previewing
    preview = _resliced(off.view)
    assert preview.shape == (24, 24)  # every second pixel of each row and column
    off.pixels()
    assert off.view.refine()
    assert not off.view.previewing and not off.view.refine()
    np.testing.assert_array_equal(_resliced(off.view), full)  # the same plane, trilinear again


def test_views_that_do_not_ask_for_previews_never_get_one() -> None:
    rng = np.random.default_rng(8)
    scene = make_scene(rng.integers(0, 1000, (16, 48, 48)).astype(np.int16))
    off = Offscreen(scene)  # snapshots: preview_oblique stays off
    base = off.view.plane
    assert base is not None
    tilted = oblique_plane(base.center, (0.9, 0.3, 0.3), (-0.3, 0.95, 0.0), (1.0, 1.0), (48, 48))
    off.view.set_oblique(tilted)
    for _ in range(3):
        off.view.set_slice(off.view.slice_index + 1)
        assert not off.view.previewing and _resliced(off.view).shape == (48, 48)


def test_large_volumes_are_previewed_from_a_half_resolution_copy(monkeypatch) -> None:
    from workstation.render import slice_view

    k, j, i = np.meshgrid(np.arange(16), np.arange(48), np.arange(48), indexing="ij")
    scene = make_scene((i + 2 * j + 3 * k).astype(np.int16), window=(400.0, 100.0))
    monkeypatch.setattr(slice_view, "PREVIEW_COPY_BYTES", 0)  # this small volume counts
    off = Offscreen(scene)
    off.view.preview_oblique = True
    base = off.view.plane
    assert base is not None
    tilted = oblique_plane(base.center, (0.9, 0.3, 0.3), (-0.3, 0.95, 0.0), (1.0, 1.0), (48, 48))
    off.view.set_oblique(tilted)
    full = _resliced(off.view).astype(np.int64)
    off.view.set_slice(off.view.slice_index)
    off.view.set_oblique(tilted, fit=False)  # at once again: a preview
    assert off.view.previewing
    assert off.view._reslice.GetInput() is off.view._preview_image  # sampled from the copy
    preview = _resliced(off.view).astype(np.int64)
    # Each preview pixel is the copy's nearest voxel: within a voxel of the full plane's value
    # along each axis (the ramp rises 1, 2 and 3 per voxel) wherever both lie in the volume
    # (outside it both show the dark background, below the ramp's 0).
    same_points = full[::2, ::2]
    inside = (same_points >= 0) & (preview >= 0)
    assert inside.mean() > 0.5
    assert np.abs(preview - same_points)[inside].max() <= 6
    off.view.refine()
    assert off.view._reslice.GetInput() is not off.view._preview_image


def test_views_of_one_volume_share_one_preview_copy_that_goes_with_the_volume() -> None:
    import gc

    from workstation.render.slice_view import _PREVIEW_COPIES, preview_copy

    volume = np.arange(8 * 10 * 12, dtype=np.int16).reshape(8, 10, 12)
    half, first = preview_copy(volume)
    assert preview_copy(volume)[1] is first  # a second view gets the same copy
    assert first.GetDimensions() == (6, 5, 4) and first.GetSpacing() == (2.0, 2.0, 2.0)
    np.testing.assert_array_equal(half, volume[::2, ::2, ::2])
    assert id(volume) in _PREVIEW_COPIES
    key = id(volume)
    del volume
    gc.collect()
    assert key not in _PREVIEW_COPIES  # closed with its volume
