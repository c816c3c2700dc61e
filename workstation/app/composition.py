"""The composition root: builds the scene, the services and the main window, and wires them."""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QProgressDialog

from workstation import paths
from workstation.app.ai_binding import AiPanelBinding
from workstation.app.early_imports import DICOM, ENGINE, settle_imports
from workstation.app.expert import ExpertModules
from workstation.app.importing import ImportJob, describe
from workstation.app.late_panels import add_after_first_paint
from workstation.app.workstation import Workstation
from workstation.collab import AnnotationStore, StoreError
from workstation.core.errors import WorkstationError
from workstation.core.scene import Scene
from workstation.core.segmentation import LabelMap
from workstation.core.study import format_date, format_patient_name
from workstation.pacs import (
    StudyDatabase,
    StudyDatabaseError,
    find_studies,
    open_database,
)
from workstation.ui.ai_panel import AiPanel
from workstation.ui.browser import StudyBrowser
from workstation.ui.main_window import MainWindow
from workstation.ui.viewport_grid import ViewportGrid

if TYPE_CHECKING:
    from workstation.app.collaboration import CollaborationBinding
    from workstation.app.pacs_binding import PacsBinding

log = logging.getLogger(__name__)


class Services:
    """What the window's actions do: open, import, export, save and load."""

    def __init__(
        self,
        scene: Scene,
        *,
        window: MainWindow,
        workstation: Workstation,
        database: StudyDatabase | None,
        store: AnnotationStore | None,
        browser: StudyBrowser | None,
    ) -> None:
        self.scene = scene
        self.window = window
        self.workstation = workstation
        self.database = database
        self.store = store
        self.browser = browser
        self.jobs: list[ImportJob] = []
        self._tags: Any = None
        self.experts: ExpertModules | None = None
        self.collaboration: CollaborationBinding | None = None
        self.ai_binding: AiPanelBinding | None = None
        self.pacs: PacsBinding | None = None
        #: Set once the panels built after the first paint (PACS, Collaboration) are there.
        self.late_panels_added = threading.Event()
        self.closed = False

    # --- opening ----------------------------------------------------------------------------

    def open_paths(self, targets: list[Path]) -> list[str]:
        settle_imports(DICOM)
        return self.workstation.open_paths(targets)

    def open_series(self, series_uids: list[str]) -> list[str]:
        if self.database is None:
            return []
        settle_imports(DICOM, ENGINE)
        from workstation.pacs import scan_series

        opened: list[str] = []
        for uid in series_uids:
            opened += self.workstation.open_scan(scan_series(self.database, uid))
        return opened

    def on_opened(self, layer_ids: list[str]) -> None:
        self.window.grid.show_layers(layer_ids)
        if self.store is None:
            return
        for series_uid in {
            self.scene.layers[i].info.series_instance_uid
            for i in layer_ids
            if i in self.scene.layers
        }:
            try:
                self.store.restore(self.scene, series_uid)
            except StoreError as error:
                self.window.show_problem("Measurements not restored", str(error))

    def open_demo(self) -> None:
        settle_imports(DICOM)
        from workstation.testing.demo import write_demo_studies

        folders = write_demo_studies(paths.ensure("demo"))
        if self.database is not None:
            from workstation.pacs import import_paths

            import_paths(self.database, folders)
            if self.browser is not None:
                self.browser.refresh()
        opened = self.workstation.open_paths(folders)
        if opened:
            self.window.set_layout("mpr")
            self.window.grid.show_mpr(opened[0])

    # --- library ----------------------------------------------------------------------------

    def import_and_open(self, targets: list[Path]) -> None:
        """Dropped files: indexed into the library where they are, then opened."""
        self.import_paths(targets, False, open_after=True)

    def import_paths(self, targets: list[Path], copy: bool, *, open_after: bool = False) -> None:
        job = ImportJob(targets, copy, self.window)
        dialog = QProgressDialog("Importing…", "Cancel", 0, 0, self.window)
        dialog.setWindowTitle("Import")
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(job.cancel)

        def progress(done: int, total: int) -> None:
            dialog.setMaximum(total)
            dialog.setValue(done)

        job.progress.connect(progress)

        def finished(report: Any) -> None:
            dialog.reset()
            self.jobs.remove(job)
            if self.browser is not None:
                self.browser.refresh()
            self.window.statusBar().showMessage(describe(report), 10000)
            if report.errors:
                self.workstation.report_files(report.errors, [])
            if open_after:
                self.workstation.open_paths(targets)

        def failed(message: str) -> None:
            dialog.reset()
            self.jobs.remove(job)
            self.window.show_problem("Import failed", message)

        job.finished.connect(finished)
        job.failed.connect(failed)
        self.jobs.append(job)
        job.start()

    def delete_study(self, study_uid: str) -> None:
        if self.database is not None:
            from workstation.pacs import delete_study

            delete_study(self.database, study_uid)

    def delete_series(self, series_uid: str) -> None:
        if self.database is not None:
            from workstation.pacs import delete_series

            delete_series(self.database, series_uid)

    # --- exports ------------------------------------------------------------------------------

    def _active_layer_and_stack(self) -> tuple[Any, Any] | None:
        viewport = self.window.grid.active
        layer_id = getattr(viewport, "layer_id", None) or self.scene.active_layer_id
        layer = self.scene.layers.get(layer_id or "")
        stack = self.workstation.stacks.get(layer_id or "")
        if layer is None or stack is None:
            self.window.show_problem("Nothing to export", "Open a series first.")
            return None
        return layer, stack

    def _save_path(self, title: str, suggestion: str, pattern: str) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self.window, title, suggestion, pattern)
        return Path(name) if name else None

    def export_csv(self) -> None:
        target = self._save_path("Export measurements", "measurements.csv", "CSV (*.csv)")
        if target is None:
            return
        from workstation.collab.csv_export import write_measurements_csv

        open_series = {layer.info.series_instance_uid for layer in self.scene.layers.values()}
        rows = write_measurements_csv(
            [
                a
                for a in self.scene.visible_annotations()
                if a.reference.series_instance_uid in open_series
            ],
            target,
        )
        self.window.statusBar().showMessage(f"{rows} measurement(s) written to {target}", 8000)

    def export_sr(self) -> None:
        chosen = self._active_layer_and_stack()
        if chosen is None:
            return
        layer, stack = chosen
        annotations = self.scene.visible_annotations(layer.info.series_instance_uid)
        if not annotations:
            self.window.show_problem("Nothing to export", "This series has no measurements.")
            return
        target = self._save_path("Export DICOM SR", "measurements-sr.dcm", "DICOM (*.dcm)")
        if target is None:
            return
        from workstation.io.sr import write_measurement_report

        try:
            write_measurement_report(annotations, stack, target)
        except (WorkstationError, ValueError, OSError) as error:
            self.window.show_problem("SR not written", str(error))
            return
        self.window.statusBar().showMessage(f"Structured report written to {target}", 8000)

    def new_segmentation(self) -> LabelMap | None:
        layer = self.scene.active_layer
        if layer is None:
            self.window.show_problem("No image", "Open a series to segment.")
            return None
        import numpy as np

        shape = layer.volume.array.shape
        labels = LabelMap(
            f"{layer.id}/labels/{len(self.scene.labels) + 1}",
            layer.id,
            np.zeros(shape[:4] if layer.volume.array.ndim == 4 else shape[:3], dtype=np.uint8),
            layer.volume.affine,
            name=f"Segmentation {len(self.scene.labels) + 1}",
        )
        labels.add_segment("Segment 1")
        self.scene.add_labels(labels)
        return labels

    def save_seg(self) -> None:
        chosen = self._active_layer_and_stack()
        labels = self.window.segments.current_map()
        if chosen is None or labels is None or not labels.array.any():
            self.window.show_problem("Nothing to save", "Paint a segment first.")
            return
        _layer, stack = chosen
        target = self._save_path("Save DICOM SEG", "segmentation-seg.dcm", "DICOM (*.dcm)")
        if target is None:
            return
        from workstation.io.seg import write_seg

        phase = self.window.grid.active.phase if labels.array.ndim == 4 else None
        try:
            write_seg(labels, stack, target, phase=phase)
        except (WorkstationError, ValueError, OSError) as error:
            self.window.show_problem("SEG not written", str(error))
            return
        self.window.statusBar().showMessage(f"Segmentation written to {target}", 8000)

    def load_seg(self) -> None:
        chosen = self._active_layer_and_stack()
        if chosen is None:
            return
        layer, stack = chosen
        name, _ = QFileDialog.getOpenFileName(self.window, "Load DICOM SEG", "", "DICOM (*)")
        if not name:
            return
        from workstation.io.seg import read_seg

        try:
            labels = read_seg(Path(name), stack)
        except (WorkstationError, ValueError, OSError) as error:
            self.window.show_problem("SEG not loaded", str(error))
            return
        labels.id = f"{layer.id}/labels/{Path(name).name}"
        labels.image_layer_id = layer.id
        self.scene.add_labels(labels)

    def fill_threshold(self, whole_volume: bool) -> None:
        viewport = self.window.grid.active
        labels = self.window.segments.current_map()
        layer = self.scene.active_layer
        if viewport is None or labels is None or layer is None:
            return
        settings = viewport.tool_settings
        phase = viewport.phase if layer.volume.array.ndim == 4 else None
        image: Any = layer.volume.array if phase is None else layer.volume.array[phase]
        region = None if whole_volume else viewport.slice_region()
        edit = labels.threshold_fill(
            image,
            settings.threshold_low,
            settings.threshold_high,
            settings.segment or 1,
            region=region,
            phase=phase,
        )
        self.scene.undo.push(edit)

    def screenshot(self) -> None:
        viewport = self.window.grid.active
        if viewport is None:
            return
        target = self._save_path("Save view as PNG", "view.png", "PNG (*.png)")
        if target is None:
            return
        from workstation.render.snapshot import save_png

        save_png(viewport.render_to_array(), target)
        self.window.statusBar().showMessage(f"View saved to {target}", 8000)

    def show_tags(self) -> None:
        viewport = self.window.grid.active
        layer_id = getattr(viewport, "layer_id", None)
        stack = self.workstation.stacks.get(layer_id or "")
        if stack is None:
            return
        from workstation.io.tags import read_tags
        from workstation.ui.tags_dialog import TagsDialog

        index = viewport.frame_index() if hasattr(viewport, "frame_index") else 0
        source = stack.frames[min(index, len(stack.frames) - 1)].header.source
        try:
            rows = read_tags(source)
        except WorkstationError as error:
            self.window.show_problem("Tags not readable", str(error))
            return
        if self._tags is None:
            self._tags = TagsDialog(self.window)
        self._tags.show_rows(Path(source.display).name, rows)
        self._tags.show()
        self._tags.raise_()

    def rename_label(self) -> None:
        annotation = self.scene.annotations.get(self.scene.selected_annotation)
        if annotation is None:
            return
        text, ok = QInputDialog.getText(self.window, "Label", "Label:", text=annotation.label)
        if ok:
            self.scene.edit_annotation(annotation, label=text.strip())

    def reader_name(self) -> str:
        """Who reviews: the user signed in to the collaboration server, else the OS login."""
        if self.collaboration is not None:
            signed_in = self.collaboration.reader_name()
            if signed_in:
                return signed_in
        import getpass

        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            return "reader"

    def study_titles(self) -> dict[str, str]:
        """Each open study as the AI panel heads it: patient · date · description."""
        titles = {}
        for layer in self.scene.layers.values():
            info = layer.info
            parts = [
                format_patient_name(info.patient_name),
                format_date(info.study_date),
                info.study_description,
            ]
            titles[info.study_instance_uid] = " · ".join(p for p in parts if p)
        return titles

    def shutdown(self) -> None:
        self.closed = True
        if self.experts is not None:
            self.experts.shutdown()
        if self.collaboration is not None:
            self.collaboration.shutdown()  # before the store closes: the sync thread uses it
        if self.pacs is not None:
            self.pacs.shutdown()  # transfers cancelled, SCP stopped, before the library closes
        for job in self.jobs:
            job.cancel()
        self.workstation.shutdown()
        if self.store is not None:
            self.store.close()
        if self.database is not None:
            self.database.close()


