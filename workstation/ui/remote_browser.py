"""The PACS browser: search a node's studies, list their series, retrieve and open.

Widgets only. The application fills it with plain rows (:class:`RemoteStudyRow`,
:class:`RemoteSeriesRow`) and turns its signals into queries and transfers that run off the GUI
thread; the panel never talks to a node itself, so a slow or dead PACS cannot freeze it.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QDate, QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.study import format_date, format_patient_name

MODALITIES = (
    "Any modality",
    "CT",
    "MR",
    "PT",
    "NM",
    "US",
    "CR",
    "DX",
    "MG",
    "XA",
    "RF",
    "OT",
    "SEG",
    "SR",
)
#: Quick date ranges: (label, days back from today; None = any date, -1 = the two fields).
DATE_RANGES = (
    ("Any date", None),
    ("Today", 0),
    ("Yesterday and today", 1),
    ("Last 7 days", 6),
    ("Last 30 days", 29),
    ("Last 12 months", 364),
    ("Between…", -1),
)
COLUMNS = (
    "Patient / series",
    "ID",
    "Date",
    "Mod.",
    "Description",
    "Accession",
    "Series / img.",
    "Local",
)
_UID = Qt.ItemDataRole.UserRole
_KIND = Qt.ItemDataRole.UserRole + 1  # "study", "series" or "placeholder"
_STATE = Qt.ItemDataRole.UserRole + 2  # study items: "", "loading", "loaded"
#: Colours shared with the other panels: done, partly there, failure, secondary text.
GREEN, AMBER, RED, MUTED = "#7fc97f", "#f0a040", "#e07b7b", "#8a9199"


@dataclass(frozen=True)
class NodeChoice:
    """A configured node as the picker offers it."""

    name: str
    #: Where it is and how it is reached (tooltip): "DICOMweb · https://…", "DIMSE · AET@host:port".
    detail: str = ""


@dataclass(frozen=True)
class SearchFilters:
    """What the reader typed; empty fields match everything. Dates are YYYYMMDD."""

    patient_name: str = ""
    patient_id: str = ""
    accession: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""


@dataclass(frozen=True)
class RemoteStudyRow:
    """A study on the node, with how much of it the local library holds."""

    study_instance_uid: str
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    description: str = ""
    accession: str = ""
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None
    local_instances: int = 0


@dataclass(frozen=True)
class RemoteSeriesRow:
    """A series of a study on the node."""

    series_instance_uid: str
    study_instance_uid: str
    number: int | None = None
    modality: str = ""
    description: str = ""
    n_instances: int | None = None
    local_instances: int = 0


def local_marker(local: int, remote: int | None) -> tuple[str, str, str]:
    """How much of a study or series is in the library: (text, colour, tooltip)."""
    if local <= 0:
        return "", "", "Not in the local library"
    if remote is None or remote <= 0:
        return "● local", GREEN, f"{local} image(s) in the local library"
    if local >= remote:
        return "● local", GREEN, "Complete in the local library"
    return f"◐ {local}/{remote}", AMBER, f"{local} of {remote} images in the local library"


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


class RemoteBrowser(QWidget):
    """Node picker with Echo, search fields, results (studies → series), Retrieve.

    Signals carry the node's name as the picker shows it.
    """

    search_requested = Signal(str, object)  # node, SearchFilters
    echo_requested = Signal(str)  # node
    series_requested = Signal(str, str)  # node, study UID (a study was expanded)
    #: node, study UID, series UIDs ([]: the whole study), open once the first series is local
    retrieve_requested = Signal(str, str, list, bool)
    node_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(360)
        self._node = ""
        self._pages = QStackedWidget(self)
        self.empty_label = QLabel("Reading the PACS settings…", self)
        self.empty_label.setWordWrap(True)
        self.empty_label.setTextFormat(Qt.TextFormat.RichText)
        self.empty_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.empty_label.setContentsMargins(8, 8, 8, 8)
        self._pages.addWidget(self.empty_label)
        self._pages.addWidget(self._build_search_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._pages)

    def _build_search_page(self) -> QWidget:
        page = QWidget(self)
        self.nodes = QComboBox(page)
        self.nodes.setToolTip(
            "The PACS or archive to search (configured by IT or in your settings)"
        )
        self.nodes.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.echo_button = QPushButton("Echo", page)
        self.echo_button.setToolTip("Check that the node answers (C-ECHO, or a minimal QIDO-RS)")
        self.echo_label = QLabel("", page)
        self.echo_label.setObjectName("hint")
        self.patient_name = QLineEdit(page)
        self.patient_name.setPlaceholderText("Patient name (Doe* or Doe^Jane)")
        self.patient_id = QLineEdit(page)
        self.patient_id.setPlaceholderText("Patient ID")
        self.accession = QLineEdit(page)
        self.accession.setPlaceholderText("Accession number")
        for edit in (self.patient_name, self.patient_id, self.accession):
            edit.setClearButtonEnabled(True)
            edit.setToolTip("* matches any run of characters, ? one character")
        self.modality = QComboBox(page)
        self.modality.addItems(MODALITIES)
        self.modality.setToolTip("Studies holding a series of this modality")
        self.dates = QComboBox(page)
        for label, days in DATE_RANGES:
            self.dates.addItem(label, days)
        self.dates.setToolTip("Study date")
        self.date_from = QDateEdit(QDate.currentDate().addDays(-7), page)
        self.date_to = QDateEdit(QDate.currentDate(), page)
        for date in (self.date_from, self.date_to):
            date.setCalendarPopup(True)
            date.setDisplayFormat("yyyy-MM-dd")
        self.search_button = QPushButton("Search", page)
        self.search_button.setDefault(True)
        self.search_button.setToolTip("Search the node (Enter in any field)")
        self.clear_button = QPushButton("Clear", page)
        self.clear_button.setToolTip("Empty the search fields")

        self.tree = QTreeWidget(page)
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setExpandsOnDoubleClick(False)  # double-click retrieves and opens
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.tree.header()
        header.setStretchLastSection(False)
        for column, width in enumerate((138, 88, 86, 42, 160, 90, 80, 72)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            self.tree.setColumnWidth(column, width)
        self.message = QLabel("", page)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retrieve_button = QPushButton("Retrieve", page)
        self.retrieve_button.setToolTip(
            "Copy the selected studies or series into the local library"
        )
        self.open_button = QPushButton("Retrieve && open", page)
        self.open_button.setToolTip(
            "Retrieve and open: the viewer shows the first series as soon as it is local "
            "(double-click does the same)"
        )

        node_row = QHBoxLayout()
        node_row.addWidget(QLabel("Node", page))
        node_row.addWidget(self.nodes, 1)
        node_row.addWidget(self.echo_button)
        fields = QGridLayout()
        fields.setHorizontalSpacing(4)
        fields.setVerticalSpacing(4)
        fields.addWidget(self.patient_name, 0, 0, 1, 2)
        fields.addWidget(self.patient_id, 0, 2)
        fields.addWidget(self.accession, 1, 0, 1, 2)
        fields.addWidget(self.modality, 1, 2)
        dates = QHBoxLayout()
        dates.addWidget(self.dates, 1)
        dates.addWidget(self.date_from)
        self.dash = QLabel("–", page)
        dates.addWidget(self.dash)
        dates.addWidget(self.date_to)
        fields.addLayout(dates, 2, 0, 1, 3)
        fields.setColumnStretch(0, 1)
        fields.setColumnStretch(1, 1)
        fields.setColumnStretch(2, 1)
        search_row = QHBoxLayout()
        search_row.addWidget(self.echo_label, 1)
        search_row.addWidget(self.clear_button)
        search_row.addWidget(self.search_button)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.retrieve_button)
        buttons.addWidget(self.open_button)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(node_row)
        layout.addLayout(fields)
        layout.addLayout(search_row)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        self.nodes.currentIndexChanged.connect(self._on_node)
        self.echo_button.clicked.connect(self._on_echo)
        self.search_button.clicked.connect(self.search)
        self.clear_button.clicked.connect(self.clear_fields)
        for edit in (self.patient_name, self.patient_id, self.accession):
            edit.returnPressed.connect(self.search)
        self.dates.currentIndexChanged.connect(lambda _i: self._on_dates())
        self.tree.itemExpanded.connect(self._on_expanded)
        self.tree.itemDoubleClicked.connect(lambda item, _c: self._retrieve([item], True))
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.retrieve_button.clicked.connect(
            lambda: self._retrieve(self.tree.selectedItems(), False)
        )
        self.open_button.clicked.connect(lambda: self._retrieve(self.tree.selectedItems(), True))
        self._on_dates()
        self._update_buttons()
        return page

    # --- filled by the application ------------------------------------------------------------

    def set_nodes(self, nodes: list[NodeChoice], empty_text: str = "") -> None:
        """The configured nodes; none: ``empty_text`` (rich text) says where to add one."""
        if not nodes:
            self.empty_label.setText(empty_text or "No PACS node is configured.")
            self._pages.setCurrentIndex(0)
            return
        current = self.current_node()
        self.nodes.blockSignals(True)
        self.nodes.clear()
        for index, node in enumerate(nodes):
            self.nodes.addItem(node.name, node.name)
            self.nodes.setItemData(index, node.detail, Qt.ItemDataRole.ToolTipRole)
        found = self.nodes.findData(current)
        self.nodes.setCurrentIndex(max(found, 0))
        self.nodes.blockSignals(False)
        self._pages.setCurrentIndex(1)
        self._on_node()

    @property
    def has_nodes(self) -> bool:
        return self._pages.currentIndex() == 1 and self.nodes.count() > 0

    def current_node(self) -> str:
        value = self.nodes.currentData() if hasattr(self, "nodes") else None
        return str(value) if value else ""

    def set_node(self, name: str) -> None:
        index = self.nodes.findData(name)
        if index >= 0:
            self.nodes.setCurrentIndex(index)

    def filters(self) -> SearchFilters:
        days = self.dates.currentData()
        date_from = date_to = ""
        today = QDate.currentDate()
        if days == -1:
            start, end = sorted((self.date_from.date(), self.date_to.date()))
            date_from, date_to = start.toString("yyyyMMdd"), end.toString("yyyyMMdd")
        elif days is not None:
            date_from = today.addDays(-int(days)).toString("yyyyMMdd")
            date_to = today.toString("yyyyMMdd")
        modality = "" if self.modality.currentIndex() == 0 else self.modality.currentText()
        return SearchFilters(
            patient_name=self.patient_name.text().strip(),
            patient_id=self.patient_id.text().strip(),
            accession=self.accession.text().strip(),
            date_from=date_from,
            date_to=date_to,
            modality=modality,
        )

    def set_date_range(
        self, label: str, start: QDate | None = None, end: QDate | None = None
    ) -> None:
        """Choose a quick range by its label ("Today", "Between…" with ``start``/``end``)."""
        index = self.dates.findText(label)
        if index >= 0:
            self.dates.setCurrentIndex(index)
        if start is not None:
            self.date_from.setDate(start)
        if end is not None:
            self.date_to.setDate(end)

    def clear_fields(self) -> None:
        for edit in (self.patient_name, self.patient_id, self.accession):
            edit.clear()
        self.modality.setCurrentIndex(0)
        self.dates.setCurrentIndex(0)

    def show_message(self, text: str, kind: str = "info", tooltip: str = "") -> None:
        """One line under the results: ``kind`` is "info", "busy", "ok" or "error"."""
        colour = {"error": RED, "ok": GREEN, "busy": MUTED}.get(kind, "")
        self.message.setStyleSheet(f"color: {colour};" if colour else f"color: {MUTED};")
        self.message.setText(text)
        self.message.setToolTip(tooltip)

    def show_echo(self, text: str, ok: bool, tooltip: str = "") -> None:
        self.echo_label.setStyleSheet(f"color: {GREEN if ok else RED};")
        self.echo_label.setText(text)
        self.echo_label.setToolTip(tooltip or text)
        self.echo_button.setEnabled(True)

    def show_studies(self, rows: list[RemoteStudyRow], message: str = "") -> None:
        """The search result; each study can be expanded to list its series."""
        self.tree.clear()
        for row in rows:
            item = self._study_item(row)
            self.tree.addTopLevelItem(item)
            _span_placeholders(item)
        self.show_message(message or f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'}")
        self._update_buttons()

    def show_series(self, study_uid: str, rows: list[RemoteSeriesRow]) -> None:
        item = self._study(study_uid)
        if item is None:
            return
        item.takeChildren()
        for row in rows:
            item.addChild(self._series_item(row))
        if not rows:
            item.addChild(_placeholder("The node lists no series for this study"))
        _span_placeholders(item)
        item.setData(0, _STATE, "loaded")

    def series_failed(self, study_uid: str, message: str) -> None:
        """Listing the series failed: the reason stands in for them; expanding again retries."""
        item = self._study(study_uid)
        if item is None:
            return
        item.takeChildren()
        child = _placeholder(message)
        child.setForeground(0, QBrush(QColor(RED)))
        child.setToolTip(0, message)
        item.addChild(child)
        _span_placeholders(item)
        item.setData(0, _STATE, "")
        item.setExpanded(False)

    def update_local(self, study_uid: str, local_instances: int, series: dict[str, int]) -> None:
        """How much of a listed study (and of its listed series) the library holds now."""
        item = self._study(study_uid)
        if item is None:
            return
        remote = item.data(6, _UID)
        _set_marker(item, local_marker(local_instances, remote if remote is not None else None))
        for index in range(item.childCount()):
            child = item.child(index)
            uid = child.data(0, _UID) if child is not None else None
            if child is not None and uid in series:
                count = child.data(6, _UID)
                _set_marker(child, local_marker(series[uid], count))

    def study_uids(self) -> list[str]:
        """The studies listed now (top to bottom)."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [str(item.data(0, _UID)) for item in items if item is not None]

    def series_uids(self, study_uid: str) -> list[str]:
        """The series listed under a study (empty until it was expanded)."""
        item = self._study(study_uid)
        if item is None:
            return []
        children = (item.child(i) for i in range(item.childCount()))
        return [
            str(c.data(0, _UID)) for c in children if c is not None and c.data(0, _KIND) == "series"
        ]

    # --- building -----------------------------------------------------------------------------

    def _study_item(self, row: RemoteStudyRow) -> QTreeWidgetItem:
        counts = f"{_count(row.n_series)} / {_count(row.n_instances)}"
        item = QTreeWidgetItem(
            [
                format_patient_name(row.patient_name) or "(no name)",
                row.patient_id,
                format_date(row.study_date),
                ", ".join(row.modalities),
                row.description,
                row.accession,
                counts,
                "",
            ]
        )
        item.setData(0, _UID, row.study_instance_uid)
        item.setData(0, _KIND, "study")
        item.setData(6, _UID, row.n_instances)
        item.setToolTip(0, f"{format_patient_name(row.patient_name)}\n{row.study_instance_uid}")
        item.setToolTip(4, row.description)
        item.setToolTip(6, f"{_count(row.n_series)} series, {_count(row.n_instances)} images")
        item.setTextAlignment(6, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        _set_marker(item, local_marker(row.local_instances, row.n_instances))
        # Series are listed when the study is expanded (one query per study, not per result).
        item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
        item.addChild(_placeholder("Listing the series…"))
        return item

    def _series_item(self, row: RemoteSeriesRow) -> QTreeWidgetItem:
        item = QTreeWidgetItem(
            [
                f"#{row.number}" if row.number is not None else "series",
                "",
                "",
                row.modality,
                row.description,
                "",
                f"{_count(row.n_instances)} img.",
                "",
            ]
        )
        item.setData(0, _UID, row.series_instance_uid)
        item.setData(0, _KIND, "series")
        item.setData(6, _UID, row.n_instances)
        item.setToolTip(0, row.series_instance_uid)
        item.setToolTip(4, row.description)
        item.setTextAlignment(6, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        _set_marker(item, local_marker(row.local_instances, row.n_instances))
        return item

    def _study(self, study_uid: str) -> QTreeWidgetItem | None:
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item is not None and item.data(0, _UID) == study_uid:
                return item
        return None

    # --- reacting -----------------------------------------------------------------------------

    def _on_node(self) -> None:
        node = self.current_node()
        if node == self._node:
            return
        self._node = node
        self.echo_label.setText("")
        self.tree.clear()
        self.show_message("")
        self._update_buttons()
        self.node_changed.emit(node)

    def _on_dates(self) -> None:
        between = self.dates.currentData() == -1
        for widget in (self.date_from, self.dash, self.date_to):
            widget.setVisible(between)

    def _on_echo(self) -> None:
        node = self.current_node()
        if node:
            self.echo_button.setEnabled(False)
            self.echo_label.setStyleSheet(f"color: {MUTED};")
            self.echo_label.setText("Echo…")
            self.echo_requested.emit(node)

    def search(self) -> None:
        node = self.current_node()
        if node:
            self.show_message(f"Searching {node}…", "busy")
            self.search_requested.emit(node, self.filters())

    def _on_expanded(self, item: QTreeWidgetItem) -> None:
        if item.data(0, _KIND) != "study" or item.data(0, _STATE) in ("loading", "loaded"):
            return
        item.setData(0, _STATE, "loading")
        item.takeChildren()
        item.addChild(_placeholder("Listing the series…"))
        _span_placeholders(item)
        self.series_requested.emit(self.current_node(), str(item.data(0, _UID)))

    def _update_buttons(self) -> None:
        chosen = any(
            item.data(0, _KIND) in ("study", "series") for item in self.tree.selectedItems()
        )
        self.retrieve_button.setEnabled(chosen)
        self.open_button.setEnabled(chosen)

    def _retrieve(self, items: list[QTreeWidgetItem], open_after: bool) -> None:
        """Whole studies for selected studies; else the selected series, grouped by study."""
        node = self.current_node()
        wanted: dict[str, list[str]] = {}
        for item in items:
            kind = item.data(0, _KIND)
            if kind == "study":
                wanted[str(item.data(0, _UID))] = []
        for item in items:
            parent = item.parent()
            if item.data(0, _KIND) == "series" and parent is not None:
                study = str(parent.data(0, _UID))
                if wanted.get(study) != []:
                    wanted.setdefault(study, []).append(str(item.data(0, _UID)))
        for study, series in wanted.items():
            self.retrieve_requested.emit(node, study, series, open_after)

    def _context_menu(self, position: QPoint) -> None:
        item = self.tree.itemAt(position)
        if item is None or item.data(0, _KIND) not in ("study", "series"):
            return
        chosen = self.tree.selectedItems() if item.isSelected() else [item]
        menu = QMenu(self)
        menu.addAction("Retrieve and open", lambda: self._retrieve(chosen, True))
        menu.addAction("Retrieve", lambda: self._retrieve(chosen, False))
        menu.addSeparator()
        uid = str(item.data(0, _UID))
        label = "Copy Study Instance UID" if item.data(0, _KIND) == "study" else "Copy Series UID"
        menu.addAction(label, lambda: QGuiApplication.clipboard().setText(uid))
        menu.exec(self.tree.viewport().mapToGlobal(position))


def _placeholder(text: str) -> QTreeWidgetItem:
    item = QTreeWidgetItem([text])
    item.setData(0, _KIND, "placeholder")
    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
    item.setForeground(0, QBrush(QColor(MUTED)))
    return item


def _span_placeholders(study: QTreeWidgetItem) -> None:
    """Messages under a study run across the columns (only possible once in the tree)."""
    for index in range(study.childCount()):
        child = study.child(index)
        if child is not None and child.data(0, _KIND) == "placeholder":
            child.setFirstColumnSpanned(True)


def _set_marker(item: QTreeWidgetItem, marker: tuple[str, str, str]) -> None:
    """The marker in its column, and as a dot before the name (visible in a narrow dock)."""
    text, colour, tip = marker
    item.setText(7, text)
    item.setToolTip(7, tip)
    item.setForeground(7, QBrush(QColor(colour or MUTED)))
    item.setIcon(0, _dot(colour, partial=colour == AMBER))


_DOTS: dict[tuple[str, bool], QIcon] = {}


def _dot(colour: str, *, partial: bool) -> QIcon:
    """A small filled (or half-filled) circle; transparent when ``colour`` is empty, so that
    names stay aligned."""
    key = (colour, partial)
    if key not in _DOTS:
        pixmap = QPixmap(12, 12)
        pixmap.fill(Qt.GlobalColor.transparent)
        if colour:
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QColor(colour))
            painter.drawEllipse(2, 2, 8, 8)
            painter.setBrush(QColor(colour))
            if partial:
                painter.drawPie(2, 2, 8, 8, 90 * 16, 180 * 16)
            else:
                painter.drawEllipse(2, 2, 8, 8)
            painter.end()
        _DOTS[key] = QIcon(pixmap)
    return _DOTS[key]
