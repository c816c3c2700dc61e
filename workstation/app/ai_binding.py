"""Binds the AI panel to the expert-module services: what it lists and what its buttons do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from workstation.app.expert import ExpertModules, Run
from workstation.core.errors import WorkstationError
from workstation.core.scene import Scene
from workstation.core.segmentation import PALETTE
from workstation.ui.ai_panel import AiPanel, ModuleChoice, RunRow
from workstation.ui.curve_plot import PlotCurve, PlotMarker

#: UCUM codes as a reader writes them.
_UNIT_TEXT = {
    "[hnsf'U]": "HU",
    "ml": "mL",
    "mL": "mL",
    "ml/m2": "mL/m²",
    "g/m2": "g/m²",
    "mm2": "mm²",
    "mm3": "mm³",
    "cm2": "cm²",
    "cm3": "cm³",
    "m2": "m²",
    "1": "",
    "{ratio}": "",
}


def unit_text(ucum: str) -> str:
    """A UCUM unit as shown to the reader ("[hnsf'U]" → "HU", "mm2" → "mm²")."""
    return _UNIT_TEXT.get(ucum, ucum)


def format_value(value: float, unit: str) -> str:
    """A measurement as a reader says it: "142 mL", "58.3 %", "1.02 mL/m²"."""
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2
    return f"{value:.{digits}f} {unit_text(unit)}".strip()


def plot_marks(
    curves: list[dict[str, Any]], plotted: tuple[PlotCurve, ...]
) -> tuple[PlotMarker, ...]:
    """The points the module named on the ``plotted`` curves' x axis (e.g. ED, ES), once each."""
    names = {curve.name for curve in plotted}
    marks: dict[tuple[float, str], PlotMarker] = {}
    for c in curves:
        if str(c.get("name") or c.get("id")) in names:
            for x, label in c.get("marks") or ():
                marks.setdefault((float(x), str(label)), PlotMarker(float(x), str(label)))
    return tuple(marks.values())


def plot_curves(curves: list[dict[str, Any]]) -> tuple[tuple[PlotCurve, ...], tuple[str, str]]:
    """The curves to plot together: those in the first curve's units, in palette colours."""
    if not curves:
        return (), ("", "")
    first = curves[0]
    same = [
        c
        for c in curves
        if (c.get("x_unit"), c.get("y_unit")) == (first.get("x_unit"), first.get("y_unit"))
    ]
    plotted = tuple(
        PlotCurve(
            str(c.get("name") or c.get("id")),
            tuple(float(v) for v in c["x"]),
            tuple(float(v) for v in c["y"]),
            PALETTE[index % len(PALETTE)],
        )
        for index, c in enumerate(same)
    )
    x_unit = str(first.get("x_unit") or "")
    x_label = str(first.get("x_name") or "")
    if unit_text(x_unit):
        x_label = f"{x_label} ({unit_text(x_unit)})".strip()
    y_unit = unit_text(str(first.get("y_unit") or ""))
    y_label = " ".join(filter(None, [str(first.get("y_name") or ""), y_unit]))
    return plotted, (x_label, y_label)


def run_row(modules: ExpertModules, run: Run) -> RunRow:
    result = run.result
    review = reviewed_by = ""
    measurements: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    curves: list[dict[str, Any]] = []
    if result is not None:
        curves = [c.to_json() for c in result.curves]
        review, reviewed_by = result.review.state.value, result.review.by
        measurements = tuple((m.name, format_value(m.value, m.unit)) for m in result.measurements)
        notes = result.provenance.notes
    elif run.stored is not None:
        stored_review = run.stored.review
        review, reviewed_by = stored_review.state.value, stored_review.by
        measurements = tuple(
            (str(m["name"]), format_value(float(m["value"]), str(m["unit"])))
            for m in run.stored.measurements
        )
        curves = list(run.stored.data.get("curves", []))
    if review == "pending":
        reviewed_by = ""
    when = f" · {run.started[:16].replace('T', ' ')}" if run.started else ""
    plotted, axes = plot_curves(curves)
    return RunRow(
        id=run.id,
        title=f"{run.module_name} (AI)",
        series=f"{run.series_description or run.series_instance_uid}{when}",
        state=run.state,
        progress=run.progress,
        message=run.message,
        review=review,
        reviewed_by=reviewed_by,
        measurements=measurements,
        shown=modules.shown(run),
        showable=modules.showable(run),
        notes=notes,
        curves=plotted,
        curve_axes=axes,
        curve_marks=plot_marks(curves, plotted),
    )


