"""The assembled application, offscreen: open, layouts, hotkeys, cine, persistence, SEG, drops."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox

from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.testing.factories import SeriesSpec, write_series

CT = SeriesSpec(n_slices=12, series_description="Chest", uid_seed="ct")
CINE = replace(
    CT,
    modality="MR",
    rescale_slope=None,
    rescale_intercept=None,
    phases=5,
    n_slices=3,
    series_description="Cine",
    uid_seed="cine",
)


@pytest.fixture
def app_window(qtbot, home):
    from workstation.app.composition import build_main_window

    window, services = build_main_window()
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.grid.materialize()
    yield window, services
    services.shutdown()


def _wait_loaded(qtbot, services) -> None:
    qtbot.waitUntil(
        lambda: (
            services.scene.layers
            and all(layer.fully_loaded for layer in services.scene.layers.values())
        ),
        timeout=20000,
    )


def test_open_layouts_series_stepping_and_presets(qtbot, tmp_path, app_window) -> None:
    window, services = app_window
    write_series(tmp_path / "ct", CT)
    write_series(tmp_path / "cine", CINE)
    opened = services.open_paths([tmp_path / "ct", tmp_path / "cine"])
    assert len(opened) == 2
    _wait_loaded(qtbot, services)
    grid = window.grid
    assert grid.active.layer_id == opened[0]
    window.actions_by_name["layout_2x2"].trigger()
    assert len(grid.viewports) == 4
    assert {v.layer_id for v in grid.viewports} == set(opened)
    window.actions_by_name["layout_mpr"].trigger()
    assert [v.orientation.value for v in grid.viewports] == ["axial", "coronal", "sagittal"]
    assert grid.volume_view is not None and grid.volume_view.layer_id == grid.active.layer_id
    window.actions_by_name["layout_1x1"].trigger()
    ct_layer = services.scene.layers[grid.active.layer_id]
    window.actions_by_name["preset_2"].trigger()  # key 2: lung 1500/-600
    assert (ct_layer.display.window, ct_layer.display.center) == (1500, -600)
    window.actions_by_name["next_series"].trigger()
    assert grid.active.layer_id == opened[1]


def test_cine_plays_through_the_phases(qtbot, tmp_path, app_window) -> None:
    window, services = app_window
    write_series(tmp_path / "cine", CINE)
    services.open_paths([tmp_path / "cine"])
    _wait_loaded(qtbot, services)
    viewport = window.grid.active
    assert viewport.phase_count == 5
    window.cine.set_fps(50)
    window.actions_by_name["cine"].trigger()
    seen = set()
    qtbot.waitUntil(lambda: seen.add(viewport.phase) or len(seen) == 5, timeout=5000)
    window.actions_by_name["cine"].trigger()
    assert not window.cine.playing


def test_measurements_survive_a_restart(qtbot, tmp_path, home) -> None:
    from workstation.app.composition import build_main_window

    write_series(tmp_path / "ct", CT)
    window, services = build_main_window()
    qtbot.addWidget(window)
    (layer_id,) = services.open_paths([tmp_path / "ct"])
    info = services.scene.layers[layer_id].info
    annotation = Annotation(
        AnnotationKind.LENGTH,
        ImageReference(info.study_instance_uid, info.series_instance_uid),
        points=((0, 0, 40), (25, 0, 40)),
        values={"length_mm": 25.0},
        label="nodule",
    )
    services.scene.add_annotation(annotation)
    services.shutdown()
    window.close()

    window, services = build_main_window()
    qtbot.addWidget(window)
    services.open_paths([tmp_path / "ct"])
    restored = services.scene.annotations[annotation.uuid]
    assert restored.label == "nodule" and restored.values["length_mm"] == 25.0
    assert window.measurements.table.rowCount() == 1
    services.scene.undo.undo()  # restoring is not an edit: nothing to undo
    assert not services.scene.annotations[annotation.uuid].deleted
    services.shutdown()


def test_segmentation_saved_as_seg_and_loaded_back(
    qtbot, tmp_path, app_window, monkeypatch
) -> None:
    _window, services = app_window
    write_series(tmp_path / "ct", CT)
    services.open_paths([tmp_path / "ct"])
    _wait_loaded(qtbot, services)
    labels = services.new_segmentation()
    assert labels is not None
    labels.array[4:8, 10:20, 10:30] = 1
    target = tmp_path / "out" / "seg.dcm"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(target), ""))
    services.save_seg()
    assert target.exists()
    before = set(services.scene.labels)
    services.load_seg()
    (loaded_id,) = set(services.scene.labels) - before
    np.testing.assert_array_equal(services.scene.labels[loaded_id].array, labels.array)


def test_broken_files_show_a_message_and_the_rest_opens(qtbot, tmp_path, app_window) -> None:
    window, services = app_window
    written = write_series(tmp_path / "ct", CT)
    written.slice_paths[(0, 3)].write_bytes(b"\0" * 132 + b"garbage")
    (tmp_path / "ct" / "readme.txt").write_text("hello")
    opened = services.open_paths([tmp_path / "ct"])
    assert len(opened) == 1
    boxes = [w for w in window.findChildren(QMessageBox) if w.isVisible()]
    assert boxes and "could not be used" in boxes[-1].text() + boxes[-1].windowTitle()
    assert not boxes[-1].isModal()  # the reader keeps working
    layer = services.scene.layers[opened[0]]
    assert layer.volume.grid_shape[0] == 11
    assert any("missing" in note for note in layer.notes)


def test_dropping_files_imports_and_opens_them(qtbot, tmp_path, app_window) -> None:
    window, services = app_window
    write_series(tmp_path / "ct", CT)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "ct"))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    qtbot.waitUntil(lambda: bool(services.scene.layers), timeout=20000)
    assert services.browser.tree.topLevelItemCount() == 1
    assert Path(tmp_path / "ct").exists()  # indexed in place, never moved


def test_tag_browser_shows_the_image_on_screen(qtbot, tmp_path, app_window) -> None:
    window, services = app_window
    write_series(tmp_path / "ct", replace(CT, patient_name="Tag^Test"))
    services.open_paths([tmp_path / "ct"])
    window.actions_by_name["tags"].trigger()
    dialog = services._tags  # the dialog the action opened
    assert dialog is not None and dialog.isVisible()
    keywords = {
        dialog.tree.topLevelItem(i).text(1): dialog.tree.topLevelItem(i).text(3)
        for i in range(dialog.tree.topLevelItemCount())
    }
    assert keywords["PatientName"] == "Tag^Test"
    dialog.filter.setText("PatientName")
    visible = [
        i
        for i in range(dialog.tree.topLevelItemCount())
        if not dialog.tree.topLevelItem(i).isHidden()
    ]
    assert len(visible) == 1


def test_panels_tabbed_before_the_first_show_are_tabbed_once_shown(qtbot, home) -> None:
    from PySide6.QtWidgets import QLabel

    from workstation.app.composition import build_main_window

    window, services = build_main_window()
    qtbot.addWidget(window)
    try:
        docks = window.docks
        # Asked for while hidden: no tab group yet (Qt would paint a stale tab bar).
        assert docks["Collaboration"] not in window.tabifiedDockWidgets(docks["Measurements"])
        window.show()
        qtbot.waitExposed(window)
        for joined, beside in (("Collaboration", "Measurements"), ("PACS", "Studies")):
            assert docks[joined] in window.tabifiedDockWidgets(docks[beside])
        assert docks["AI"] in window.tabifiedDockWidgets(docks["Segmentation"])
        # The panel asked to stay behind does; the library and the measurement list show first.
        assert not docks["Measurements"].visibleRegion().isEmpty()
        assert docks["Collaboration"].visibleRegion().isEmpty()
        assert docks["PACS"].visibleRegion().isEmpty()
        # Once shown, a new panel joins its group at once, in front.
        late = window.add_panel("Late", QLabel("late"), tab_with="Measurements")
        qtbot.waitUntil(lambda: late in window.tabifiedDockWidgets(docks["Measurements"]))
        qtbot.waitUntil(lambda: not late.visibleRegion().isEmpty())
    finally:
        services.shutdown()


def test_network_panels_fill_their_reserved_docks_after_the_first_paint(qtbot, home) -> None:
    from workstation.app.composition import build_main_window
    from workstation.ui.collab_panel import CollabPanel
    from workstation.ui.remote_browser import RemoteBrowser
    from workstation.ui.transfers_panel import TransfersPanel

    window, services = build_main_window()
    qtbot.addWidget(window)
    try:
        docks = window.docks
        # Placed before the first paint, so the layout does not move when the panels come.
        for title in ("PACS", "Transfers", "Collaboration"):
            assert docks[title].widget().objectName() == f"{title} (reserved)"
        assert services.pacs is None and services.collaboration is None
        window.resize(1400, 900)
        window.show()
        qtbot.waitUntil(services.late_panels_added.is_set, timeout=20000)
        assert isinstance(docks["PACS"].widget(), RemoteBrowser)
        assert isinstance(docks["Transfers"].widget(), TransfersPanel)
        assert isinstance(docks["Collaboration"].widget(), CollabPanel)
        assert services.pacs is not None and services.collaboration is not None
        assert docks["PACS"] in window.tabifiedDockWidgets(docks["Studies"])
        assert docks["Collaboration"] in window.tabifiedDockWidgets(docks["Measurements"])
        # Work asked for once the window has painted runs soon, on the event loop.
        ran: list[bool] = []
        window.after_first_paint(lambda: ran.append(True))
        qtbot.waitUntil(lambda: ran == [True])
    finally:
        services.shutdown()


def test_the_first_paint_waits_for_neither_the_network_panels_nor_the_dicom_engine(
    tmp_path,
) -> None:
    """What the window needs to be seen is imported before it paints; the rest after."""
    import json
    import os
    import subprocess
    import sys

    code = """
import json, sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from workstation.app.composition import build_main_window
window, services = build_main_window()
window.show(); app.processEvents()  # offscreen, this paints the window
heavy = ("workstation.app.pacs_binding", "workstation.app.collaboration", "workstation.io.scan",
         "pydicom", "pydantic", "vtkmodules.vtkRenderingCore", "torch", "httpx")
at_paint = sorted(name for name in heavy if name in sys.modules)
while not services.late_panels_added.is_set():
    app.processEvents()
print(json.dumps([at_paint, services.pacs is not None, services.collaboration is not None]))
services.shutdown()
"""
    environment = dict(os.environ, WORKSTATION_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    at_paint, pacs, collaboration = json.loads(done.stdout.strip().splitlines()[-1])
    assert at_paint == []
    assert pacs and collaboration
