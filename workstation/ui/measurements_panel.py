"""The measurement list: every live annotation of the open series with its values."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.annotations import Annotation, AnnotationKind
from workstation.core.scene import Scene

_COLUMNS = ("Label", "Type", "Value", "Series")


def describe_values(annotation: Annotation) -> str:
    """The measurement as a reader says it: "42.1 mm", "93.2°", "314 mm² · 41 ± 12 HU"."""
    values = annotation.values
    unit = f" {annotation.value_unit}" if annotation.value_unit else ""
    kind = annotation.kind
    if kind is AnnotationKind.LENGTH and "length_mm" in values:
        return f"{values['length_mm']:.1f} mm"
    if kind is AnnotationKind.ANGLE and "angle_deg" in values:
        return f"{values['angle_deg']:.1f}°"
    if kind in (AnnotationKind.ELLIPSE, AnnotationKind.POLYGON):
        text = f"{values.get('area_mm2', 0.0):.0f} mm²"
        if "mean" in values:
            text += f" · {values['mean']:.0f} ± {values.get('sd', 0.0):.0f}{unit}"
            text += f" [{values.get('min', 0.0):.0f}, {values.get('max', 0.0):.0f}]"
        return text
    if kind is AnnotationKind.POINT and "value" in values:
        return f"{values['value']:.0f}{unit}"
    if kind is AnnotationKind.TEXT:
        return annotation.text
    return ""


class MeasurementsPanel(QWidget):
    """Lists annotations; selecting a row selects it in the viewports; labels are editable."""

    def __init__(self, scene: Scene, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.table = QTableWidget(0, len(_COLUMNS), self)
        self.table.setHorizontalHeaderLabels(_COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setToolTip("Delete the selected measurement (Del)")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self._uuids: list[str] = []
        self._filling = False
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.table.itemChanged.connect(self._on_item_changed)
        self.delete_button.clicked.connect(self.delete_selected)
        scene.events.annotation_changed.connect(lambda _a: self.refresh())
        scene.events.selection_changed.connect(self._on_scene_selection)
        scene.events.layer_removed.connect(lambda _id: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        self._filling = True
        try:
            open_series = {layer.info.series_instance_uid for layer in self.scene.layers.values()}
            live = [
                a
                for a in self.scene.visible_annotations()
                if a.reference.series_instance_uid in open_series
            ]
            descriptions = {
                layer.info.series_instance_uid: layer.info.series_description
                for layer in self.scene.layers.values()
            }
            self.table.setRowCount(len(live))
            self._uuids = [a.uuid for a in live]
            for row, annotation in enumerate(live):
                cells = (
                    annotation.label or f"{annotation.kind.value} {row + 1}",
                    annotation.kind.value,
                    describe_values(annotation),
                    descriptions.get(annotation.reference.series_instance_uid, ""),
                )
                for column, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    if column != 0:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(row, column, item)
            self._on_scene_selection(self.scene.selected_annotation)
        finally:
            self._filling = False

    def _on_row_selected(self) -> None:
        if self._filling:
            return
        rows = {index.row() for index in self.table.selectedIndexes()}
        self.scene.select(self._uuids[min(rows)] if rows else "")

    def _on_scene_selection(self, uuid: str) -> None:
        if uuid in self._uuids:
            row = self._uuids.index(uuid)
            if row not in {index.row() for index in self.table.selectedIndexes()}:
                self.table.selectRow(row)
        elif not uuid:
            self.table.clearSelection()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0:
            return
        annotation = self.scene.annotations.get(self._uuids[item.row()])
        if annotation is not None and item.text() != annotation.label:
            self.scene.edit_annotation(annotation, label=item.text().strip())

    def delete_selected(self) -> None:
        annotation = self.scene.annotations.get(self.scene.selected_annotation)
        if annotation is not None and not annotation.deleted:
            self.scene.delete_annotation(annotation)
            self.scene.select("")
