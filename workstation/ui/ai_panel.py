"""The AI panel: run an expert module on the current series and review what it found.

Widgets only. The application fills it (:meth:`AiPanel.set_series`, :meth:`set_modules`,
:meth:`set_runs`) and turns its signals into work; every AI row says it is AI output and
what the reader decided, so a machine's contour is never taken for a colleague's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.ui.curve_plot import CurvePlot, PlotCurve, PlotMarker

#: Device choices: (label, value given to the job).
DEVICES = (("Auto", "auto"), ("CPU", "cpu"), ("GPU (CUDA)", "cuda"), ("Apple GPU (MPS)", "mps"))
_REVIEW_COLOURS = {
    "accepted": "#7fc97f",
    "rejected": "#e07b7b",
    "edited": "#8fb8e0",
    "pending": "#f0a040",
}
_RUN_ID = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class ModuleChoice:
    """A module as the panel offers it for the current series."""

    id: str
    name: str
    #: Empty when it can run on the current series; else why not (shown, not offered).
    refusal: str = ""
    description: str = ""


@dataclass(frozen=True)
class RunRow:
    """One run or stored result as the panel lists it."""

    id: str
    title: str  # "Cardiac ventricles (AI)"
    series: str
    #: "waiting", "starting", "running", "succeeded", "failed", "cancelled" or "stored"
    state: str
    progress: float = 0.0
    message: str = ""
    #: "pending", "accepted", "rejected", "edited" ("" while it runs)
    review: str = ""
    reviewed_by: str = ""
    #: (name, value with unit)
    measurements: tuple[tuple[str, str], ...] = ()
    #: Whether its overlay is shown now, and whether it can be (its series is open).
    shown: bool = False
    showable: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Curves to plot (sharing units), with the axis captions.
    curves: tuple[PlotCurve, ...] = ()
    curve_axes: tuple[str, str] = ("", "")
    curve_marks: tuple[PlotMarker, ...] = ()

    @property
    def active(self) -> bool:
        return self.state in ("waiting", "starting", "running")

    @property
    def finished_with_result(self) -> bool:
        return self.state in ("succeeded", "stored")


class AiPanel(QWidget):
    """Module picker, run with progress and cancel, results per study with review actions."""

    run_requested = Signal(str, str)  # module id, device
    cancel_requested = Signal(str)  # run id
    review_requested = Signal(str, str)  # run id, "accepted" or "rejected"
    show_requested = Signal(str, bool)  # run id, shown
    export_requested = Signal(str)  # run id
    send_requested = Signal(str)  # run id
    #: The panel came into view (a run may follow soon: time to start a worker).
    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series_label = QLabel("Open a series to analyse it.", self)
        self.series_label.setWordWrap(True)
        self.modules = QComboBox(self)
        self.modules.setToolTip("Expert modules whose inputs fit the current series")
        self.devices = QComboBox(self)
        for label, value in DEVICES:
            self.devices.addItem(label, value)
        self.devices.setToolTip("Where the module runs; Auto takes a GPU when there is one")
        self.run_button = QPushButton("Run", self)
        self.run_button.setToolTip("Run the module on the current series")
        self.why_label = QLabel("", self)
        self.why_label.setWordWrap(True)
        self.why_label.setStyleSheet("color: #9a9a96;")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop the running module at once")
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        self.results = QTreeWidget(self)
        self.results.setColumnCount(2)
        self.results.setHeaderLabels(("Result", "Value / review"))
        self.results.setMinimumHeight(120)  # a result's measurements stay readable beside the plot
        header = self.results.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.plot = CurvePlot(self)
        self.plot.setVisible(False)
        self.show_button = QPushButton("Show", self)
        self.show_button.setCheckable(True)
        self.show_button.setToolTip("Show the result's overlay on its series")
        self.accept_button = QPushButton("Accept", self)
        self.accept_button.setToolTip("Accept the result (recorded with your name)")
        self.reject_button = QPushButton("Reject", self)
        self.reject_button.setToolTip("Reject the result: it is kept for the record, never sent")
        self.export_button = QPushButton("Export…", self)
        self.export_button.setToolTip("Write the result as DICOM SEG + SR to a folder")
        self.send_button = QPushButton("Send…", self)
        self.send_button.setToolTip("Send the result's DICOM SEG + SR to a PACS node")

        picker = QHBoxLayout()
        picker.addWidget(self.modules, 3)
        picker.addWidget(self.devices)
        picker.addWidget(self.run_button)
        running = QHBoxLayout()
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel_button)
        review = QHBoxLayout()
        for button in (self.show_button, self.accept_button, self.reject_button):
            review.addWidget(button)
        review.addStretch(1)
        review.addWidget(self.export_button)
        review.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.series_label)
        layout.addLayout(picker)
        layout.addWidget(self.why_label)
        layout.addLayout(running)
        layout.addWidget(self.status_label)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.plot)
        layout.addLayout(review)

        self._choices: list[ModuleChoice] = []
        self._rows: dict[str, RunRow] = {}
        self._running: str = ""
        self.modules.currentIndexChanged.connect(self._on_module)
        self.run_button.clicked.connect(self._on_run)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.results.itemSelectionChanged.connect(self._on_selection)
        self.show_button.clicked.connect(self._on_show)
        self.accept_button.clicked.connect(lambda: self._review("accepted"))
        self.reject_button.clicked.connect(lambda: self._review("rejected"))
        self.export_button.clicked.connect(lambda: self._emit_selected(self.export_requested))
        self.send_button.clicked.connect(lambda: self._emit_selected(self.send_requested))
        self.set_sending_available(False)
        self._show_running(None)
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.shown.emit()

    # --- filled by the application ------------------------------------------------------------

    def set_series(self, text: str) -> None:
        self.series_label.setText(text or "Open a series to analyse it.")

    def set_modules(self, choices: list[ModuleChoice], note: str = "") -> None:
        """The modules for the current series: runnable ones first, the others greyed out
        with the reason as their tooltip."""
        self._choices = sorted(choices, key=lambda c: (bool(c.refusal), c.name.lower()))
        self.modules.blockSignals(True)
        self.modules.clear()
        model = self.modules.model()
        for row, choice in enumerate(self._choices):
            self.modules.addItem(choice.name, choice.id)
            tip = choice.refusal or choice.description
            self.modules.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
            if choice.refusal:
                item = model.item(row)  # type: ignore[attr-defined]
                item.setEnabled(False)
        fitting = [c for c in self._choices if not c.refusal]
        self.modules.setCurrentIndex(0 if fitting else -1)
        self.modules.blockSignals(False)
        if not self._choices:
            self.modules.setPlaceholderText(note or "No expert modules installed")
        elif not fitting:
            self.modules.setPlaceholderText("No module fits this series")
        self._on_module()

    def set_device(self, value: str) -> None:
        index = self.devices.findData(value)
        if index >= 0:
            self.devices.setCurrentIndex(index)

    def set_sending_available(self, available: bool) -> None:
        self.send_button.setVisible(available)

    def set_runs(self, groups: list[tuple[str, list[RunRow]]]) -> None:
        """Runs and stored results grouped by study (title, rows), newest first."""
        selected = self.selected_run()
        self._rows = {row.id: row for _, rows in groups for row in rows}
        self.results.clear()
        bold = QFont(self.results.font())
        bold.setBold(True)
        chosen: QTreeWidgetItem | None = None
        for title, rows in groups:
            study = QTreeWidgetItem([title, ""])
            study.setFont(0, bold)
            study.setFlags(study.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.results.addTopLevelItem(study)
            for row in rows:
                item = self._run_item(row)
                study.addChild(item)
                item.setExpanded(row.finished_with_result)
                if row.id == selected:
                    chosen = item
            study.setExpanded(True)
        items = self._run_items()
        if chosen is None and not selected and items:
            chosen = items[0]
        if chosen is not None:
            self.results.setCurrentItem(chosen)
        active = [row for _, rows in groups for row in rows if row.active]
        self._show_running(active[0] if active else None)
        self._show_curves(self._selected_row())
        self._update_buttons()

    def selected_run(self) -> str:
        """The run of the selected row (a run, or one of its measurements)."""
        item = self.results.currentItem()
        value = item.data(0, _RUN_ID) if item is not None else None
        return str(value) if value else ""

    def select_run(self, run_id: str) -> None:
        for item in self._run_items():
            if item.data(0, _RUN_ID) == run_id:
                self.results.setCurrentItem(item)
                return

    def _run_items(self) -> list[QTreeWidgetItem]:
        items = []
        for index in range(self.results.topLevelItemCount()):
            study = self.results.topLevelItem(index)
            if study is not None:
                items += [c for c in (study.child(i) for i in range(study.childCount())) if c]
        return items

    # --- building -----------------------------------------------------------------------------

    def _run_item(self, row: RunRow) -> QTreeWidgetItem:
        """The run's row (its state or review in the second column) and its measurements."""
        item = QTreeWidgetItem([row.title, ""])
        item.setData(0, _RUN_ID, row.id)
        item.setToolTip(0, "\n".join([row.series, row.message, *row.notes]).strip())
        if row.active:
            item.setText(1, f"{row.state} {row.progress:.0%}")
        elif row.state in ("failed", "cancelled"):
            item.setText(1, row.state)
            item.setForeground(1, QBrush(QColor(_REVIEW_COLOURS["rejected"])))
            reason = QTreeWidgetItem([row.message or row.state, ""])
            reason.setData(0, _RUN_ID, row.id)
            reason.setToolTip(0, row.message)
            item.addChild(reason)
        else:
            review = row.review or "pending"
            item.setText(1, review)
            if row.reviewed_by:
                item.setToolTip(1, f"{review} by {row.reviewed_by}")
            item.setForeground(1, QBrush(QColor(_REVIEW_COLOURS.get(review, "#d0d0d0"))))
            for name, value in row.measurements:
                child = QTreeWidgetItem([f"AI · {name}", value])
                child.setData(0, _RUN_ID, row.id)
                child.setToolTip(0, name)
                child.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
                item.addChild(child)
        return item

    def _show_running(self, row: RunRow | None) -> None:
        self._running = row.id if row is not None else ""
        self.progress.setVisible(row is not None)
        self.cancel_button.setVisible(row is not None)
        if row is None:
            selected = self._selected_row()
            self.status_label.setText(selected.message if selected is not None else "")
            return
        self.progress.setValue(round(row.progress * 100))
        self.progress.setFormat(f"{row.title}: %p%")
        self.status_label.setText(row.message)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    # --- reacting -----------------------------------------------------------------------------

    def _current_choice(self) -> ModuleChoice | None:
        index = self.modules.currentIndex()
        return self._choices[index] if 0 <= index < len(self._choices) else None

    def _on_module(self) -> None:
        choice = self._current_choice()
        runnable = choice is not None and not choice.refusal
        self.run_button.setEnabled(runnable)
        refused = [c for c in self._choices if c.refusal]
        lines = [choice.description] if choice is not None and choice.description else []
        reasons = "Not for this series: " + "; ".join(f"{c.name} ({c.refusal})" for c in refused)
        if refused and runnable:
            # A module can run: its description matters; the others' reasons are a hover away,
            # so the results and the plot keep the room.
            count = len(refused)
            lines.append(f"{count} other module{'s' if count > 1 else ''} not for this series")
            self.why_label.setToolTip(reasons)
        elif refused:
            lines.append(reasons)
            self.why_label.setToolTip("")
        else:
            self.why_label.setToolTip("")
        self.why_label.setText("\n".join(lines))

    def _on_run(self) -> None:
        choice = self._current_choice()
        if choice is not None and not choice.refusal:
            self.run_requested.emit(choice.id, str(self.devices.currentData()))

    def _on_cancel(self) -> None:
        if self._running:
            self.cancel_requested.emit(self._running)

    def _selected_row(self) -> RunRow | None:
        return self._rows.get(self.selected_run())

    def _on_selection(self) -> None:
        row = self._selected_row()
        if not self._running:
            self.status_label.setText(row.message if row is not None else "")
        self._show_curves(row)
        self._update_buttons()

    def _show_curves(self, row: RunRow | None) -> None:
        if row is None or not row.curves:
            self.plot.setVisible(False)
            return
        x_label, y_label = row.curve_axes
        self.plot.set_curves(
            list(row.curves), x_label=x_label, y_label=y_label, markers=list(row.curve_marks)
        )
        self.plot.setVisible(True)

    def _update_buttons(self) -> None:
        row = self._selected_row()
        done = row is not None and row.finished_with_result
        self.show_button.setEnabled(done and row is not None and row.showable)
        self.show_button.setChecked(bool(row is not None and row.shown))
        self.accept_button.setEnabled(done and row is not None and row.review != "accepted")
        self.reject_button.setEnabled(done and row is not None and row.review != "rejected")
        exportable = done and row is not None and row.review != "rejected"
        self.export_button.setEnabled(exportable)
        self.send_button.setEnabled(exportable)

    def _on_show(self) -> None:
        run_id = self.selected_run()
        if run_id:
            self.show_requested.emit(run_id, self.show_button.isChecked())

    def _review(self, state: str) -> None:
        run_id = self.selected_run()
        if run_id:
            self.review_requested.emit(run_id, state)

    def _emit_selected(self, signal: SignalInstance) -> None:
        run_id = self.selected_run()
        if run_id:
            signal.emit(run_id)