class AiPanelBinding(QObject):
    """Keeps the panel in step with the scene and the runs; turns its clicks into work."""

    def __init__(
        self,
        panel: AiPanel,
        modules: ExpertModules,
        scene: Scene,
        *,
        study_titles: Callable[[], dict[str, str]],
        status: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel = panel
        self.modules = modules
        self.scene = scene
        self.study_titles = study_titles
        self.status = status
        self.send: Callable[[list[Path]], None] | None = None
        modules.registry_changed.connect(self.refresh_modules)
        modules.registry_changed.connect(self._warm_up_if_visible)
        panel.shown.connect(modules.warm_up)
        modules.runs_changed.connect(self.refresh_runs)
        scene.events.active_changed.connect(lambda _id: self.refresh_modules())
        scene.events.layer_added.connect(lambda _id: self.refresh_modules())
        panel.run_requested.connect(self._run)
        panel.cancel_requested.connect(modules.cancel)
        panel.review_requested.connect(modules.review)
        panel.show_requested.connect(modules.show)
        panel.export_requested.connect(self._export)
        panel.send_requested.connect(self._send)
        self.refresh_modules()
        self.refresh_runs()

    def _warm_up_if_visible(self) -> None:
        if self.panel.isVisible():
            self.modules.warm_up()

    def set_sender(self, send: Callable[[list[Path]], None] | None) -> None:
        """How the panel's Send button delivers files (None hides it: no PACS configured)."""
        self.send = send
        self.panel.set_sending_available(send is not None)

    def refresh_modules(self) -> None:
        layer = self.scene.active_layer
        if layer is None:
            self.panel.set_series("")
        else:
            info = layer.info
            shape = layer.volume.array.shape
            cine = len(shape) == 4
            layout = f"{shape[1]} slices × {shape[0]} phases" if cine else f"{shape[0]} slices"
            self.panel.set_series(
                f"{info.modality} · {info.series_description or 'series'} ({layout})"
            )
        if self.modules.registry is None:
            self.panel.set_modules([], "Finding expert modules…")
            return
        choices = [
            ModuleChoice(
                id=module.qualified_id,
                name=module.spec.name,
                refusal=refusal,
                description=module.spec.description,
            )
            for module, refusal in self.modules.choices(self.scene.active_layer_id)
        ]
        note = self.modules.discovery_error or "No expert modules installed"
        self.panel.set_modules(choices, note)

    def refresh_runs(self) -> None:
        titles = self.study_titles()
        groups: dict[str, list[RunRow]] = {}
        open_studies = {layer.info.study_instance_uid for layer in self.scene.layers.values()}
        runs = sorted(self.modules.runs.values(), key=lambda r: r.started or "~", reverse=True)
        for run in runs:
            if run.study_instance_uid not in open_studies and run.result is None:
                continue
            groups.setdefault(run.study_instance_uid, []).append(run_row(self.modules, run))
        self.panel.set_runs([(titles.get(study, study), rows) for study, rows in groups.items()])

    def _run(self, module_id: str, device: str) -> None:
        layer_id = self.scene.active_layer_id
        if layer_id is None:
            return
        run = self.modules.run(layer_id, module_id, device)
        if run is not None:
            self.refresh_runs()
            self.panel.select_run(run.id)

    def _export(self, run_id: str) -> None:
        folder = QFileDialog.getExistingDirectory(self.panel, "Export DICOM SEG + SR to")
        if not folder:
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written = self.modules.export(run_id, Path(folder))
        except (WorkstationError, ValueError, OSError) as error:
            self.modules.problem.emit("Export failed", str(error))
            return
        finally:
            QApplication.restoreOverrideCursor()
        if written:
            self.status(f"{len(written)} file(s) written to {folder}")

    def _send(self, run_id: str) -> None:
        files = self.modules.dicom_files(run_id)
        if not files:
            self.modules.problem.emit("Nothing to send", "The result has no DICOM files yet.")
            return
        if self.send is not None:
            self.send(files)
