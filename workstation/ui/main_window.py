"""The reading-room main window: browser, viewports, measurements, segmentation, tools."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPaintEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolBar,
    QWidget,
)

from workstation.core.presets import CT_PRESETS, WindowPreset
from workstation.core.scene import Scene
from workstation.ui.cine import CinePlayer
from workstation.ui.measurements_panel import MeasurementsPanel
from workstation.ui.segments_panel import SegmentsPanel
from workstation.ui.viewport_grid import ViewportGrid

#: Toolbar tools: (label, tool enum name, shortcut, tip)
_TOOLS = (
    ("W/L", "NAVIGATE", "Esc", "Window/level (left), pan (middle), zoom (right), slices (wheel)"),
    ("Length", "LENGTH", "L", "Distance in mm"),
    ("Angle", "ANGLE", "A", "Angle: three clicks"),
    ("Ellipse", "ELLIPSE", "E", "Elliptical ROI: area, mean, SD, min, max"),
    ("Polygon", "POLYGON", "G", "Polygon ROI: click the corners, double-click to close"),
    ("Point", "POINT", "T", "Voxel value at a point"),
    ("Text", "TEXT", "X", "A note on the image"),
    ("Crosshair", "CROSSHAIR", "C", "Link the views at a point; Shift-drag rotates the MPR"),
    ("Brush", "BRUSH", "B", "Paint the selected segment"),
    ("Eraser", "ERASER", "D", "Erase the selected segment"),
)


class MainWindow(QMainWindow):
    """Widgets only: every action goes to the scene or to the ``actions`` callbacks."""

    open_requested = Signal(list)  # paths
    import_requested = Signal(list, bool)  # paths, copy into managed storage
    #: Files dropped on the window: index them into the library, then open them.
    dropped = Signal(list)

    def __init__(
        self,
        scene: Scene,
        grid: ViewportGrid,
        browser: QWidget | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.scene = scene
        self.grid = grid
        self.setWindowTitle("Workstation")
        self.resize(1500, 940)
        self.setAcceptDrops(True)
        self.setCentralWidget(grid)
        self.actions_by_name: dict[str, QAction] = {}
        self.docks: dict[str, QDockWidget] = {}
        # Tab groups asked for before the first show: (beside, new dock, new dock in front).
        self._pending_tabs: list[tuple[QDockWidget, QDockWidget, bool]] = []
        #: Docks placed before their panel exists (see :meth:`reserve_panel`).
        self._reserved: set[str] = set()
        #: Work that waits for the first paint (see :meth:`after_first_paint`); None once done.
        self._after_paint: list[Callable[[], Any]] | None = []
        self.panels_menu: QMenu | None = None
        self.callbacks: dict[str, Callable[[], Any]] = {}
        self._connected: set[int] = set()
        #: The tool and its settings, given to every viewport, also ones created later.
        self._tool = "NAVIGATE"
        self._settings: dict[str, Any] = {}
        self.cine = CinePlayer(self._cine_step, self)
        self.measurements = MeasurementsPanel(scene, self)
        self.segments = SegmentsPanel(scene, self)
        self._dock("Measurements", self.measurements, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Segmentation", self.segments, Qt.DockWidgetArea.RightDockWidgetArea)
        if browser is not None:
            self.browser_dock = self._dock("Studies", browser, Qt.DockWidgetArea.LeftDockWidgetArea)
            self.resizeDocks([self.browser_dock], [420], Qt.Orientation.Horizontal)
        self.position_label = QLabel("", self)
        self.loading_label = QLabel("", self)
        self.statusBar().addWidget(self.position_label, 1)
        self.statusBar().addPermanentWidget(self.loading_label)
        self._build_menus_and_toolbar()
        grid.active_changed.connect(self._on_active_viewport)
        for viewport in grid.viewports:
            self._connect_viewport(viewport)
        grid.layout_changed.connect(self._connect_all)
        self.segments.target_changed.connect(self._on_segment_target)
        self.segments.brush_radius_changed.connect(self._on_brush_radius)
        self.segments.threshold_changed.connect(self._on_threshold)
        scene.events.slices_loaded.connect(self._on_slices_loaded)
        scene.undo.changed.connect(self._update_undo_actions)
        self._update_undo_actions()

    # --- building -----------------------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.docks[title] = dock
        if self.panels_menu is not None:
            self.panels_menu.addAction(dock.toggleViewAction())
        return dock

    def add_panel(
        self,
        title: str,
        widget: QWidget,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        *,
        tab_with: str | None = None,
        in_front: bool = True,
    ) -> QDockWidget:
        """A dockable panel (listed under View ▸ Panels), optionally a tab beside another.

        ``in_front``: whether the new panel is the tab shown, else the one it joins stays.
        Before the window is first shown the tab group is made when it is: tabifying earlier,
        once a few tab groups exist, leaves a stale tab bar painted over the viewports (Qt's
        main-window layout). A panel whose dock was reserved fills it, where it was placed.
        """
        if title in self._reserved:
            self._reserved.discard(title)
            dock = self.docks[title]
            placeholder = dock.widget()
            dock.setWidget(widget)
            placeholder.deleteLater()
            return dock
        dock = self._dock(title, widget, area)
        beside = self.docks.get(tab_with or "")
        if beside is not None:
            if self.isVisible():
                self._tabify(beside, dock, in_front)
            else:
                self._pending_tabs.append((beside, dock, in_front))
        return dock

    def reserve_panel(
        self,
        title: str,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        *,
        tab_with: str | None = None,
        in_front: bool = True,
    ) -> QDockWidget:
        """Place an empty dock for a panel built later (:meth:`add_panel` with this title
        fills it): the window's layout is final at its first paint, and does not jump when
        panels built after it arrive."""
        placeholder = QWidget()
        placeholder.setObjectName(f"{title} (reserved)")
        dock = self.add_panel(title, placeholder, area, tab_with=tab_with, in_front=in_front)
        self._reserved.add(title)
        return dock

    def after_first_paint(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the event loop once the window has painted for the first time
        (soon, if it already has): for work the user should not wait for to see the window."""
        if self._after_paint is None:
            QTimer.singleShot(0, self, callback)
        else:
            self._after_paint.append(callback)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if self._after_paint is not None:
            waiting, self._after_paint = self._after_paint, None
            for callback in waiting:
                # Posted, not called: the paint finishes and reaches the screen first.
                QTimer.singleShot(0, self, callback)

    def _tabify(self, beside: QDockWidget, dock: QDockWidget, in_front: bool) -> None:
        self.tabifyDockWidget(beside, dock)
        front = dock if in_front else beside
        front.raise_()
        # On a shown window the tab bar is laid out on the next turn of the event loop; a raise
        # before that is lost.
        QTimer.singleShot(0, front, front.raise_)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        pending, self._pending_tabs = self._pending_tabs, []
        for beside, dock, in_front in pending:
            self._tabify(beside, dock, in_front)

    def _action(  # noqa: PLR0917 - name, text, handler, shortcut, tip read best in order
        self,
        name: str,
        text: str,
        handler: Callable[[], Any],
        shortcut: str | QKeySequence.StandardKey | None = None,
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        if tip:
            action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
            action.setStatusTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(lambda _checked=False: handler())
        self.actions_by_name[name] = action
        self.addAction(action)
        return action

    def _build_menus_and_toolbar(self) -> None:
        menu = self.menuBar()
        files = menu.addMenu("&File")
        files.addAction(
            self._action(
                "open",
                "&Open files…",
                self._open_files,
                QKeySequence.StandardKey.Open,
                "Open DICOM files or a zip",
            )
        )
        files.addAction(
            self._action(
                "open_folder",
                "Open &folder…",
                self._open_folder,
                "Ctrl+Shift+O",
                "Open every study in a folder",
            )
        )
        files.addAction(
            self._action(
                "import",
                "&Import a folder into the library…",
                self._import,
                "Ctrl+I",
                "Index or copy studies into the local library",
            )
        )
        files.addAction(
            self._action(
                "import_files",
                "Import &files, zip or DICOMDIR…",
                self._import_files,
                None,
                "Index or copy files into the local library",
            )
        )
        files.addSeparator()
        for name, text in (
            ("export_csv", "Export measurements (CSV)…"),
            ("export_sr", "Export measurements (DICOM SR)…"),
            ("save_seg", "Save segmentation (DICOM SEG)…"),
            ("load_seg", "Load segmentation (DICOM SEG)…"),
            ("screenshot", "Save view as PNG…"),
        ):
            files.addAction(self._action(name, text, partial(self._callback, name)))
        files.addSeparator()
        files.addAction(self._action("quit", "&Quit", self.close, QKeySequence.StandardKey.Quit))

        edit = menu.addMenu("&Edit")
        edit.addAction(self._action("undo", "&Undo", self._undo, QKeySequence.StandardKey.Undo))
        edit.addAction(self._action("redo", "&Redo", self._redo, QKeySequence.StandardKey.Redo))
        edit.addAction(
            self._action("delete", "&Delete measurement", self.measurements.delete_selected, "Del")
        )

        view = menu.addMenu("&View")
        layouts = QActionGroup(self)
        for index, name in enumerate(("1x1", "1x2", "2x2", "mpr"), start=1):
            label = "MPR + 3D" if name == "mpr" else name.replace("x", " × ")
            action = self._action(
                f"layout_{name}",
                label,
                partial(self.set_layout, name),
                f"Ctrl+{index}",
                f"Layout {label}",
                checkable=True,
            )
            layouts.addAction(action)
            view.addAction(action)
        self.actions_by_name["layout_1x1"].setChecked(True)
        view.addSeparator()
        view.addAction(
            self._action(
                "reset", "&Reset view", self._reset, "R", "Fit the image, series window/level"
            )
        )
        view.addAction(self._action("invert", "&Invert", self._invert, "I", "Invert grey values"))
        view.addAction(
            self._action(
                "overlays",
                "Text &overlays",
                self._toggle_overlays,
                "O",
                "Show or hide patient and image text",
                checkable=True,
            )
        )
        self.actions_by_name["overlays"].setChecked(True)
        view.addAction(
            self._action(
                "crosshair_lines",
                "Cross&hair lines",
                self._toggle_crosshair,
                "Shift+C",
                checkable=True,
            )
        )
        view.addAction(
            self._action(
                "next_series",
                "&Next series",
                lambda: self.grid.step_layer(1),
                "N",
                "Show the next open series",
            )
        )
        view.addAction(
            self._action(
                "previous_series",
                "&Previous series",
                lambda: self.grid.step_layer(-1),
                "P",
                "Show the previous open series",
            )
        )
        view.addAction(
            self._action(
                "tags",
                "DICOM &tags…",
                lambda: self._callback("tags"),
                "Ctrl+T",
                "Every attribute of the image on screen",
            )
        )
        self.panels_menu = view.addMenu("P&anels")
        for dock in self.docks.values():
            self.panels_menu.addAction(dock.toggleViewAction())
        presets = view.addMenu("Window &presets")
        for index, preset in enumerate(CT_PRESETS, start=1):
            presets.addAction(
                self._action(
                    f"preset_{index}",
                    f"{preset.name}  {preset.width:g}/{preset.center:g}",
                    partial(self.apply_preset, preset),
                    str(index),
                )
            )

        bar = QToolBar("Tools", self)
        bar.setObjectName("tools")
        bar.setMovable(False)
        self.addToolBar(bar)
        bar.addAction(self.actions_by_name["open_folder"])
        bar.addAction(self.actions_by_name["import"])
        bar.addSeparator()
        for name in ("1x1", "1x2", "2x2", "mpr"):
            bar.addAction(self.actions_by_name[f"layout_{name}"])
        bar.addSeparator()
        tools = QActionGroup(self)
        for label, tool, shortcut, tip in _TOOLS:
            action = self._action(
                f"tool_{tool.lower()}",
                label,
                partial(self.set_tool, tool),
                shortcut,
                tip,
                checkable=True,
            )
            tools.addAction(action)
            bar.addAction(action)
        self.actions_by_name["tool_navigate"].setChecked(True)
        view_bar = QToolBar("View", self)
        view_bar.setObjectName("view")
        view_bar.setMovable(False)
        self.addToolBarBreak()
        self.addToolBar(view_bar)
        bar = view_bar
        self.preset_box = QComboBox(self)
        self.preset_box.addItem("Series W/L", None)
        for preset in CT_PRESETS:
            self.preset_box.addItem(f"{preset.name} ({preset.width:g}/{preset.center:g})", preset)
        self.preset_box.activated.connect(self._on_preset_box)
        self.preset_box.setToolTip("Window/level preset (keys 1–9)")
        bar.addWidget(self.preset_box)
        bar.addAction(self.actions_by_name["invert"])
        bar.addAction(self.actions_by_name["reset"])
        bar.addSeparator()
        play = self._action(
            "cine",
            "▶ Cine",
            self.cine.toggle,
            "Space",
            "Play or pause the phases of a cine series",
            checkable=True,
        )
        self.cine.playing_changed.connect(play.setChecked)
        bar.addAction(play)
        self.fps = QDoubleSpinBox(self)
        self.fps.setRange(1, 120)
        self.fps.setValue(self.cine.fps)
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("Cine frame rate")
        self.fps.valueChanged.connect(self.cine.set_fps)
        bar.addWidget(self.fps)
        bar.addSeparator()
        bar.addAction(self.actions_by_name["undo"])
        bar.addAction(self.actions_by_name["redo"])

    # --- viewports ----------------------------------------------------------------------------

    def _connect_all(self, _layout: str = "") -> None:
        for viewport in self.grid.viewports:
            self._connect_viewport(viewport)

    def _connect_viewport(self, viewport: Any) -> None:
        if id(viewport) in self._connected:
            return
        self._connected.add(id(viewport))
        viewport.cursor_moved.connect(self._on_cursor)
        self._apply_tool(viewport)

    def _apply_tool(self, viewport: Any) -> None:
        from workstation.ui.tools import Tool

        viewport.set_tool(Tool[self._tool])
        for name, value in self._settings.items():
            setattr(viewport.tool_settings, name, value)

    def _set_setting(self, **values: Any) -> None:
        self._settings.update(values)
        for viewport in self.grid.viewports:
            for name, value in values.items():
                setattr(viewport.tool_settings, name, value)

    def _on_active_viewport(self, viewport: Any) -> None:
        if viewport is None:
            return
        layer = self.scene.layers.get(viewport.layer_id or "")
        is_ct = layer is not None and layer.info.modality == "CT"
        self.preset_box.setEnabled(is_ct)

    @property
    def active(self) -> Any:
        return self.grid.active

    def set_layout(self, name: str) -> None:
        self.grid.set_layout(name)
        self.actions_by_name[f"layout_{name}"].setChecked(True)

    def set_tool(self, tool: str) -> None:
        self._tool = tool
        for viewport in self.grid.viewports:
            self._apply_tool(viewport)
        self.actions_by_name[f"tool_{tool.lower()}"].setChecked(True)

    def apply_preset(self, preset: WindowPreset) -> None:
        if self.active is not None:
            self.active.apply_preset(preset)

    def _on_preset_box(self, index: int) -> None:
        preset = self.preset_box.itemData(index)
        if self.active is None:
            return
        if preset is None:
            self.active.reset_view()
        else:
            self.active.apply_preset(preset)

    def _reset(self) -> None:
        if self.active is not None:
            self.active.reset_view()

    def _invert(self) -> None:
        if self.active is not None:
            self.active.toggle_invert()

    def _toggle_overlays(self) -> None:
        visible = self.actions_by_name["overlays"].isChecked()
        for viewport in self.grid.viewports:
            viewport.set_overlays_visible(visible)

    def _toggle_crosshair(self) -> None:
        visible = self.actions_by_name["crosshair_lines"].isChecked()
        for viewport in self.grid.viewports:
            viewport.set_crosshair_visible(visible)

    def _cine_step(self) -> None:
        viewport = self.active
        if viewport is None or viewport.phase_count <= 1:
            self.cine.stop()
            return
        viewport.set_phase((viewport.phase + 1) % viewport.phase_count)

    def _undo(self) -> None:
        text = self.scene.undo.undo()
        if text:
            self.statusBar().showMessage(f"Undone: {text}", 3000)

    def _redo(self) -> None:
        text = self.scene.undo.redo()
        if text:
            self.statusBar().showMessage(f"Redone: {text}", 3000)

    def _update_undo_actions(self) -> None:
        undo = self.actions_by_name["undo"]
        redo = self.actions_by_name["redo"]
        undo.setEnabled(self.scene.undo.can_undo)
        redo.setEnabled(self.scene.undo.can_redo)
        undo.setText(f"Undo {self.scene.undo.undo_text}".strip())
        redo.setText(f"Redo {self.scene.undo.redo_text}".strip())

    def _on_cursor(self, info: Any) -> None:
        lps, value, unit, ijk = info
        if lps is None:
            self.position_label.setText("")
            return
        text = f"LPS ({lps[0]:.1f}, {lps[1]:.1f}, {lps[2]:.1f}) mm"
        if ijk is not None:
            text += f"   voxel ({ijk[0]}, {ijk[1]}, {ijk[2]})"
        if value is not None:
            text += f"   value {value:g} {unit}".rstrip()
        self.position_label.setText(text)

    def _on_slices_loaded(self, layer_id: str, _first: int, _last: int) -> None:
        layer = self.scene.layers.get(layer_id)
        if layer is None:
            return
        done, total = int(layer.loaded.sum()), layer.slice_count
        self.loading_label.setText("" if done == total else f"loading {done}/{total}")

    def _on_segment_target(self, label_id: str, number: int) -> None:
        self._set_setting(label_map_id=label_id, segment=number)

    def _on_brush_radius(self, radius: float) -> None:
        self._set_setting(brush_radius_mm=radius)

    def _on_threshold(self, low: float, high: float) -> None:
        self._set_setting(threshold_low=low, threshold_high=high)

    # --- files and callbacks ------------------------------------------------------------------

    def _callback(self, name: str) -> None:
        handler = self.callbacks.get(name)
        if handler is not None:
            handler()

    def _open_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open DICOM files, a zip or a DICOMDIR")
        if paths:
            self.open_requested.emit([Path(p) for p in paths])

    def _open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM files")
        if folder:
            self.open_requested.emit([Path(folder)])

    def _import(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder into the library")
        if folder:
            self._ask_and_import([Path(folder)])

    def _import_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, "Import DICOM files, a zip or a DICOMDIR into the library"
        )
        if names:
            self._ask_and_import([Path(n) for n in names])

    def _ask_and_import(self, targets: list[Path]) -> None:
        answer = QMessageBox.question(
            self,
            "Import",
            "Copy the files into the workstation's storage?\n\n"
            "Yes: copy (the originals can be removed).\nNo: index them where they are.",
            QMessageBox.StandardButton.Yes
            | QMessageBox.StandardButton.No
            | QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Cancel:
            self.import_requested.emit(targets, answer == QMessageBox.StandardButton.Yes)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        targets = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if targets:
            event.acceptProposedAction()
            self.dropped.emit(targets)

    def show_problem(self, title: str, message: str) -> None:
        """A non-blocking message: the reader keeps working while it is shown."""
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setModal(False)
        box.show()
        self.statusBar().showMessage(title, 6000)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.cine.stop()
        handler = self.callbacks.get("shutdown")
        if handler is not None:
            handler()
        super().closeEvent(event)
