"""The 2D viewport: mouse map, keyboard, measurements, painting and linked views.

Offscreen (pytest-qt, ``QT_QPA_PLATFORM=offscreen``, OSMesa VTK windows). Mouse events are sent
to the viewport's VTK widget at the screen position of known LPS points.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from workstation.core import geometry
from workstation.core.annotations import AnnotationKind
from workstation.core.planes import Orientation
from workstation.core.presets import preset
from workstation.core.scene import ImageLayer, LayerInfo, Scene
from workstation.core.volume import StackKind, Volume
from workstation.io import load_stack, scan
from workstation.testing.factories import SeriesSpec, write_series
from workstation.ui.tools import Tool
from workstation.ui.viewport import Viewport

SIZE = (320, 320)
FRAME = "1.2.826.0.1.3680043.8.498.1"
Button = Qt.MouseButton


def phantom_layer(
    layer_id: str = "ct", series: str = "1.2.3.4", *, shape=(12, 64, 64)
) -> ImageLayer:
    """A CT of 0.8 × 0.6 mm pixels and 2.5 mm slices: body 40 HU, a 300 HU block, markers."""
    array = np.full(shape, -1000, dtype=np.int16)
    array[:, 8:56, 8:56] = 40
    array[:, 20:30, 30:40] = 300
    for k in range(shape[0]):
        array[k, 50:54, 10:14] = 100 + k  # identifies the slice
    affine = np.diag([0.6, 0.8, 2.5, 1.0])
    affine[:3, 3] = (-20.0, -25.0, 30.0)
    info = LayerInfo(
        patient_name="DOE^JANE",
        patient_id="ID1",
        study_instance_uid="1.2.3",
        series_instance_uid=series,
        series_description="Chest",
        series_number=2,
        modality="CT",
        frame_of_reference_uid=FRAME,
        sop_instance_uids=tuple(f"{series}.{k + 1}" for k in range(shape[0])),
    )
    return ImageLayer(layer_id, Volume(array, affine), info)


@pytest.fixture
def scene() -> Scene:
    scene = Scene()
    scene.add_layer(phantom_layer())
    return scene


@pytest.fixture
def viewport(qtbot: QtBot, scene: Scene) -> Viewport:
    return make_viewport(qtbot, scene, "ct")


def make_viewport(
    qtbot: QtBot, scene: Scene, layer_id: str, orientation=Orientation.AXIAL
) -> Viewport:
    viewport = Viewport(scene)
    qtbot.addWidget(viewport)
    viewport.resize(*SIZE)
    viewport.show()
    qtbot.waitExposed(viewport)
    viewport.show_layer(layer_id)
    if orientation is not Orientation.AXIAL:
        viewport.set_orientation(orientation)
    viewport.render()
    return viewport


def lps(scene: Scene, ijk, layer_id: str = "ct") -> npt.NDArray[np.float64]:
    return geometry.index_to_lps(scene.layers[layer_id].volume.affine, np.asarray(ijk, dtype=float))


def widget_pos(viewport: Viewport, point) -> QPointF:
    x, y = viewport.view.lps_to_display(point)
    ratio = viewport.view_widget.devicePixelRatioF()
    height = viewport.render_window.GetSize()[1]
    return QPointF(x / ratio, (height - 1 - y) / ratio)


def send_mouse(
    viewport: Viewport,
    kind: QEvent.Type,
    pos: QPointF,
    button=Button.LeftButton,
    buttons=None,
    modifiers=Qt.KeyboardModifier.NoModifier,
) -> None:
    if buttons is None:
        buttons = button if kind != QEvent.Type.MouseButtonRelease else Button.NoButton
    event = QMouseEvent(
        kind, pos, viewport.view_widget.mapToGlobal(pos), button, buttons, modifiers
    )
    QApplication.sendEvent(viewport.view_widget, event)


def press(
    viewport: Viewport,
    pos: QPointF,
    button=Button.LeftButton,
    modifiers=Qt.KeyboardModifier.NoModifier,
) -> None:
    send_mouse(viewport, QEvent.Type.MouseButtonPress, pos, button, modifiers=modifiers)


def move(
    viewport: Viewport,
    pos: QPointF,
    buttons=Button.NoButton,
    modifiers=Qt.KeyboardModifier.NoModifier,
) -> None:
    send_mouse(viewport, QEvent.Type.MouseMove, pos, Button.NoButton, buttons, modifiers)


def release(viewport: Viewport, pos: QPointF, button=Button.LeftButton) -> None:
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, pos, button)


def drag(
    viewport: Viewport,
    start: QPointF,
    end: QPointF,
    button=Button.LeftButton,
    steps: int = 5,
    modifiers=Qt.KeyboardModifier.NoModifier,
) -> None:
    press(viewport, start, button, modifiers)
    for n in range(1, steps + 1):
        t = n / steps
        move(viewport, start + (end - start) * t, button, modifiers)
    release(viewport, end, button)


def click(viewport: Viewport, pos: QPointF) -> None:
    press(viewport, pos)
    release(viewport, pos)


def wheel(viewport: Viewport, delta: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    pos = QPointF(SIZE[0] / 2, SIZE[1] / 2)
    event = QWheelEvent(
        pos,
        viewport.view_widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, delta),
        Button.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport.view_widget, event)


def key(viewport: Viewport, code: Qt.Key) -> None:
    QApplication.sendEvent(
        viewport.view_widget, QKeyEvent(QEvent.Type.KeyPress, code, Qt.KeyboardModifier.NoModifier)
    )


def probe(viewport: Viewport, point) -> npt.NDArray[np.int64]:
    image = viewport.render_to_array()
    x, y = viewport.view.lps_to_display(point)
    return image[image.shape[0] - 1 - round(y), round(x)].astype(np.int64)


# --- showing, slicing, window -----------------------------------------------------------------


def test_viewport_renders_the_layer_at_its_size(viewport: Viewport, scene: Scene) -> None:
    image = viewport.render_to_array()
    ratio = viewport.view_widget.devicePixelRatioF()
    assert image.shape == (round(SIZE[1] * ratio), round(SIZE[0] * ratio), 3)
    assert viewport.layer_id == "ct" and viewport.slice_count == 12 and viewport.slice_index == 6
    assert tuple(probe(viewport, lps(scene, (35, 25, 6)))) == (255, 255, 255)  # 300 HU, W400/L40
    soft = probe(viewport, lps(scene, (15, 15, 6)))
    assert abs(int(soft[0]) - 128) <= 2  # 40 HU is the soft-tissue level


def test_wheel_and_keys_change_the_slice(viewport: Viewport) -> None:
    seen: list[int] = []
    viewport.slice_changed.connect(seen.append)
    wheel(viewport, -120)  # towards the reader: next slice
    assert viewport.slice_index == 7
    wheel(viewport, 120)
    wheel(viewport, 120)
    assert viewport.slice_index == 5
    key(viewport, Qt.Key.Key_Down)
    key(viewport, Qt.Key.Key_PageDown)
    assert viewport.slice_index == 7
    key(viewport, Qt.Key.Key_Up)
    assert viewport.slice_index == 6
    assert seen == [7, 6, 5, 6, 7, 6]
    viewport.set_slice(100)
    assert viewport.slice_index == 11


def test_slice_content_follows_the_index(viewport: Viewport, scene: Scene) -> None:
    viewport.apply_preset(preset("stroke"))  # 8 / 32: 100 + k is white, so look at a window
    layer = scene.layers["ct"]
    layer.display.window, layer.display.center = 40.0, 105.0
    marker = lps(scene, (12, 52, 0))
    viewport.set_slice(0)
    first = int(probe(viewport, marker * [1, 1, 0] + lps(scene, (0, 0, 0)) * [0, 0, 1])[0])
    viewport.set_slice(10)
    later = int(probe(viewport, marker * [1, 1, 0] + lps(scene, (0, 0, 10)) * [0, 0, 1])[0])
    assert later > first + 50  # 110 HU vs 100 HU in a 40 HU window


def test_ctrl_wheel_zooms_and_right_drag_zooms_middle_drag_pans(viewport: Viewport) -> None:
    camera = viewport.view.camera
    scale = camera.parallel_scale
    wheel(viewport, 120, Qt.KeyboardModifier.ControlModifier)
    assert camera.parallel_scale < scale and viewport.slice_index == 6
    scale = camera.parallel_scale
    centre = QPointF(160, 160)
    drag(viewport, centre, centre + QPointF(0, 40), Button.RightButton)  # down zooms in (OHIF)
    assert camera.parallel_scale < scale
    focal = camera.focal_point
    drag(viewport, centre, centre + QPointF(30, 0), Button.MiddleButton)
    moved = camera.focal_point - focal
    # The picture follows the mouse to the right: the camera looks further left (−x on screen).
    assert moved[0] < 0 and abs(moved[1]) < 1e-6 and abs(moved[2]) < 1e-6


def test_left_drag_changes_window_and_level(viewport: Viewport, scene: Scene) -> None:
    display = scene.layers["ct"].display
    start = QPointF(160, 160)
    drag(viewport, start, start + QPointF(50, 0))
    assert display.window > 400 and display.center == pytest.approx(40)
    width = display.window
    drag(viewport, start, start + QPointF(0, 40))  # down: level up (image darker)
    assert display.center > 40 and display.window == pytest.approx(width)
    assert "W: " in viewport.view.overlays.corners["lower_right"].GetInput()


def test_invert_reset_and_presets(viewport: Viewport, scene: Scene) -> None:
    display = scene.layers["ct"].display
    key(viewport, Qt.Key.Key_I)
    assert display.invert
    viewport.apply_preset(preset("lung"))
    assert (display.window, display.center) == (1500, -600)
    fitted = viewport.view.zoom_factor
    viewport.view.zoom(3.0)
    key(viewport, Qt.Key.Key_R)
    assert (display.window, display.center, display.invert) == (400, 40, False)
    assert viewport.view.zoom_factor == pytest.approx(fitted)


def test_series_window_is_used_when_the_series_has_one(qtbot: QtBot) -> None:
    scene = Scene()
    layer = phantom_layer()
    layer = ImageLayer(
        "ct", layer.volume, LayerInfo(**{**layer.info.__dict__, "default_window": (1200.0, 300.0)})
    )
    scene.add_layer(layer)
    viewport = make_viewport(qtbot, scene, "ct")
    assert (layer.display.window, layer.display.center) == (1200, 300)
    viewport.apply_preset(preset("brain"))
    viewport.reset_view()
    assert (layer.display.window, layer.display.center) == (1200, 300)


def test_cursor_moved_and_activated(viewport: Viewport, scene: Scene) -> None:
    seen: list[object] = []
    activated: list[bool] = []
    viewport.cursor_moved.connect(seen.append)
    viewport.activated.connect(lambda: activated.append(True))
    point = lps(scene, (35, 25, 6))
    move(viewport, widget_pos(viewport, point))
    position, value, unit, ijk = seen[-1]  # type: ignore[misc]
    assert (
        np.allclose(position, point, atol=0.7)
        and value == 300
        and unit == "HU"
        and ijk == (35, 25, 6)
    )
    press(viewport, QPointF(5, 5), Button.RightButton)
    release(viewport, QPointF(5, 5), Button.RightButton)
    assert activated == [True]


# --- measurements -------------------------------------------------------------------------------


def test_length_drawn_with_the_mouse_is_in_mm_and_undoable(
    viewport: Viewport, scene: Scene
) -> None:
    viewport.set_tool(Tool.LENGTH)
    a, b = lps(scene, (10, 10, 6)), lps(scene, (40, 50, 6))  # 18 mm across, 32 mm down
    drag(viewport, widget_pos(viewport, a), widget_pos(viewport, b), steps=8)
    [annotation] = scene.visible_annotations()
    assert annotation.kind is AnnotationKind.LENGTH
    expected = math.hypot(30 * 0.6, 40 * 0.8)
    # Clicks land on screen pixels: within one pixel of the true points.
    tolerance = 2 * viewport.view.camera.mm_per_pixel()
    assert annotation.values["length_mm"] == pytest.approx(expected, abs=tolerance)
    assert annotation.reference.sop_instance_uid == "1.2.3.4.7"
    assert annotation.reference.frame_of_reference_uid == FRAME
    assert annotation.plane_normal == pytest.approx((0.0, 0.0, 1.0))
    assert scene.selected_annotation == annotation.uuid
    assert "mm" in viewport.view.annotations._drawn[annotation.uuid].actors[-1].GetInput()
    scene.undo.undo()
    assert scene.visible_annotations() == []


def test_a_click_with_the_length_tool_draws_nothing(viewport: Viewport, scene: Scene) -> None:
    viewport.set_tool(Tool.LENGTH)
    click(viewport, QPointF(100, 100))
    assert scene.visible_annotations() == []


def test_select_drag_handle_and_delete(viewport: Viewport, scene: Scene) -> None:
    viewport.set_tool(Tool.LENGTH)
    a, b = lps(scene, (10, 30, 6)), lps(scene, (40, 30, 6))
    drag(viewport, widget_pos(viewport, a), widget_pos(viewport, b))
    [annotation] = scene.visible_annotations()
    scene.select("")
    viewport.set_tool(Tool.NAVIGATE)
    click(viewport, widget_pos(viewport, (a + b) / 2))  # on the line: selects, no W/L
    assert scene.selected_annotation == annotation.uuid
    c = lps(scene, (40, 40, 6))
    drag(viewport, widget_pos(viewport, b), widget_pos(viewport, c))  # the end handle
    edited = scene.annotations[annotation.uuid]
    assert edited.version == 2 and np.allclose(edited.points[1], c, atol=1.0)
    assert edited.values["length_mm"] == pytest.approx(math.hypot(18.0, 8.0), abs=1.0)
    key(viewport, Qt.Key.Key_Delete)
    assert scene.annotations[annotation.uuid].deleted
    scene.undo.undo()
    assert not scene.annotations[annotation.uuid].deleted


def test_angle_takes_three_clicks(viewport: Viewport, scene: Scene) -> None:
    viewport.set_tool(Tool.ANGLE)
    first, vertex, second = (
        lps(scene, (40, 20, 6)),
        lps(scene, (20, 20, 6)),
        lps(scene, (20, 45, 6)),
    )
    for point in (first, vertex):
        click(viewport, widget_pos(viewport, point))
        move(viewport, widget_pos(viewport, point) + QPointF(3, 3))
    assert scene.visible_annotations() == []
    click(viewport, widget_pos(viewport, second))
    [annotation] = scene.visible_annotations()
    assert annotation.values["angle_deg"] == pytest.approx(90.0, abs=2.0)


def test_ellipse_roi_has_area_and_hu_statistics(viewport: Viewport, scene: Scene) -> None:
    viewport.set_tool(Tool.ELLIPSE)
    drag(
        viewport,
        widget_pos(viewport, lps(scene, (31, 21, 6))),
        widget_pos(viewport, lps(scene, (38, 28, 6))),
    )
    [roi] = scene.visible_annotations()
    assert roi.kind is AnnotationKind.ELLIPSE and roi.value_unit == "HU"
    assert roi.values["area_mm2"] == pytest.approx(math.pi * 3.5 * 0.6 * 3.5 * 0.8, rel=0.2)
    assert roi.values["mean"] == pytest.approx(300.0) and roi.values["sd"] == pytest.approx(0.0)


def test_polygon_closes_on_double_click(viewport: Viewport, scene: Scene) -> None:
    viewport.set_tool(Tool.POLYGON)
    corners = [lps(scene, ijk) for ijk in ((15, 15, 6), (45, 15, 6), (45, 45, 6))]
    for corner in corners:
        click(viewport, widget_pos(viewport, corner))
        move(viewport, widget_pos(viewport, corner))
    last = widget_pos(viewport, lps(scene, (15, 45, 6)))
    click(viewport, last)
    send_mouse(viewport, QEvent.Type.MouseButtonDblClick, last)
    release(viewport, last)
    [polygon] = scene.visible_annotations()
    assert len(polygon.points) == 4
    assert polygon.values["area_mm2"] == pytest.approx(30 * 0.6 * 30 * 0.8, rel=0.1)


def test_point_and_text_and_escape(
    viewport: Viewport, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewport.set_tool(Tool.POINT)
    click(viewport, widget_pos(viewport, lps(scene, (35, 25, 6))))
    [point] = scene.visible_annotations()
    assert point.values["value"] == 300
    monkeypatch.setattr(viewport, "_ask_text", lambda: "follow up")
    viewport.set_tool(Tool.TEXT)
    click(viewport, widget_pos(viewport, lps(scene, (15, 45, 6))))
    note = scene.visible_annotations()[-1]
    assert note.kind is AnnotationKind.TEXT and note.text == "follow up"
    viewport.set_tool(Tool.ANGLE)
    click(viewport, widget_pos(viewport, lps(scene, (20, 20, 6))))
    key(viewport, Qt.Key.Key_Escape)
    assert viewport._draft is None and len(scene.visible_annotations()) == 2


# --- segmentation -------------------------------------------------------------------------------


def test_brush_stroke_is_one_undo_step_and_shows_in_colour(
    viewport: Viewport, scene: Scene
) -> None:
    viewport.set_tool(Tool.BRUSH)
    viewport.tool_settings.brush_radius_mm = 3.0
    start, end = lps(scene, (15, 40, 6)), lps(scene, (45, 40, 6))
    drag(viewport, widget_pos(viewport, start), widget_pos(viewport, end), steps=6)
    labels = viewport.active_labels(create=False)
    assert labels is not None and labels.image_layer_id == "ct"
    painted = labels.array[6] == 1
    assert painted[40, 15:46].all() and not labels.array[5].any()  # a band on this slice only
    colour = probe(viewport, lps(scene, (30, 40, 6)))
    segment_colour = np.array(labels.segments[1].color)
    assert np.abs(colour - (0.5 * segment_colour + 0.5 * 128)).max() <= 6  # 50 % over grey
    viewport.set_tool(Tool.ERASER)
    drag(
        viewport,
        widget_pos(viewport, lps(scene, (28, 40, 6))),
        widget_pos(viewport, lps(scene, (32, 40, 6))),
    )
    assert not labels.array[6, 40, 30]
    scene.undo.undo()  # the eraser stroke
    assert labels.array[6, 40, 30] == 1
    scene.undo.undo()  # the whole brush stroke
    assert not labels.array.any()


def test_threshold_fills_the_slice(viewport: Viewport, scene: Scene) -> None:
    viewport.set_tool(Tool.THRESHOLD)
    viewport.tool_settings.threshold_low, viewport.tool_settings.threshold_high = 200, 400
    click(viewport, QPointF(150, 150))
    labels = viewport.active_labels(create=False)
    assert labels is not None
    assert labels.array[6].sum() == 100 and labels.array.sum() == 100
    scene.undo.undo()
    assert not labels.array.any()


# --- linked views, crosshair, MPR, cine, loading -------------------------------------------


def test_crosshair_click_moves_the_other_orthogonal_views(qtbot: QtBot, scene: Scene) -> None:
    axial = make_viewport(qtbot, scene, "ct")
    coronal = make_viewport(qtbot, scene, "ct", Orientation.CORONAL)
    sagittal = make_viewport(qtbot, scene, "ct", Orientation.SAGITTAL)
    axial.set_tool(Tool.CROSSHAIR)
    target = lps(scene, (20, 45, 6))
    click(axial, widget_pos(axial, target))
    assert np.allclose(scene.cursor, target, atol=0.7)
    assert coronal.slice_index == 45 and sagittal.slice_index == 20
    # Scrolling the axial view moves the cursor with it; the others already contain it.
    wheel(axial, -120)
    assert scene.cursor[2] == pytest.approx(lps(scene, (0, 0, 7))[2])
    assert (coronal.slice_index, sagittal.slice_index) == (45, 20)


def test_scrolling_is_synchronised_between_series_of_one_frame(qtbot: QtBot, scene: Scene) -> None:
    scene.add_layer(phantom_layer("ct2", "1.2.3.5"))
    first = make_viewport(qtbot, scene, "ct")
    second = make_viewport(qtbot, scene, "ct2")
    first.scroll(3)
    assert second.slice_index == first.slice_index == 9


def test_rotating_the_mpr_tilts_the_other_planes(qtbot: QtBot, scene: Scene) -> None:
    axial = make_viewport(qtbot, scene, "ct")
    coronal = make_viewport(qtbot, scene, "ct", Orientation.CORONAL)
    axial.set_tool(Tool.CROSSHAIR)
    click(axial, widget_pos(axial, lps(scene, (32, 32, 6))))
    axial.rotate_mpr(25.0)
    assert axial.orientation is Orientation.AXIAL and coronal.orientation is None
    plane = coronal.view.plane
    assert plane is not None
    assert (
        abs(plane.normal[2]) < 1e-9
        and abs(abs(plane.normal[1]) - math.cos(math.radians(25))) < 1e-6
    )
    image = coronal.render_to_array()
    assert image.mean() > 5
    axial.reset_mpr()
    assert coronal.orientation is Orientation.CORONAL


def test_turning_the_crosshair_previews_the_moving_planes_then_refines_them(
    qtbot: QtBot, scene: Scene
) -> None:
    axial = make_viewport(qtbot, scene, "ct")
    coronal = make_viewport(qtbot, scene, "ct", Orientation.CORONAL)
    axial.set_tool(Tool.CROSSHAIR)
    click(axial, widget_pos(axial, lps(scene, (32, 32, 6))))
    for _ in range(3):  # a drag: several small turns in quick succession
        axial.rotate_mpr(5.0)
        coronal.render()
    assert coronal.view.previewing  # the moving plane is drawn from a quick preview
    # Once the turning stops, the plane is resampled trilinearly without being asked.
    qtbot.waitUntil(lambda: not coronal.view.previewing, timeout=5000)
    assert coronal.render_to_array().mean() > 5


def test_cine_phase_steps_with_left_and_right(qtbot: QtBot) -> None:
    array = np.zeros((4, 3, 24, 24), dtype=np.int16)
    for t in range(4):
        array[t] = 100 * t
    scene = Scene()
    info = LayerInfo(modality="MR", series_instance_uid="9.9", default_window=(300.0, 150.0))
    scene.add_layer(
        ImageLayer("cine", Volume(array, np.eye(4), StackKind.CINE, (0.0, 40.0, 80.0, 120.0)), info)
    )
    viewport = make_viewport(qtbot, scene, "cine")
    assert viewport.phase_count == 4 and viewport.phase == 0
    centre = lps(scene, (12, 12, 1), "cine")
    dark = int(probe(viewport, centre)[0])
    key(viewport, Qt.Key.Key_Right)
    key(viewport, Qt.Key.Key_Right)
    assert viewport.phase == 2
    assert int(probe(viewport, centre)[0]) > dark + 100
    key(viewport, Qt.Key.Key_Left)
    key(viewport, Qt.Key.Key_Left)
    key(viewport, Qt.Key.Key_Left)
    assert viewport.phase == 3  # wraps around, as cine loops
    assert "Ph: 4/4" in viewport.view.overlays.corners["lower_left"].GetInput()


def test_loading_placeholder_then_the_slice(qtbot: QtBot) -> None:
    layer = phantom_layer()
    layer.loaded = np.zeros(layer.slice_count, dtype=bool)
    scene = Scene()
    scene.add_layer(layer)
    viewport = make_viewport(qtbot, scene, "ct")
    block = lps(scene, (35, 25, 6))
    assert probe(viewport, block)[0] < 40
    assert viewport.view.overlays.loading.GetVisibility()
    scene.mark_loaded("ct", 0, 11)
    assert tuple(probe(viewport, block)) == (255, 255, 255)


def test_message_and_overlay_toggles(viewport: Viewport) -> None:
    viewport.set_message("2 files could not be read")
    assert viewport.view.overlays.message.GetInput() == "2 files could not be read"
    viewport.set_overlays_visible(False)
    assert not viewport.view.overlays.corners["upper_left"].GetVisibility()
    viewport.set_crosshair_visible(True)
    viewport.render_to_array()
    assert viewport.view.overlays.crosshair_visible


# --- real DICOM ---------------------------------------------------------------------------------


def test_measuring_on_a_loaded_dicom_series(qtbot: QtBot, tmp_path: Path) -> None:
    spec = SeriesSpec(rows=48, columns=64, n_slices=6, pixel_spacing=(0.8, 0.7))
    written = write_series(tmp_path / "series", spec)
    result = scan(tmp_path / "series")
    [stack] = result.stacks
    volume = load_stack(stack)
    series = result.tree.patients[0].studies[0].series[0]
    info = LayerInfo(
        study_instance_uid=stack.study_instance_uid,
        series_instance_uid=stack.series_instance_uid,
        modality=series.modality,
        frame_of_reference_uid=series.frame_of_reference_uid,
        sop_instance_uids=tuple(ref.header.sop_instance_uid for ref in stack.frames),
    )
    scene = Scene()
    scene.add_layer(ImageLayer("s", volume, info))
    viewport = make_viewport(qtbot, scene, "s")
    viewport.set_tool(Tool.LENGTH)
    a, b = lps(scene, (10, 10, 3), "s"), lps(scene, (50, 10, 3), "s")
    drag(viewport, widget_pos(viewport, a), widget_pos(viewport, b))
    [annotation] = scene.visible_annotations()
    assert annotation.values["length_mm"] == pytest.approx(
        40 * 0.7, abs=2 * viewport.view.camera.mm_per_pixel()
    )
    assert annotation.reference.sop_instance_uid == written.sop_instance_uids[3]


def test_shell_helpers_and_empty_viewport(viewport: Viewport, scene: Scene) -> None:
    viewport.set_slice(4)
    assert viewport.slice_region() == (slice(4, 5), slice(None), slice(None))
    assert viewport.frame_index() == 4
    viewport.set_orientation(Orientation.SAGITTAL)
    assert viewport.slice_region() == (slice(None), slice(None), slice(32, 33))
    scene.remove_layer("ct")
    assert viewport.layer_id is None and viewport.slice_count == 0
    image = viewport.render_to_array()
    assert image.max() == 0  # nothing left to show, not even letters
    move(viewport, QPointF(100, 100))  # hovering an empty viewport is harmless


def test_brush_outline_follows_the_mouse(viewport: Viewport, scene: Scene) -> None:
    viewport.set_tool(Tool.BRUSH)
    move(viewport, widget_pos(viewport, lps(scene, (30, 30, 6))))
    assert viewport.view.overlays.brush.GetVisibility()
    viewport.set_tool(Tool.NAVIGATE)
    assert not viewport.view.overlays.brush.GetVisibility()
