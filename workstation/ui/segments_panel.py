"""Segmentation panel: the label maps of the active image, their segments and edit settings."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from workstation.core.scene import Scene
from workstation.core.segmentation import LabelMap


def _swatch(color: tuple[int, int, int]) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*color))
    return QIcon(pixmap)


class SegmentsPanel(QWidget):
    """Shows and edits segments; emits the settings the brush, eraser and threshold use."""

    #: (label map id, segment number) chosen for painting.
    target_changed = Signal(str, int)
    brush_radius_changed = Signal(float)
    threshold_changed = Signal(float, float)
    #: Requests the window turns into actions on the application services.
    new_requested = Signal()
    fill_requested = Signal(bool)  # True: the whole volume, False: the current slice
    load_requested = Signal()
    save_requested = Signal()

    def __init__(self, scene: Scene, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.maps = QComboBox(self)
        self.segments = QListWidget(self)
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.radius = QDoubleSpinBox(self)
        self.radius.setRange(0.5, 100.0)
        self.radius.setValue(5.0)
        self.radius.setSuffix(" mm")
        self.low = QDoubleSpinBox(self)
        self.high = QDoubleSpinBox(self)
        for box, value in ((self.low, 150.0), (self.high, 3000.0)):
            box.setRange(-100000.0, 100000.0)
            box.setValue(value)
        new_button = QPushButton("New", self)
        add_button = QPushButton("Add segment", self)
        fill_slice = QPushButton("Fill slice", self)
        fill_volume = QPushButton("Fill volume", self)
        load_button = QPushButton("Load SEG…", self)
        save_button = QPushButton("Save SEG…", self)

        top = QHBoxLayout()
        top.addWidget(self.maps, 1)
        top.addWidget(new_button)
        form = QFormLayout()
        form.addRow("Opacity", self.opacity)
        form.addRow("Brush", self.radius)
        thresholds = QHBoxLayout()
        thresholds.addWidget(self.low)
        thresholds.addWidget(self.high)
        form.addRow("Threshold", thresholds)
        fills = QHBoxLayout()
        fills.addWidget(fill_slice)
        fills.addWidget(fill_volume)
        files = QHBoxLayout()
        files.addWidget(load_button)
        files.addWidget(save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.segments, 1)
        layout.addWidget(add_button)
        layout.addLayout(form)
        layout.addLayout(fills)
        layout.addLayout(files)

        new_button.clicked.connect(self.new_requested)
        add_button.clicked.connect(self._add_segment)
        fill_slice.clicked.connect(lambda: self.fill_requested.emit(False))
        fill_volume.clicked.connect(lambda: self.fill_requested.emit(True))
        load_button.clicked.connect(self.load_requested)
        save_button.clicked.connect(self.save_requested)
        self.maps.currentIndexChanged.connect(lambda _i: self._fill_segments())
        self.segments.currentRowChanged.connect(lambda _r: self._emit_target())
        self.segments.itemChanged.connect(self._on_item_changed)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.radius.valueChanged.connect(self.brush_radius_changed)
        self.low.valueChanged.connect(lambda _v: self._emit_threshold())
        self.high.valueChanged.connect(lambda _v: self._emit_threshold())
        scene.events.labels_added.connect(lambda _id: self.refresh())
        scene.events.labels_removed.connect(lambda _id: self.refresh())
        scene.events.active_changed.connect(lambda _id: self.refresh())
        self.refresh()

    def current_map(self) -> LabelMap | None:
        return self.scene.labels.get(str(self.maps.currentData() or ""))

    def refresh(self) -> None:
        active = self.scene.active_layer_id
        chosen = self.maps.currentData()
        self.maps.blockSignals(True)
        self.maps.clear()
        for labels in self.scene.labels.values():
            if labels.image_layer_id == active:
                self.maps.addItem(labels.name, labels.id)
                labels.segments_changed.connect(self._fill_segments)
        index = self.maps.findData(chosen)
        self.maps.setCurrentIndex(max(index, 0) if self.maps.count() else -1)
        self.maps.blockSignals(False)
        self._fill_segments()

    def _fill_segments(self) -> None:
        labels = self.current_map()
        self.segments.blockSignals(True)
        self.segments.clear()
        for segment in labels.segments.values() if labels else []:
            item = QListWidgetItem(_swatch(segment.color), segment.label)
            item.setData(Qt.ItemDataRole.UserRole, segment.number)
            item.setFlags(
                item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable
            )
            item.setCheckState(
                Qt.CheckState.Checked if segment.visible else Qt.CheckState.Unchecked
            )
            self.segments.addItem(item)
        if self.segments.count():
            self.segments.setCurrentRow(self.segments.count() - 1)
        self.segments.blockSignals(False)
        self._emit_target()

    def _add_segment(self) -> None:
        labels = self.current_map()
        if labels is None:
            self.new_requested.emit()
            labels = self.current_map()
        if labels is not None:
            labels.add_segment(f"Segment {len(labels.segments) + 1}")

    def _emit_target(self) -> None:
        labels = self.current_map()
        item = self.segments.currentItem()
        if labels is not None and item is not None:
            self.target_changed.emit(labels.id, int(item.data(Qt.ItemDataRole.UserRole)))

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        labels = self.current_map()
        if labels is None:
            return
        segment = labels.segments.get(int(item.data(Qt.ItemDataRole.UserRole)))
        if segment is None:
            return
        segment.label = item.text()
        segment.visible = item.checkState() == Qt.CheckState.Checked
        labels.changed.emit(None)

    def _on_opacity(self, value: int) -> None:
        labels = self.current_map()
        if labels is None:
            return
        for segment in labels.segments.values():
            segment.opacity = value / 100.0
        labels.changed.emit(None)

    def _emit_threshold(self) -> None:
        self.threshold_changed.emit(self.low.value(), self.high.value())