def _open_library(window: MainWindow | None = None) -> StudyDatabase | None:
    try:
        return open_database()
    except (StudyDatabaseError, OSError) as error:
        log.warning("library unavailable: %s", error)
        if window is not None:
            QMessageBox.warning(window, "Library unavailable", str(error))
        return None


def _open_store() -> AnnotationStore | None:
    try:
        return AnnotationStore(paths.home() / "annotations.sqlite")
    except (StoreError, OSError) as error:
        log.warning("annotation store unavailable: %s", error)
        return None


def _viewport(scene: Scene) -> Any:
    from workstation.ui.viewport import Viewport  # VTK loads here, after the window shows

    return Viewport(scene)


def _volume_viewport(scene: Scene) -> Any:
    from workstation.ui.volume_viewport import VolumeViewport

    return VolumeViewport(scene)


def build_main_window() -> tuple[MainWindow, Services]:
    """The window with everything wired; heavy modules (VTK) load with the first viewport."""
    scene = Scene()
    workstation = Workstation(scene)
    database = _open_library()
    store = _open_store()
    if store is not None:
        store.attach(scene)

    def query(**filters: Any) -> list[Any]:
        return find_studies(database, **filters) if database is not None else []

    browser = StudyBrowser(query) if database is not None else None
    grid = ViewportGrid(scene, partial(_viewport, scene), partial(_volume_viewport, scene))
    window = MainWindow(scene, grid, browser)
    services = Services(
        scene,
        window=window,
        workstation=workstation,
        database=database,
        store=store,
        browser=browser,
    )
    workstation.problem.connect(window.show_problem)
    workstation.status.connect(lambda text: window.statusBar().showMessage(text, 5000))
    workstation.opened.connect(services.on_opened)
    window.open_requested.connect(services.open_paths)
    window.import_requested.connect(services.import_paths)
    window.dropped.connect(services.import_and_open)
    window.segments.new_requested.connect(services.new_segmentation)
    window.segments.fill_requested.connect(services.fill_threshold)
    window.segments.load_requested.connect(services.load_seg)
    window.segments.save_requested.connect(services.save_seg)
    window.callbacks.update(
        {
            "export_csv": services.export_csv,
            "export_sr": services.export_sr,
            "save_seg": services.save_seg,
            "load_seg": services.load_seg,
            "screenshot": services.screenshot,
            "tags": services.show_tags,
            "shutdown": services.shutdown,
        }
    )
    _add_ai_panel(window, services)
    add_after_first_paint(window, services)
    if browser is not None:
        browser.open_series.connect(services.open_series)
        browser.delete_study.connect(services.delete_study)
        browser.delete_series.connect(services.delete_series)
        browser.refresh()
    return window, services


def _add_ai_panel(window: MainWindow, services: Services) -> AiPanelBinding:
    experts = ExpertModules(
        services.scene,
        services.workstation.stacks,
        paths.home() / "results",
        reader=services.reader_name,
        parent=window,
    )
    services.experts = experts
    panel = AiPanel(window)
    dock = window.add_panel("AI", panel, tab_with="Segmentation")
    # Wide enough for a module name, a measurement and its value side by side.
    window.resizeDocks([dock], [360], Qt.Orientation.Horizontal)
    binding = AiPanelBinding(
        panel,
        experts,
        services.scene,
        study_titles=services.study_titles,
        status=lambda text: window.statusBar().showMessage(text, 8000),
        parent=window,
    )
    experts.problem.connect(window.show_problem)
    # Manifests are read once the window has painted (the thread imports pydantic, which would
    # hold the interpreter while the window paints); the panel says "Finding expert modules…".
    window.after_first_paint(experts.discover_async)
    services.ai_binding = binding
    return binding
