"""The study browser: patients' studies and series from the local library, searchable."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QDate, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.pacs.records import StudyRecord, Thumbnail

MODALITIES = ("Any", "CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT", "SEG", "SR")
_COLUMNS = ("Patient / series", "ID", "Date", "Description", "Modality", "Images")
_SERIES_ROLE = Qt.ItemDataRole.UserRole
_STUDY_ROLE = Qt.ItemDataRole.UserRole + 1

Query = Callable[..., list[StudyRecord]]


def thumbnail_icon(thumbnail: Thumbnail | None) -> QIcon:
    if thumbnail is None:
        return QIcon()
    image = QImage(
        thumbnail.pixels,
        thumbnail.width,
        thumbnail.height,
        thumbnail.width,
        QImage.Format.Format_Grayscale8,
    )
    return QIcon(QPixmap.fromImage(image.copy()))


def _date(text: str) -> str:
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


class StudyBrowser(QWidget):
    """Lists what ``query`` returns; double-click opens, Delete removes from the library."""

    open_series = Signal(list)  # series UIDs
    delete_study = Signal(str)
    delete_series = Signal(str)

    def __init__(self, query: Query, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query = query
        self.text = QLineEdit(self)
        self.text.setPlaceholderText("Patient name or ID")
        self.text.setClearButtonEnabled(True)
        self.modality = QComboBox(self)
        self.modality.addItems(MODALITIES)
        self.use_dates = QCheckBox("Dates", self)
        self.date_from = QDateEdit(QDate.currentDate().addYears(-1), self)
        self.date_to = QDateEdit(QDate.currentDate(), self)
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(len(_COLUMNS))
        self.tree.setHeaderLabels(_COLUMNS)
        self.tree.setIconSize(QSize(48, 48))
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        for column, width in enumerate((150, 90, 82, 0, 56, 52)):
            if width:
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
                self.tree.setColumnWidth(column, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.setMinimumWidth(360)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.summary = QLabel("", self)
        self.summary.setObjectName("hint")
        open_button = QPushButton("Open", self)
        delete_button = QPushButton("Delete…", self)

        filters = QHBoxLayout()
        filters.addWidget(self.text, 2)
        filters.addWidget(self.modality)
        dates = QHBoxLayout()
        dates.addWidget(self.use_dates)
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("–", self))
        dates.addWidget(self.date_to)
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(delete_button)
        buttons.addWidget(open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(filters)
        layout.addLayout(dates)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)

        self.text.textChanged.connect(lambda _t: self.refresh())
        self.modality.currentIndexChanged.connect(lambda _i: self.refresh())
        self.use_dates.toggled.connect(self._on_use_dates)
        self.date_from.dateChanged.connect(lambda _d: self.refresh())
        self.date_to.dateChanged.connect(lambda _d: self.refresh())
        self.tree.itemDoubleClicked.connect(lambda item, _c: self._open([item]))
        self.tree.customContextMenuRequested.connect(self._context_menu)
        open_button.clicked.connect(lambda: self._open(self.tree.selectedItems()))
        delete_button.clicked.connect(self._delete_selected)

    def _on_use_dates(self, checked: bool) -> None:
        self.date_from.setEnabled(checked)
        self.date_to.setEnabled(checked)
        self.refresh()

    def refresh(self) -> None:
        """Query the library with the current filters and show the result."""
        filters: dict[str, str | None] = {
            "text": self.text.text().strip() or None,
            "modality": None if self.modality.currentIndex() == 0 else self.modality.currentText(),
        }
        if self.use_dates.isChecked():
            filters["date_from"] = self.date_from.date().toString("yyyyMMdd")
            filters["date_to"] = self.date_to.date().toString("yyyyMMdd")
        studies = self.query(**filters)
        self.tree.clear()
        for study in studies:
            item = self._study_item(study)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        images = sum(s.n_instances for s in studies)
        self.summary.setText(f"{len(studies)} studies, {images} images")

    def _study_item(self, study: StudyRecord) -> QTreeWidgetItem:
        item = QTreeWidgetItem(
            [
                study.patient_name.replace("^", " ") or "(no name)",
                study.patient_id,
                _date(study.study_date),
                study.study_description,
                ", ".join(study.modalities),
                str(study.n_instances),
            ]
        )
        item.setData(0, _STUDY_ROLE, study.study_instance_uid)
        for series in study.series:
            child = QTreeWidgetItem(
                [
                    f"#{series.series_number}" if series.series_number is not None else "",
                    "",
                    "",
                    series.series_description,
                    series.modality,
                    str(series.n_instances),
                ]
            )
            child.setIcon(0, thumbnail_icon(series.thumbnail))
            child.setData(0, _SERIES_ROLE, series.series_instance_uid)
            item.addChild(child)
        return item

    def _series_of(self, items: list[QTreeWidgetItem]) -> list[str]:
        uids: list[str] = []
        for item in items:
            if item.data(0, _SERIES_ROLE):
                uids.append(str(item.data(0, _SERIES_ROLE)))
            else:
                children = (item.child(i) for i in range(item.childCount()))
                uids += [str(c.data(0, _SERIES_ROLE)) for c in children if c is not None]
        return list(dict.fromkeys(uids))

    def _open(self, items: list[QTreeWidgetItem]) -> None:
        uids = self._series_of(items)
        if uids:
            self.open_series.emit(uids)

    def _context_menu(self, position: object) -> None:
        item = self.tree.itemAt(position)  # type: ignore[call-overload]
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Open", lambda: self._open([item]))
        menu.addAction("Delete from the library…", lambda: self._delete([item]))
        menu.exec(self.tree.viewport().mapToGlobal(position))  # type: ignore[call-overload]

    def _delete_selected(self) -> None:
        self._delete(self.tree.selectedItems())

    def _delete(self, items: list[QTreeWidgetItem]) -> None:
        if not items:
            return
        answer = QMessageBox.question(
            self,
            "Delete from the library",
            f"Remove {len(items)} item(s) from the library?\n\nFiles indexed where they are "
            "stay on disk; copies in the workstation's storage are deleted.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        for item in items:
            study = item.data(0, _STUDY_ROLE)
            series = item.data(0, _SERIES_ROLE)
            if study:
                self.delete_study.emit(str(study))
            elif series:
                self.delete_series.emit(str(series))
        self.refresh()
